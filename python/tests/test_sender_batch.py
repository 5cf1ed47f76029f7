"""mq.Sender: one connected socket for many unconfirmed sends, and
send_many, a batch in sendmmsg calls (docs/python.md, "Sending")."""
import os
import socket

import pytest

import mq
from conftest import wait_for


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), sync="none") as m:
        yield m


def test_send_many_delivers_every_payload_in_order(mb, d):
    sent = [b"m%04d" % i for i in range(1000)]  # many more than the socket queue holds at once
    with mq.Sender(os.path.join(d, "s"), retry_for=20) as s:
        assert s.send_many(sent) == 1000
        s.send(b"last")
        s.send_many(x for x in [b"gen0", bytearray(b"gen1")])  # any iterable of bytes-like objects
    wait_for(lambda: mb.stats()["stored"] >= 1003, "the mailbox to store 1003 messages")
    got = [m.payload for m in mb.receive_many(timeout=0, limit=2000)]
    assert got == sent + [b"last", b"gen0", b"gen1"]


def test_send_many_sends_one_datagram_per_payload(d):
    """Any datagram receiver sees the batch as separate datagrams."""
    path = os.path.join(d, "raw")
    r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    r.bind(path)
    r.setblocking(False)
    with mq.Sender(path) as s:
        assert s.send_many([b"a", b"b", b"c"]) == 3
        assert [r.recv(16) for _ in range(3)] == [b"a", b"b", b"c"]
        with pytest.raises(BlockingIOError):
            r.recv(16)
    r.close()


def test_a_bad_item_sends_nothing_and_names_the_type(mb, d):
    with mq.Sender(os.path.join(d, "s")) as s:
        with pytest.raises(TypeError, match="payload must be bytes.*str"):
            s.send_many([b"ok", "text"])
    with pytest.raises(mq.Timeout):
        mb.receive(timeout=0.2)


def test_sender_errors_name_the_path(d):
    missing = os.path.join(d, "missing")
    with pytest.raises(mq.NotFound, match=missing):
        mq.Sender(missing)
    with pytest.raises(TypeError, match="path must be"):
        mq.Sender(42)  # type: ignore[arg-type]


def test_a_full_mailbox_without_retry_reports_how_many_went(d):
    path = os.path.join(d, "raw")
    r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    r.bind(path)  # never read: its queue fills
    with mq.Sender(path) as s:
        with pytest.raises(mq.IOError, match=r"of 5000 messages were sent, the rest were not") as e:
            s.send_many([b"x" * 64] * 5000)
        went = int(str(e.value).split()[0])
        assert 0 < went < 5000
    r.close()


def test_a_closed_sender_raises_closed(mb, d):
    s = mq.Sender(os.path.join(d, "s"))
    s.close()
    assert s.closed
    with pytest.raises(mq.Closed, match="the sender is closed"):
        s.send(b"x")
    with pytest.raises(mq.Closed):
        s.send_many([b"x"])


def test_bytes_like_payloads_and_patterns_are_taken_as_their_bytes(mb, d):
    """bytearray and memoryview work wherever bytes do (the stubs' _Bytes);
    the old conversion raised TypeError for them."""
    sock = os.path.join(d, "s")
    mq.send(sock, bytearray(b"ba:1"), retry_for=10)
    mq.send(sock, memoryview(b"mv:2"), retry_for=10)
    wait_for(lambda: mb.stats()["stored"] >= 2, "the mailbox to store 2 messages")
    assert mb.receive(mq.prefix(memoryview(b"mv:")), timeout=0).payload == b"mv:2"
    assert mb.receive(mq.prefix(bytearray(b"ba:")), timeout=0).payload == b"ba:1"
