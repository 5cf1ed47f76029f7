"""Type-checked, not run: every public API used as docs/python.md shows it,
with the types a user's program relies on written out, so that mypy --strict
(python_typecheck, typecheck.sh) fails when a stub in mq/_mq.pyi says
something else. (pytest does not collect this file.)"""
import asyncio
from typing import Any, Iterator, List, Optional, Tuple

import mq


def actor(sock: str, queue: str) -> None:
    with mq.Mailbox(socket=sock, queue=queue, sync="batch", key="until::", admitted_uids=[0],
                    max_message_size=4096, batch_interval=0.01) as mb:
        m: mq.Message = mb.receive(mq.prefix(b"job:"), timeout=5)
        seq: int = m.seq
        payload: bytes = m.payload
        value: Any = m.value
        batch: List[mq.Message] = mb.receive_many(mq.ANY, timeout=0, limit=100)
        t: mq.Message = mb.take(mq.key(b"k"), timeout=None)
        mb.ack(t.seq)
        mb.release(seq)
        stats: int = mb.stats()["pending"]
        fd: int = mb.fileno()
        closed: bool = mb.closed
        name: str = mb.queue
        taken: List[mq.Message] = mb.take_many(lambda b: b, timeout=0, limit=10)
        print(seq, payload, value, batch, stats, fd, closed, name, taken)


def many(d: str) -> None:
    with mq.Runtime() as rt:
        boxes = [mq.Mailbox(socket=d + "/s%d" % i, queue=d + "/q%d" % i, runtime=rt) for i in range(2)]
        attached: int = rt.stats()["mailboxes"]
        gone: bool = rt.closed
        print(attached, gone)
        for mb in boxes:
            mb.close()
    rt.close()


async def actor_async(mb: mq.Mailbox) -> bytes:
    m: mq.Message = await mb.receive_async(lambda b: b, timeout=1.0)
    t: mq.Message = await mb.take_async(timeout=None)
    return m.payload + t.payload


def senders(sock: str) -> None:
    mq.send(sock, b"hello", retry_for=1.0)
    with mq.Sender(sock, retry_for=1.0) as s:
        s.send(b"one")
        sent: int = s.send_many([b"a", bytearray(b"b"), memoryview(b"c")])
        print(sent, s.path, s.closed)
    with mq.ConfirmedSender(sock, window=8, reply_timeout=5.0) as cs:
        seq: int = cs.send(b"one", timeout=1.0)
        ticket: int = cs.send_async(bytearray(b"two"))
        for c in cs.wait():
            ok: bool = c.ok
            err: Optional[mq.Error] = c.error
            print(seq, ticket, c.ticket, c.seq, ok, err)
        n: int = cs.in_flight


def inspect(path: str) -> None:
    it: Iterator[Tuple[int, str, bytes]] = mq.read_log(path)
    for seq, state, payload in it:
        print(seq, state, payload)


def original(sock: str, queue: str) -> None:
    def pattern(buf: str) -> str:
        if buf[:1] == "a":
            return buf
        raise mq.NoMatch(buf)

    q = mq.MessageQueue(sock, queue, 4096)
    print("match!", q.receive(pattern))
    q.close()


def errors() -> None:
    try:
        mq.send("/nonexistent", b"x")
    except mq.Timeout as e:
        code: str = e.code
        errno: Optional[int] = e.errno
        print(code, errno)
    except mq.Error as e:
        print(str(e), e.code)


if __name__ == "__main__":
    asyncio.run(actor_async(mq.Mailbox(socket=None, queue="/tmp/q")))
