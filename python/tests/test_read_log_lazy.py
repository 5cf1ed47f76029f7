"""mq.read_log reads lazily: memory stays bounded on a log much larger than
its buffer, and it yields exactly what reading the whole log at once does."""
import hashlib
import os
import subprocess

import pytest

import mq
from conftest import PYTHON, child_env

PAYLOAD = 256 * 1024
COUNT = 256  # a 64 MiB log

# Reads the log with read_log (lazy) or _scan_log (all at once), and prints
# a digest of everything it yielded and how much the peak RSS grew (KiB).
READER = r'''
import hashlib, sys, mq
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
path, how = sys.argv[1], sys.argv[2]
base = hwm()
it = mq.read_log(path) if how == "lazy" else iter(mq._mq._scan_log(path))
h, n = hashlib.sha256(), 0
for seq, state, payload in it:
    h.update(b"%d %s %d\n" % (seq, state.encode(), len(payload)))
    h.update(payload)
    n += 1
print(n, h.hexdigest(), hwm() - base)
'''


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("biglog", numbered=True))
    sock, queue = os.path.join(d, "s"), os.path.join(d, "q")
    with mq.Mailbox(socket=sock, queue=queue, sync="none", max_message_size=PAYLOAD) as mb:
        for i in range(COUNT):
            mq.send(sock, bytes([i]) * (PAYLOAD - 8) + b"%08d" % i, retry_for=30)
        for i in range(0, COUNT, 3):
            mb.receive(mq.prefix(bytes([i])), timeout=30)  # some consumed, some pending
    assert os.path.getsize(queue) > COUNT * PAYLOAD
    return queue


def read_in_child(path, how):
    r = subprocess.run([PYTHON, "-c", READER, path, how], env=child_env(), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    n, digest, grew_kib = r.stdout.split()
    return int(n), digest, int(grew_kib)


def test_read_log_of_a_64_mib_log_keeps_peak_rss_under_16_mib_and_yields_what_the_eager_reading_does(big_log):
    n_lazy, digest_lazy, grew_lazy = read_in_child(big_log, "lazy")
    n_eager, digest_eager, grew_eager = read_in_child(big_log, "eager")
    assert n_lazy == n_eager == COUNT
    assert digest_lazy == digest_eager
    # The eager reading holds the log (twice: C++ and Python copies), which
    # shows the measurement sees a loaded log; the lazy one holds its buffer.
    assert grew_eager > COUNT * PAYLOAD // 1024
    assert grew_lazy < 16 * 1024, "peak RSS grew by %d KiB reading lazily" % grew_lazy


def test_read_log_yields_states_in_log_order_like_the_eager_reading(big_log):
    lazy = [(seq, state, hashlib.sha256(p).digest()) for seq, state, p in mq.read_log(big_log)]
    eager = [(seq, state, hashlib.sha256(p).digest()) for seq, state, p in mq._mq._scan_log(big_log)]
    assert lazy == eager
    assert [s for _, s, _ in lazy] == ["consumed" if i % 3 == 0 else "pending" for i in range(COUNT)]


def test_read_log_abandoned_after_one_message_leaves_no_reading_thread_behind(big_log):
    threads_before = len(os.listdir("/proc/self/task"))
    for _ in range(20):
        it = mq.read_log(big_log)
        seq, _, _ = next(it)
        assert seq == 1
        it.close()
        assert list(it) == []
    for _ in range(20):
        it = mq.read_log(big_log)
        next(it)
        del it  # dropped without close()
    assert len(os.listdir("/proc/self/task")) == threads_before
