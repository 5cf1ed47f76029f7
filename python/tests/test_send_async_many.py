"""mq.ConfirmedSender.send_async_many: pipelined, batched, packed confirmed sends."""
import os

import pytest

import mq


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q")) as m:
        yield m


def test_send_async_many_confirms_every_message_in_order_in_packed_datagrams(mb, d):
    with mq.ConfirmedSender(os.path.join(d, "s"), window=4096) as cs:
        cs.send(b"first")  # its answer carries the mailbox's pack offer
        before = mb.stats()["datagrams"]
        payloads = [b"m%04d" % i for i in range(1000)]
        first = cs.send_async_many(payloads)
        confs = cs.wait()
    assert [c.ticket for c in confs] == list(range(first, first + 1000))
    assert all(c.ok for c in confs), [c for c in confs if not c.ok][:3]
    assert mb.receive(timeout=0).payload == b"first"
    got = [(m.seq, m.payload) for m in mb.receive_many(timeout=0, limit=2000)]
    assert got == [(c.seq, p) for c, p in zip(confs, payloads)]
    # Packed: 64 messages a datagram at most, so 1000 take at least 16; one a
    # message would take 1000. (A reconnect under the pack prefix, and packs
    # cut short by the window, add a few.)
    datagrams = mb.stats()["datagrams"] - before
    assert 16 <= datagrams <= 100, datagrams


def test_send_async_many_accepts_any_iterable_of_bytes_like_and_refuses_bad_items(mb, d):
    with mq.ConfirmedSender(os.path.join(d, "s"), window=64) as cs:
        first = cs.send_async_many(p for p in (b"a", bytearray(b"b"), memoryview(b"c")))
        assert [c.ticket for c in cs.wait()] == [first, first + 1, first + 2]
        with pytest.raises(TypeError, match="payload"):
            cs.send_async_many([b"ok", "a str"])
        with pytest.raises(ValueError, match="empty"):
            cs.send_async_many([])
        assert cs.in_flight == 0  # a bad item sends nothing
    assert [m.payload for m in mb.receive_many(timeout=0)] == [b"a", b"b", b"c"]
    with pytest.raises(mq.Closed):
        cs.send_async_many([b"late"])


def test_send_async_many_switches_to_packs_within_one_call_once_an_answer_offers_them(mb, d):
    # No send before: the first answer, with the pack offer, comes while the
    # call is sending. At most a window goes one datagram a message before
    # it; the rest go packed, up to 64 a datagram.
    n, window = 4000, 256
    with mq.ConfirmedSender(os.path.join(d, "s"), window=window) as cs:
        cs.send_async_many([b"p%05d" % i for i in range(n)])
        confs = cs.wait()
    assert len(confs) == n and all(c.ok for c in confs), [c for c in confs if not c.ok][:3]
    datagrams = mb.stats()["datagrams"]
    assert datagrams <= window + n // 8, datagrams  # one a message would be n
    assert [m.payload for m in mb.receive_many(timeout=0, limit=n)] == [b"p%05d" % i for i in range(n)]
