"""mq: durable mailboxes for actor processes (docs/python.md).

    import mq
    with mq.Mailbox(socket="/run/me/actor.sock", queue="/var/lib/me/actor.q") as mb:
        msg = mb.receive(mq.prefix(b"job:"), timeout=5)
        print(msg.seq, msg.payload)

The C++ library (mq._mq) is the only implementation of the log format and the
socket protocol; this package adds the Python conveniences around it.
"""
from __future__ import annotations

from typing import Iterator, Tuple, Union
import os

from ._mq import (  # noqa: F401
    ANY,
    Busy,
    Closed,
    Confirmation,
    ConfirmedSender,
    Corruption,
    Denied,
    Error,
    InvalidArgument,
    IOError,
    Message,
    NoMatch,
    NotALog,
    NotFound,
    Pattern,
    Runtime,
    Sender,
    Timeout,
    TooLarge,
    Unsupported,
    key,
    prefix,
    send,
)
from ._aio import Mailbox  # noqa: F401  (mq._mq.Mailbox with receive_async, take_async)
from ._compat import MessageQueue  # noqa: F401

# mq.IOError is left out of __all__: `from mq import *` must not shadow the builtin IOError.
__all__ = [
    "ANY", "Busy", "Closed", "Confirmation", "ConfirmedSender", "Corruption", "Denied", "Error",
    "InvalidArgument", "Mailbox", "Message", "MessageQueue", "NoMatch", "NotALog", "NotFound",
    "Pattern", "Runtime", "Sender", "Timeout", "TooLarge", "Unsupported", "key", "prefix", "read_log", "send",
]


def read_log(path: Union[str, bytes, "os.PathLike[str]"]) -> Iterator[Tuple[int, str, bytes]]:
    """Iterates (seq, state, payload) over every message of the log at path, in
    log order, state being "pending" or "consumed" (as `mqtool dump --all`).

    Read-only: it takes no lock and writes nothing, so it is safe on the queue
    of a running mailbox. It lists the messages the log held when the call
    began; a used flag is read as the reading reaches it (a message consumed
    meanwhile may show either way). Damaged regions are skipped (`mqtool
    check` lists them).

    Lazy: a reader thread runs ahead of the iterator by at most 256 messages
    or 4 MiB, so memory stays bounded whatever the log's size; close() (or
    dropping the iterator) stops it. Errors opening the log (mq.NotFound,
    mq.NotALog, mq.InvalidArgument for a directory, ...) are raised by the
    call itself; a read error later in the log by the iteration that meets it.
    """
    return _mq._LogReader(path)


from . import _mq  # noqa: E402
