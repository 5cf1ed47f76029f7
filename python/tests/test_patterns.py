"""Callable patterns: match, NoMatch, other exceptions, recursion."""
import os
import threading

import pytest

import mq


@pytest.fixture
def mb(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q")) as m:
        for p in (b"a0", b"b0", b"a1"):
            mq.send(os.path.join(d, "s"), p)
        while m.stats()["stored"] < 3:
            pass
        yield m


def only(letter):
    def pattern(buf):
        if buf[:1] == letter:
            return ("got", buf)
        raise mq.NoMatch(buf)
    return pattern


def test_callable_match_returns_message_whose_value_is_the_callables_result(mb):
    m = mb.receive(only(b"b"), timeout=5)
    assert m.payload == b"b0"
    assert m.value == ("got", b"b0")


def test_nomatch_skips_to_the_next_message_in_order(mb):
    assert mb.receive(only(b"a"), timeout=5).payload == b"a0"
    assert mb.receive(only(b"a"), timeout=5).payload == b"a1"
    assert mb.receive(timeout=0).payload == b"b0"


def test_callable_gets_bytes_and_runs_on_the_calling_thread(mb):
    seen = []

    def pattern(buf):
        seen.append((type(buf), threading.get_ident()))
        return buf

    mb.receive(pattern, timeout=5)
    assert seen == [(bytes, threading.get_ident())]


def test_no_match_at_all_times_out_and_leaves_everything_pending(mb):
    with pytest.raises(mq.Timeout):
        mb.receive(only(b"z"), timeout=0.1)
    assert mb.stats()["pending"] == 3


def test_other_exception_propagates_and_the_message_stays_pending(mb):
    class Boom(Exception):
        pass

    def pattern(buf):
        raise Boom(buf)

    with pytest.raises(Boom) as e:
        mb.receive(pattern, timeout=5)
    assert e.value.args == (b"a0",)
    assert mb.stats()["pending"] == 3
    assert mb.receive(timeout=0).payload == b"a0"


def test_exception_ends_a_blocking_receive_promptly(mb):
    def pattern(buf):
        raise ValueError("bad")

    import time
    t0 = time.monotonic()
    with pytest.raises(ValueError):
        mb.receive(pattern)  # would wait forever if the error were swallowed
    assert time.monotonic() - t0 < 1.0


def test_pattern_calling_receive_raises_a_clear_error_not_a_deadlock(mb):
    def pattern(buf):
        mb.receive(timeout=0)

    with pytest.raises(mq.Error, match="a pattern called into a mailbox"):
        mb.receive(pattern, timeout=5)
    assert mb.stats()["pending"] == 3


def test_wrong_pattern_type_is_a_type_error(mb):
    with pytest.raises(TypeError, match="pattern must be"):
        mb.receive(42, timeout=0)
    with pytest.raises(TypeError, match="prefix must be bytes"):
        mq.prefix("text")
