"""Reference leaks: 100,000 receives keep memory flat.

Two measures: Python's own allocations (tracemalloc: a leaked payload, Message
or callable result stays traced), and the resident anonymous memory (RssAnon;
the mapped log is file-backed and not counted). The store keeps some
per-message state of its own (about 55 bytes a message here, then flat), so
the RSS bound is set below what leaking the payloads would cost (> 25 MB).
"""
import os
import socket
import tracemalloc

import mq


def rss_anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon")


def test_100k_receives_keep_python_memory_and_rss_flat(d):
    path = os.path.join(d, "s")
    payload = b"p" * 256
    out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with mq.Mailbox(socket=path, queue=os.path.join(d, "q"), sync="none") as mb:
        def rounds(n, pattern):
            for _ in range(n // 500):
                for _ in range(500):
                    out.sendto(payload, path)
                for _ in range(500):
                    m = mb.receive(pattern, timeout=5)
                assert m.payload == payload and m.value is not None

        def first_byte(b):
            return b[:1]

        rounds(5000, mq.ANY)  # warm up: allocator pools, caches
        rounds(5000, first_byte)
        tracemalloc.start()
        rss_before = rss_anon_kib()
        py_before, _ = tracemalloc.get_traced_memory()
        rounds(50000, mq.ANY)
        rounds(50000, first_byte)
        py_after, _ = tracemalloc.get_traced_memory()
        rss_grown = rss_anon_kib() - rss_before
        tracemalloc.stop()
    out.close()
    assert py_after - py_before < 64 * 1024, "Python memory grew by %d bytes" % (py_after - py_before)
    assert rss_grown < 12 * 1024, "RSS grew by %d KiB over 100,000 receives" % rss_grown
