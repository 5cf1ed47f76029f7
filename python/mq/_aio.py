"""mq.Mailbox with asyncio: receive_async and take_async (docs/python.md,
"Event loops").

An awaiting receive never blocks the event loop: it polls (timeout 0), and
when nothing matches it waits for the mailbox's readiness descriptor
(mb.fileno(), an eventfd the C++ mailbox writes after every append, release
and close) through loop.add_reader. One reader per event loop serves every
receive waiting on that loop: when the descriptor becomes readable, every
waiter is woken and polls again (a poll drains the descriptor before it
looks), so no waiter can take another's wakeup and a cancelled waiter leaves
the message to the others (it took nothing: only a poll takes, and a poll
does not await).
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, Optional, Set, Union

from . import _mq

_PatternArg = Union[_mq.Pattern, Callable[[bytes], Any]]


class _LoopWaiters:
    """The receives of one event loop waiting on one mailbox."""

    __slots__ = ("loop", "fd", "futures", "reading")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        self.futures: Set["asyncio.Future[None]"] = set()
        self.reading = False

    def add(self, fut: "asyncio.Future[None]") -> None:
        self.futures.add(fut)
        if not self.reading:
            self.loop.add_reader(self.fd, self._ready)
            self.reading = True

    def discard(self, fut: "asyncio.Future[None]") -> None:
        self.futures.discard(fut)
        if not self.futures and self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False

    def _ready(self) -> None:
        # Readable: wake everyone. The reader is removed (the descriptor stays
        # readable until a poll drains it); a waiter that finds nothing adds
        # it back before it waits again.
        self.loop.remove_reader(self.fd)
        self.reading = False
        futures, self.futures = self.futures, set()
        for fut in futures:
            if not fut.done():
                fut.set_result(None)


def _check_timeout(timeout: Optional[float]) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds or None, not " + type(timeout).__name__)
    if not timeout >= 0:
        raise ValueError("timeout must be >= 0 seconds (None waits forever), not " + str(timeout))


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class Mailbox(_mq.Mailbox):
    __doc__ = _mq.Mailbox.__doc__

    async def receive_async(self, pattern: _PatternArg = _mq.ANY,
                            timeout: Optional[float] = None) -> _mq.Message:
        """receive(pattern, timeout) for asyncio: waits without blocking the
        event loop. mq.Timeout when none came in time; mq.Closed when the
        mailbox is closed meanwhile; cancelling it consumes nothing."""
        return await self._find_async(self.receive, pattern, timeout)

    async def take_async(self, pattern: _PatternArg = _mq.ANY,
                         timeout: Optional[float] = None) -> _mq.Message:
        """take(pattern, timeout) for asyncio (then ack or release)."""
        return await self._find_async(self.take, pattern, timeout)

    async def _find_async(self, find: Callable[..., _mq.Message], pattern: _PatternArg,
                          timeout: Optional[float]) -> _mq.Message:
        _check_timeout(timeout)
        loop = asyncio.get_running_loop()
        fd = self.fileno()  # before the first poll: later changes make it readable
        waiters = self._waiters_for(loop, fd)
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            try:
                return find(pattern, 0)
            except _mq.Timeout as e:
                if deadline is not None and loop.time() >= deadline:
                    raise e
            fut: "asyncio.Future[None]" = loop.create_future()
            waiters.add(fut)
            timer = None if deadline is None else loop.call_at(deadline, _wake, fut)
            try:
                await fut
            finally:
                if timer is not None:
                    timer.cancel()
                waiters.discard(fut)

    def _waiters_for(self, loop: asyncio.AbstractEventLoop, fd: int) -> _LoopWaiters:
        table: Dict[asyncio.AbstractEventLoop, _LoopWaiters] = self.__dict__.setdefault("_mq_aio", {})
        for other, w in list(table.items()):
            if other is not loop:
                if w.futures:
                    raise RuntimeError(
                        self.queue + ": receive_async is waiting on another event loop; the readiness "
                        "descriptor serves one loop per mailbox (docs/python.md, 'Event loops')")
                del table[other]
        mine = table.get(loop)
        if mine is None:
            mine = table[loop] = _LoopWaiters(loop, fd)
        return mine
