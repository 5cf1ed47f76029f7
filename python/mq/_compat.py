"""The original design's MessageQueue ("Erlang in Python", 2006), on mq.

    from mq import MessageQueue, NoMatch
    q = MessageQueue('tests', 'testq', 4096)
    print('match!', q.receive(patterna))

Same constructor, same receive(pattern): the oldest message for which
pattern(payload) does not raise NoMatch is consumed and pattern's return value
is returned; receive waits for one as long as it takes. The differences are
the ones mq exists for: messages are stored durably before they can be
received (the queue file is an mq log, never truncated on open: the
original's open(queuename, 'w+') lost every pending message), and a pattern
that raises anything else leaves the message pending and propagates.

The payload reaches the pattern as a str, as in the Python 2 original where
socket data was a str: each byte becomes the character with that code
(latin-1), so buf[0] == 'a' works and no byte is lost. Pass encoding=None for
bytes.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ._aio import Mailbox


class MessageQueue(object):
    def __init__(self, socketname: str, queuename: str, recvsize: int, *,
                 encoding: Optional[str] = "latin-1", sync: str = "batch") -> None:
        self.socketname = socketname
        self.queuename = queuename
        self.recvsize = recvsize
        self.encoding = encoding
        self.mailbox = Mailbox(socket=socketname, queue=queuename, sync=sync, max_message_size=recvsize)

    def receive(self, pattern: Callable[[Any], Any]) -> Any:
        if self.encoding is None:
            return self.mailbox.receive(pattern).value
        enc = self.encoding

        def decoded(payload: bytes) -> Any:
            return pattern(payload.decode(enc))

        return self.mailbox.receive(decoded).value

    def close(self) -> None:
        self.mailbox.close()

    def __enter__(self) -> "MessageQueue":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
