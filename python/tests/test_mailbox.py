"""mq.Mailbox: receive, poll, timeout, take/ack/release, patterns the library
matches, stats, the context manager."""
import os
import threading
import time

import pytest

import mq


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), key="until::") as m:
        yield m


def sock(mb):
    return os.path.join(os.path.dirname(mb.queue), "s")


def test_receive_returns_seq_and_payload_bytes(mb):
    mq.send(sock(mb), b"hello")
    m = mb.receive(timeout=5)
    assert isinstance(m, mq.Message)
    assert m.payload == b"hello" and isinstance(m.payload, bytes)
    assert m.seq >= 1
    assert m.value == b"hello"


def test_poll_on_empty_mailbox_raises_timeout_at_once(mb):
    t0 = time.monotonic()
    with pytest.raises(mq.Timeout, match="no message matching any"):
        mb.receive(timeout=0)
    assert time.monotonic() - t0 < 0.05


def test_timeout_waits_about_as_long_as_asked(mb):
    t0 = time.monotonic()
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0.2)
    assert 0.19 <= time.monotonic() - t0 < 1.0


def test_timeout_is_also_builtin_timeout_error(mb):
    with pytest.raises(TimeoutError):
        mb.receive(timeout=0)


def test_prefix_selects_later_message_and_leaves_earlier_pending(mb):
    mq.send(sock(mb), b"x:1")
    mq.send(sock(mb), b"y:2")
    assert mb.receive(mq.prefix(b"y:"), timeout=5).payload == b"y:2"
    assert mb.receive(timeout=5).payload == b"x:1"


def test_key_pattern_uses_the_key_extractor(mb):
    mq.send(sock(mb), b"k1:first")
    mq.send(sock(mb), b"k2:second")
    assert mb.receive(mq.key(b"k2"), timeout=5).payload == b"k2:second"


def test_take_then_release_delivers_again_and_ack_consumes(mb):
    mq.send(sock(mb), b"job")
    m = mb.take(timeout=5)
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0)  # taken: invisible
    mb.release(m.seq)
    m2 = mb.take(timeout=5)
    assert (m2.seq, m2.payload) == (m.seq, b"job")
    mb.ack(m2.seq)
    assert mb.stats()["pending"] == 0


def test_ack_of_unknown_seq_raises_not_found(mb):
    with pytest.raises(mq.NotFound):
        mb.ack(12345)


def test_stats_counts_stored_and_received(mb):
    for i in range(3):
        mq.send(sock(mb), b"m%d" % i)
    for _ in range(3):
        mb.receive(timeout=5)
    st = mb.stats()
    assert st["stored"] == 3 and st["received"] == 3 and st["pending"] == 0


def test_blocking_receive_wakes_for_a_later_send(mb):
    threading.Timer(0.1, lambda: mq.send(sock(mb), b"late")).start()
    assert mb.receive(timeout=5).payload == b"late"


def test_blocking_receive_releases_the_gil(mb):
    counted = []
    stop = threading.Event()

    def spin():
        n = 0
        while not stop.is_set():
            n += 1
        counted.append(n)

    t = threading.Thread(target=spin)
    t.start()
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0.3)
    stop.set()
    t.join()
    assert counted[0] > 100000  # the other thread ran during the wait


def test_close_twice_is_fine_and_closed_mailbox_raises_closed(d):
    m = mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"))
    m.close()
    m.close()
    assert m.closed
    with pytest.raises(mq.Closed, match="closed"):
        m.receive(timeout=0)


def test_context_manager_closes_and_removes_the_socket(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q")) as m:
        assert os.path.exists(os.path.join(d, "s"))
    assert m.closed
    assert not os.path.exists(os.path.join(d, "s"))


def test_messages_survive_reopen(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q")) as m:
        mq.send(os.path.join(d, "s"), b"kept")
        while m.stats()["stored"] < 1:
            time.sleep(0.001)
    with mq.Mailbox(socket=None, queue=os.path.join(d, "q")) as m:
        assert m.receive(timeout=0).payload == b"kept"
