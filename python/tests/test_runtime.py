"""mq.Runtime: many mailboxes in one interpreter on one set of threads
(mq/runtime.h; docs/python.md, "Many mailboxes: mq.Runtime")."""
import os
import resource
import threading

import pytest

import mq
from conftest import spawn, wait_for

N = int(os.environ.get("MQ_PY_RUNTIME_MAILBOXES", "200"))


def threads():
    return len(os.listdir("/proc/self/task"))


def ensure_descriptors(n):
    """About 8 descriptors a mailbox (docs/mailbox.md): raise the soft limit
    to what n mailboxes need, or skip saying why."""
    need = 10 * n + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip("RLIMIT_NOFILE's hard limit %d is below the %d descriptors %d mailboxes need" %
                        (hard, need, n))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def open_many(d, n, runtime, sync="batch"):
    ensure_descriptors(n)
    return [mq.Mailbox(socket=os.path.join(d, "s%d" % i), queue=os.path.join(d, "q%d" % i), sync=sync,
                       runtime=runtime) for i in range(n)]


def test_mailboxes_on_a_runtime_add_no_thread_and_each_gets_its_own_messages(d):
    with mq.Runtime() as rt:
        before = threads()
        boxes = open_many(d, N, rt)
        try:
            assert threads() == before  # the old binding (threads of its own): 4 more a mailbox
            assert rt.stats()["mailboxes"] == N
            with mq.Sender(os.path.join(d, "s0"), retry_for=10) as s:
                s.send_many([b"flood%d" % i for i in range(2000)])  # one busy mailbox among idle ones
            for i in range(N):
                mq.send(os.path.join(d, "s%d" % i), b"to%d" % i, retry_for=10)
            for i in range(1, N):
                assert boxes[i].receive(timeout=20).payload == b"to%d" % i
            got = []
            while len(got) < 2001:
                got += [m.payload for m in boxes[0].receive_many(timeout=20, limit=5000)]
            assert got == [b"flood%d" % i for i in range(2000)] + [b"to0"]
            assert threads() == before
        finally:
            for mb in boxes:
                mb.close()
        assert rt.stats()["mailboxes"] == 0


def test_without_a_runtime_each_mailbox_has_threads_of_its_own(d):
    """The comparison the test above stands on: the thread count it checks
    does move when mailboxes do start threads."""
    before = threads()
    boxes = open_many(d, 5, None)
    try:
        assert threads() >= before + 5
    finally:
        for mb in boxes:
            mb.close()


def test_confirmed_sends_to_runtime_mailboxes_are_answered(d):
    with mq.Runtime() as rt:
        boxes = open_many(d, 3, rt, sync="always")
        try:
            for i, mb in enumerate(boxes):
                with mq.ConfirmedSender(os.path.join(d, "s%d" % i), reply_timeout=20) as cs:
                    seq = cs.send(b"c%d" % i)
                m = mb.receive(timeout=0)
                assert (m.seq, m.payload) == (seq, b"c%d" % i)
        finally:
            for mb in boxes:
                mb.close()


def test_the_runtime_closed_before_its_mailboxes_keeps_serving_them(d):
    rt = mq.Runtime()
    boxes = open_many(d, 2, rt)
    rt.close()
    assert rt.closed
    try:
        mq.send(os.path.join(d, "s1"), b"after close", retry_for=10)
        assert boxes[1].receive(timeout=20).payload == b"after close"
        with pytest.raises(mq.Closed, match="the runtime is closed"):
            mq.Mailbox(socket=os.path.join(d, "x"), queue=os.path.join(d, "xq"), runtime=rt)
        with pytest.raises(mq.Closed):
            rt.stats()
    finally:
        for mb in boxes:
            mb.close()


def test_a_blocked_receive_on_a_runtime_mailbox_sees_a_message_from_another_thread(d):
    with mq.Runtime() as rt:
        with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), runtime=rt) as mb:
            t = threading.Timer(0.05, lambda: mq.send(os.path.join(d, "s"), b"late"))
            t.start()
            assert mb.receive(timeout=20).payload == b"late"
            t.join()


def test_runtime_argument_must_be_a_runtime(d):
    with pytest.raises(TypeError, match="runtime must be None or an mq.Runtime, not str"):
        mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), runtime="shared")


def test_a_forked_child_cannot_use_the_parents_runtime(d):
    code = r'''
import os, sys, mq
d = sys.argv[1]
rt = mq.Runtime()
pid = os.fork()
if pid == 0:
    try:
        mq.Mailbox(socket=os.path.join(d, "c"), queue=os.path.join(d, "cq"), runtime=rt)
        os._exit(1)
    except mq.Error as e:
        os._exit(3 if "forked child" in str(e) else 2)
_, status = os.waitpid(pid, 0)
rt.close()
print(os.waitstatus_to_exitcode(status))
'''
    p = spawn(code, d)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.decode().strip() == "3"
