"""mb.receive_many: a batch of the messages pending already, in one call
(docs/python.md, "Receiving in batches"); and mq.Message, the C type every
receive returns."""
import gc
import os
import threading
import weakref

import pytest

import mq
from conftest import wait_for


def fill(mb, d, payloads):
    stored = mb.stats()["stored"] + len(payloads)
    for p in payloads:
        mq.send(os.path.join(d, "s"), p, retry_for=10)
    wait_for(lambda: mb.stats()["stored"] >= stored, "the mailbox to store the messages")


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), sync="none") as m:
        yield m


def test_receive_many_returns_every_pending_message_in_order_and_consumes_them(mb, d):
    sent = [b"m%d" % i for i in range(50)]
    fill(mb, d, sent)
    got = mb.receive_many(timeout=0)
    assert [m.payload for m in got] == sent
    assert [m.seq for m in got] == sorted(m.seq for m in got)
    assert all(isinstance(m, mq.Message) and m.value == m.payload for m in got)
    assert mb.stats()["pending"] == 0
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0)


def test_receive_many_stops_at_limit_and_leaves_the_rest_pending(mb, d):
    fill(mb, d, [b"m%d" % i for i in range(10)])
    assert [m.payload for m in mb.receive_many(timeout=0, limit=4)] == [b"m0", b"m1", b"m2", b"m3"]
    assert mb.stats()["pending"] == 6
    assert mb.receive(timeout=0).payload == b"m4"


def test_receive_many_with_a_prefix_takes_only_matching_messages(mb, d):
    fill(mb, d, [b"a0", b"b0", b"a1", b"b1", b"a2"])
    assert [m.payload for m in mb.receive_many(mq.prefix(b"a"), timeout=0)] == [b"a0", b"a1", b"a2"]
    assert [m.payload for m in mb.receive_many(timeout=0)] == [b"b0", b"b1"]


def test_receive_many_waits_for_the_first_message_like_receive(mb, d):
    threading.Timer(0.1, lambda: mq.send(os.path.join(d, "s"), b"late")).start()
    got = mb.receive_many(timeout=5)
    assert [m.payload for m in got] == [b"late"]


def test_receive_many_on_an_empty_mailbox_raises_timeout(mb):
    with pytest.raises(mq.Timeout, match="no message matching any"):
        mb.receive_many(timeout=0)


def test_receive_many_rejects_a_zero_limit_and_a_closed_mailbox(mb):
    with pytest.raises(ValueError, match="limit must be at least 1"):
        mb.receive_many(timeout=0, limit=0)
    mb.close()
    with pytest.raises(mq.Closed):
        mb.receive_many(timeout=0)


def test_receive_many_returns_each_callables_result_as_the_value(mb, d):
    fill(mb, d, [b"a0", b"b0", b"a1"])

    def only_a(buf):
        if buf[:1] == b"a":
            return ("got", buf)
        raise mq.NoMatch(buf)

    got = mb.receive_many(only_a, timeout=0)
    assert [(m.payload, m.value) for m in got] == [(b"a0", ("got", b"a0")), (b"a1", ("got", b"a1"))]
    assert mb.receive(timeout=0).payload == b"b0"


def test_pattern_raising_mid_batch_returns_the_batch_so_far_and_leaves_its_message_pending(mb, d):
    fill(mb, d, [b"ok0", b"ok1", b"bad", b"ok2"])

    def picky(buf):
        if buf == b"bad":
            raise RuntimeError("cannot read " + buf.decode())
        return buf

    assert [m.payload for m in mb.receive_many(picky, timeout=0)] == [b"ok0", b"ok1"]
    # The next call raises what the pattern raised, before it looks at a message...
    with pytest.raises(RuntimeError, match="cannot read bad"):
        mb.receive_many(timeout=0)
    # ...and the message it raised on was not consumed.
    assert [m.payload for m in mb.receive_many(timeout=0)] == [b"bad", b"ok2"]


def test_keyboard_interrupt_in_a_pattern_mid_batch_is_raised_by_the_next_receive(mb, d):
    fill(mb, d, [b"m0", b"m1", b"m2", b"m3"])
    interrupted = []

    def ctrl_c_at_m2(buf):
        if buf == b"m2" and not interrupted:
            interrupted.append(buf)
            raise KeyboardInterrupt  # as Python's SIGINT handler would, once
        return buf

    assert [m.payload for m in mb.receive_many(ctrl_c_at_m2, timeout=0)] == [b"m0", b"m1"]
    with pytest.raises(KeyboardInterrupt):
        mb.receive(timeout=0)
    assert [m.payload for m in mb.receive_many(ctrl_c_at_m2, timeout=0)] == [b"m2", b"m3"]


def test_message_attributes_are_read_only_and_repr_shows_seq_and_payload(mb, d):
    fill(mb, d, [b"hi"])
    m = mb.receive(timeout=0)
    assert repr(m) == "mq.Message(seq=%d, payload=b'hi')" % m.seq
    for name in ("seq", "payload", "value"):
        with pytest.raises(AttributeError):
            setattr(m, name, None)
    with pytest.raises(TypeError):
        mq.Message()


class Holder:
    pass


def test_a_message_in_a_reference_cycle_with_its_value_is_collected(mb, d):
    fill(mb, d, [b"cycle"])
    m = mb.receive(lambda buf: Holder(), timeout=0)
    m.value.message = m  # value -> message -> value
    alive = weakref.ref(m.value)
    del m
    gc.collect()
    assert alive() is None, "the Message and its value were never freed"


def test_receive_many_keeps_python_memory_flat(mb, d):
    import socket
    import tracemalloc

    path = os.path.join(d, "s")
    out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def rounds(n, pattern):
        for _ in range(n // 200):
            for _ in range(200):
                mq.send(path, b"p" * 256, retry_for=10)
            got = 0
            while got < 200:
                got += len(mb.receive_many(pattern, timeout=5, limit=64))

    def first_byte(b):
        return b[:1]

    rounds(2000, mq.ANY)  # warm up
    rounds(2000, first_byte)
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    rounds(20000, mq.ANY)
    rounds(20000, first_byte)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out.close()
    # A leaked Message, payload or value is over 256 bytes: 40,000 of them, over 10 MB.
    assert after - before < 64 * 1024, "Python memory grew by %d bytes" % (after - before)
