"""mb.fileno() for selectors, and receive_async/take_async on asyncio
(docs/python.md, "Event loops")."""
import asyncio
import os
import select
import selectors
import threading

import pytest

import mq
from conftest import wait_for

WAIT = 10.0  # the longest any test waits for something that must happen


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), sync="none") as m:
        yield m


def sock(mb):
    return os.path.join(os.path.dirname(mb.queue), "s")


def put(mb, payload):
    # The socket holds only a few datagrams (net.unix.max_dgram_qlen): a burst
    # waits for the ingest thread rather than fail.
    mq.send(sock(mb), payload, retry_for=WAIT)


def readable(mb, wait=0.0):
    return bool(select.select([mb], [], [], wait)[0])


def stored(mb, n):
    wait_for(lambda: mb.stats()["stored"] >= n, "%d messages to be stored" % n)


# ---- selectors ----

def test_fileno_starts_readable_so_that_messages_stored_before_are_looked_for(mb):
    put(mb, b"before")
    stored(mb, 1)
    assert readable(mb, WAIT)
    assert mb.receive(timeout=0).payload == b"before"


def test_fileno_becomes_readable_when_a_message_is_stored_and_not_before(mb):
    sel = selectors.DefaultSelector()
    sel.register(mb, selectors.EVENT_READ)
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0)  # drains the new descriptor's first readiness
    assert sel.select(0) == []
    put(mb, b"hello")
    events = sel.select(WAIT)
    assert [key.fileobj for key, _ in events] == [mb]
    assert mb.receive(timeout=0).payload == b"hello"
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0)  # the poll that finds nothing drains it
    assert sel.select(0) == []
    sel.unregister(mb)


def test_fileno_stays_readable_after_a_poll_returns_a_message_until_a_poll_finds_nothing(mb):
    for i in range(3):
        put(mb, b"m%d" % i)
    stored(mb, 3)
    got = []
    # One poll per wakeup: the descriptor must not go quiet while messages wait.
    for _ in range(3):
        assert readable(mb, WAIT), "readable was not set with %d of 3 received" % len(got)
        got.append(mb.receive(timeout=0).payload)
    assert got == [b"m0", b"m1", b"m2"]
    assert readable(mb)  # the last poll found a message: another might be pending
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0)
    assert not readable(mb)


def test_fileno_stays_readable_when_a_callable_pattern_raised_during_the_poll(mb):
    put(mb, b"boom")
    stored(mb, 1)
    assert readable(mb, WAIT)

    def bad(payload):
        raise KeyError(payload)

    with pytest.raises(KeyError):
        mb.receive(bad, timeout=0)
    assert readable(mb)  # the message is still there
    assert mb.receive(timeout=0).payload == b"boom"


def test_selector_loop_polling_once_per_wakeup_receives_every_message_of_a_concurrent_sender(mb):
    n = 2000

    def sender():
        for i in range(n):
            put(mb, b"%d" % i)

    t = threading.Thread(target=sender)
    sel = selectors.DefaultSelector()
    sel.register(mb, selectors.EVENT_READ)
    t.start()
    got = []
    try:
        while len(got) < n:
            if not sel.select(WAIT):
                break  # a lost wakeup: messages left and the descriptor quiet
            try:
                got.append(int(mb.receive(timeout=0).payload))
            except mq.Timeout:
                pass
    finally:
        t.join()
    assert got == list(range(n)), "%d of %d received before the descriptor went quiet" % (len(got), n)


def test_fileno_is_readable_after_a_release_and_after_close(d):
    m = mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), sync="none")
    fd = m.fileno()
    put(m, b"x")
    taken = m.take(timeout=WAIT)
    with pytest.raises(mq.Timeout):
        m.receive(timeout=0)
    assert not readable(m)
    m.release(taken.seq)
    assert readable(m)
    with pytest.raises(mq.Timeout):
        m.receive(mq.prefix(b"other"), timeout=0)
    assert not readable(m)
    m.close()
    assert readable(m)
    # Closed: the same descriptor, still open, until the object goes.
    assert m.fileno() == fd
    os.fstat(fd)


def test_fileno_of_a_mailbox_closed_before_it_was_asked_raises_closed(d):
    m = mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"))
    m.close()
    with pytest.raises(mq.Closed):
        m.fileno()


# ---- asyncio ----

def run(coro):
    """Runs coro, failing after WAIT: the receives below wait forever, so a
    lost wakeup shows as this timeout, not as a late poll that succeeds."""
    return asyncio.run(asyncio.wait_for(coro, WAIT))


async def settle():
    """Lets every task started so far run to its first await (asyncio runs
    ready tasks in order, so two rounds are enough; no clock involved)."""
    for _ in range(2):
        await asyncio.sleep(0)


def test_many_concurrent_receive_async_each_get_their_own_message_sent_while_they_wait(mb):
    n = 50

    async def main():
        tasks = [asyncio.create_task(mb.receive_async(mq.prefix(b"%d:" % i)))
                 for i in range(n)]
        await settle()
        assert not any(t.done() for t in tasks)  # all waiting, and the loop runs
        for i in reversed(range(n)):
            put(mb, b"%d:payload" % i)
        return [m.payload for m in await asyncio.gather(*tasks)]

    assert run(main()) == [b"%d:payload" % i for i in range(n)]
    assert mb.stats()["pending"] == 0


def test_receive_async_does_not_block_the_event_loop_while_it_waits(mb):
    async def main():
        waiting = asyncio.create_task(mb.receive_async())
        ticks = 0
        for _ in range(100):  # would not run at all if the receive blocked the loop
            await asyncio.sleep(0)
            ticks += 1
        assert not waiting.done()
        put(mb, b"late")
        return ticks, (await waiting).payload

    assert run(main()) == (100, b"late")


def test_cancelled_receive_async_leaves_the_message_for_another_receiver(mb):
    async def main():
        first = asyncio.create_task(mb.receive_async(mq.prefix(b"x")))
        await settle()
        put(mb, b"x1")
        # The message is stored and the descriptor readable, but the loop has
        # not run the reader yet: cancel the waiter now.
        assert readable(mb, WAIT)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        second = await mb.receive_async(mq.prefix(b"x"))
        return second.payload

    assert run(main()) == b"x1"


def test_cancelling_one_of_several_waiters_does_not_take_the_others_wakeup(mb):
    async def main():
        waiters = [asyncio.create_task(mb.receive_async()) for _ in range(3)]
        await settle()
        waiters[0].cancel()
        await settle()
        put(mb, b"one")
        put(mb, b"two")
        done = await asyncio.gather(*waiters[1:])
        return sorted(m.payload for m in done)

    assert run(main()) == [b"one", b"two"]


def test_close_while_receive_async_waits_raises_closed(mb):
    async def main():
        waiting = asyncio.create_task(mb.receive_async(mq.prefix(b"never")))
        await settle()
        # Closed from another thread, as a shutdown handler might.
        await asyncio.get_running_loop().run_in_executor(None, mb.close)
        with pytest.raises(mq.Closed, match="closed"):
            await waiting

    run(main())


def test_receive_async_times_out_with_mq_timeout_and_a_zero_timeout_polls(mb):
    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(mq.Timeout, match="no message matching"):
            await mb.receive_async(timeout=0.2)
        assert 0.19 <= loop.time() - t0 < WAIT
        with pytest.raises(mq.Timeout):
            await mb.receive_async(timeout=0)
        put(mb, b"now")
        stored(mb, 1)
        return (await mb.receive_async(timeout=0)).payload

    assert run(main()) == b"now"


def test_take_async_then_release_wakes_a_waiting_take_async(mb):
    async def main():
        put(mb, b"job")
        first = await mb.take_async()
        second = asyncio.create_task(mb.take_async())
        await settle()
        assert not second.done()  # taken: invisible
        mb.release(first.seq)
        again = await second
        mb.ack(again.seq)
        return first.seq, again.seq, again.payload

    seq, seq2, payload = run(main())
    assert (seq2, payload) == (seq, b"job")


def test_receive_async_rejects_bad_timeouts_and_patterns(mb):
    async def main():
        with pytest.raises(TypeError, match="timeout"):
            await mb.receive_async(timeout="1")
        with pytest.raises(ValueError, match="timeout"):
            await mb.receive_async(timeout=-1)
        with pytest.raises(TypeError, match="pattern"):
            await mb.receive_async(42, timeout=0)

    run(main())


def test_receive_async_on_a_second_event_loop_while_the_first_waits_is_refused(mb):
    started = threading.Event()
    result = []

    def other_loop():
        async def wait():
            task = asyncio.create_task(mb.receive_async(mq.prefix(b"other")))
            await settle()
            started.set()
            return (await task).payload
        result.append(run(wait()))

    t = threading.Thread(target=other_loop)
    t.start()
    try:
        assert started.wait(WAIT)

        async def main():
            with pytest.raises(RuntimeError, match="another event loop"):
                await mb.receive_async()

        run(main())
    finally:
        put(mb, b"other")
        t.join()
    assert result == [b"other"]


def test_fileno_is_not_made_readable_by_a_datagram_from_a_uid_the_mailbox_refuses(d):
    # Another uid (nobody) can reach the socket but is not admitted: what it
    # sends is counted and dropped, and must not wake an event loop.
    os.chmod(d, 0o755)
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), socket_mode=0o666) as m:
        m.fileno()
        with pytest.raises(mq.Timeout):
            m.receive(timeout=0)  # drains the new descriptor's first readiness
        assert not readable(m)
        pid = os.fork()
        if pid == 0:
            try:
                os.setgid(65534)
                os.setuid(65534)
                import socket as sk
                s = sk.socket(sk.AF_UNIX, sk.SOCK_DGRAM)
                for _ in range(10):
                    s.sendto(b"from nobody", os.path.join(d, "s"))
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        wait_for(lambda: m.stats()["rejected_not_admitted"] == 10, "the 10 datagrams to be refused")
        assert not readable(m)
        assert m.stats()["stored"] == 0
