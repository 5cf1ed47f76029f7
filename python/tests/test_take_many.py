"""mb.take_many: a batch of pending messages taken (at-least-once) in one
call (docs/python.md, "Receiving in batches")."""
import os

import pytest

import mq
from conftest import wait_for


def fill(mb, d, payloads):
    stored = mb.stats()["stored"] + len(payloads)
    with mq.Sender(os.path.join(d, "s"), retry_for=10) as s:
        s.send_many(payloads)
    wait_for(lambda: mb.stats()["stored"] >= stored, "the mailbox to store the messages")


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), sync="none") as m:
        yield m


def test_take_many_takes_pending_messages_in_order_without_consuming_them(mb, d):
    sent = [b"m%d" % i for i in range(20)]
    fill(mb, d, sent)
    got = mb.take_many(timeout=0)
    assert [m.payload for m in got] == sent
    st = mb.stats()
    assert st["taken"] == 20 and st["consumed"] == 0
    with pytest.raises(mq.Timeout):  # taken messages are invisible to other receives
        mb.receive(timeout=0)
    for m in got[:5]:
        mb.ack(m.seq)
    for m in got[5:]:
        mb.release(m.seq)
    st = mb.stats()
    assert st["consumed"] == 5 and st["taken"] == 0 and st["pending"] == 15
    assert [m.payload for m in mb.receive_many(timeout=0)] == sent[5:]


def test_take_many_stops_at_limit_and_with_a_pattern_takes_only_matches(mb, d):
    fill(mb, d, [b"a0", b"b0", b"a1", b"b1", b"a2", b"a3"])
    got = mb.take_many(mq.prefix(b"a"), timeout=0, limit=3)
    assert [m.payload for m in got] == [b"a0", b"a1", b"a2"]
    assert mb.stats()["taken"] == 3
    assert [m.payload for m in mb.receive_many(timeout=0)] == [b"b0", b"b1", b"a3"]


def test_take_many_on_an_empty_mailbox_raises_timeout_and_rejects_limit_zero(mb):
    with pytest.raises(mq.Timeout):
        mb.take_many(timeout=0)
    with pytest.raises(ValueError, match="limit must be at least 1"):
        mb.take_many(timeout=0, limit=0)


def test_take_many_with_a_callable_returns_its_values(mb, d):
    fill(mb, d, [b"a0", b"b0", b"a1"])

    def upper_a(buf):
        if buf[:1] != b"a":
            raise mq.NoMatch(buf)
        return buf.upper()

    got = mb.take_many(upper_a, timeout=0)
    assert [(m.payload, m.value) for m in got] == [(b"a0", b"A0"), (b"a1", b"A1")]
