"""mq.send, mq.ConfirmedSender and mq.read_log against a live mailbox."""
import os

import pytest

import mq


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q")) as m:
        yield m


def test_confirmed_send_returns_the_stored_seq(mb, d):
    with mq.ConfirmedSender(os.path.join(d, "s")) as cs:
        seq = cs.send(b"one")
    m = mb.receive(timeout=0)  # confirmed means stored: no wait needed
    assert (m.seq, m.payload) == (seq, b"one")


def test_send_async_then_wait_confirms_every_message_in_order(mb, d):
    with mq.ConfirmedSender(os.path.join(d, "s"), window=8) as cs:
        tickets = [cs.send_async(b"m%d" % i) for i in range(50)]
        confs = cs.wait()
    assert [c.ticket for c in confs] == tickets
    assert all(c.ok and c.error is None for c in confs)
    got = [(m.seq, m.payload) for m in (mb.receive(timeout=0) for _ in range(50))]
    assert got == [(c.seq, b"m%d" % i) for i, c in enumerate(confs)]


def test_read_log_lists_pending_and_consumed_like_mqtool_dump(mb, d):
    with mq.ConfirmedSender(os.path.join(d, "s")) as cs:
        s1 = cs.send(b"first")
        s2 = cs.send(b"second")
    mb.receive(mq.prefix(b"first"), timeout=0)
    assert list(mq.read_log(os.path.join(d, "q"))) == [(s1, "consumed", b"first"), (s2, "pending", b"second")]


def test_read_log_does_not_take_the_writer_lock(mb, d):
    # The mailbox holds the lock; opening another writer would raise Busy.
    list(mq.read_log(os.path.join(d, "q")))
    with pytest.raises(mq.Busy):
        mq.Mailbox(socket=None, queue=os.path.join(d, "q"))
