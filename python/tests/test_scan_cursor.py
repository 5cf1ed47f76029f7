"""A callable pattern sees each pending message once per receive call: a
receive that waits (in slices, to look at signals) does not run it again on
the messages it already found not to match, and receive_many/take_many do
not rescan from the oldest message for each message they return
(mq::Mailbox::ScanCursor; docs/python.md, "Patterns")."""
import collections
import os
import threading

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


class Counting:
    """Matches payloads starting with `want`; counts the calls per payload."""

    def __init__(self, want):
        self.want = want
        self.calls = collections.Counter()

    def __call__(self, buf):
        self.calls[buf] += 1
        if buf.startswith(self.want):
            return buf
        raise mq.NoMatch(buf)


def test_a_waiting_receive_runs_the_callable_once_per_message(mb, d):
    backlog = [b"x%d" % i for i in range(300)]
    fill(mb, d, backlog)
    pat = Counting(b"a")
    # 0.4 s is 8 of the receive's 50 ms slices: the old code ran the
    # callable on all 300 again in each.
    with pytest.raises(mq.Timeout):
        mb.receive(pat, timeout=0.4)
    assert set(pat.calls) == set(backlog)
    assert max(pat.calls.values()) == 1


def test_a_waiting_receive_checks_only_what_arrives_and_takes_the_match(mb, d):
    fill(mb, d, [b"x%d" % i for i in range(200)])
    pat = Counting(b"a")
    sock = os.path.join(d, "s")

    def later():  # once the callable has seen the whole backlog (the receive waits)
        wait_for(lambda: len(pat.calls) >= 200, "the first scan")
        mq.send(sock, b"y")
        mq.send(sock, b"a1")

    t = threading.Thread(target=later)
    t.start()
    msg = mb.receive(pat, timeout=20)
    t.join()
    assert msg.payload == b"a1"
    assert max(pat.calls.values()) == 1 and len(pat.calls) == 202


def test_receive_many_runs_the_callable_once_per_message(mb, d):
    sent = []
    for i in range(100):  # 3 that do not match before each that does
        sent += [b"x%d.0" % i, b"x%d.1" % i, b"x%d.2" % i, b"a%d" % i]
    fill(mb, d, sent)
    pat = Counting(b"a")
    got = mb.receive_many(pat, timeout=0)
    assert [m.payload for m in got] == [b"a%d" % i for i in range(100)]
    # The old code started each of the 99 further looks at the oldest
    # pending message: about 100 * 300 / 2 calls on the x messages.
    assert max(pat.calls.values()) == 1 and len(pat.calls) == 400


def test_take_many_runs_the_callable_once_per_message(mb, d):
    fill(mb, d, [b"x0", b"a0", b"x1", b"a1", b"x2", b"a2"])
    pat = Counting(b"a")
    got = mb.take_many(pat, timeout=0)
    assert [m.payload for m in got] == [b"a0", b"a1", b"a2"]
    assert max(pat.calls.values()) == 1 and len(pat.calls) == 6


def test_a_new_receive_call_offers_every_message_again(mb, d):
    """The cursor lives for one call: a callable may answer differently the
    next time (it may keep state), so the next call starts at the oldest."""
    fill(mb, d, [b"x0", b"x1"])
    pat = Counting(b"a")
    for _ in range(3):
        with pytest.raises(mq.Timeout):
            mb.receive(pat, timeout=0)
    assert pat.calls == {b"x0": 3, b"x1": 3}


def test_a_release_during_a_wait_offers_the_released_message_again(mb, d):
    fill(mb, d, [b"x0", b"b0", b"x1"])
    taken = mb.take(mq.prefix(b"b"), timeout=0)
    seen_x = threading.Event()

    def pat(buf):
        if buf == b"x1":  # the scan has gone past b0's place
            seen_x.set()
        if buf == b"b0":
            return buf
        raise mq.NoMatch(buf)

    t = threading.Thread(target=lambda: (seen_x.wait(10), mb.release(taken.seq)))
    t.start()
    # b0 (older than anything new) is released while the receive waits: the
    # scan starts again at the oldest and finds it.
    msg = mb.receive(pat, timeout=5)
    t.join()
    assert msg.payload == b"b0"
