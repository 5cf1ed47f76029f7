#!/usr/bin/env python3
"""Python receive benchmark (docs/python.md, "Speed"): a Python actor
receiving 64-byte messages that another process sends, side by side in one
run:

  mq_none, mq_batch   mq.Mailbox, sync="none" and sync="batch" (durable)
  original            the original design's MessageQueue (bench/original_mq.py)
  zmq                 pyzmq PUSH/PULL over ipc:// (not durable): the reference

and the selective receive of M messages behind B pending ones that do not
match (mq by prefix, by key and by a Python callable; the original with its
pattern; pyzmq with a Python list the receiver keeps), and mq's key receive
behind 10^3 and 10^6 pending messages.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py --out /tmp/python.json
    bench/run --only python        # the same, into bench/results/python.json

Writes Google Benchmark-shaped JSON (bench/report.py reads it) and prints a
table; every ratio is against the reference of the same run. Nothing here
asserts a time.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mq  # noqa: E402
import original_mq  # noqa: E402

SIZE = 64

# The sending process: raw sendto (mq and the original share it) or a zmq
# PUSH socket. Messages: <prefix><number>, padded to SIZE bytes.
SENDER = r'''
import sys
kind, target, plan = sys.argv[1], sys.argv[2], sys.argv[3:]
SIZE = %d
msgs = []
for item in plan:
    prefix, count = item.split(":")
    for i in range(int(count)):
        m = b"%%s%%07d" %% (prefix.encode(), i)
        msgs.append(m + b"." * (SIZE - len(m)))
if kind == "zmq":
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, 0)
    s.connect(target)
    for m in msgs:
        s.send(m)
    s.close(linger=-1)
    ctx.term()
else:
    import socket, time
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for m in msgs:
        while True:
            try:
                s.sendto(m, target)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.001)
''' % SIZE


def start_sender(kind, target, plan):
    return subprocess.Popen([sys.executable, "-c", SENDER, kind, target] + plan)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Scratch:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mqpybench", dir="/tmp")
        self.sock = os.path.join(self.dir, "s")
        self.queue = os.path.join(self.dir, "q")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def timed(receive_one, n):
    """Receives n messages; the clock starts at the first one (no process start-up)."""
    receive_one()
    t0 = time.perf_counter()
    for _ in range(n - 1):
        receive_one()
    return (time.perf_counter() - t0) / (n - 1)


# ---------------------------------------------------------------- throughput

def throughput_mq(n, sync):
    sc = Scratch()
    try:
        with mq.Mailbox(socket=sc.sock, queue=sc.queue, sync=sync) as mb:
            p = start_sender("dgram", sc.sock, ["m:%d" % n])
            per = timed(lambda: mb.receive(timeout=60), n)
            p.wait()
        return per
    finally:
        sc.close()


def receive_stored_mq(n):
    """Receive alone: n messages already stored (sync=none), then received."""
    sc = Scratch()
    try:
        with mq.Mailbox(socket=sc.sock, queue=sc.queue, sync="none") as mb:
            p = start_sender("dgram", sc.sock, ["m:%d" % n])
            p.wait()
            while mb.stats()["stored"] < n:
                time.sleep(0.01)
            return timed(lambda: mb.receive(timeout=0), n)
    finally:
        sc.close()


def throughput_original(n):
    sc = Scratch()
    try:
        q = original_mq.MessageQueue(sc.sock, sc.queue, 4096)
        p = start_sender("dgram", sc.sock, ["m:%d" % n])
        per = timed(lambda: q.receive(lambda buf: buf), n)
        p.wait()
        q.close()
        return per
    finally:
        sc.close()


def zmq_pull(sc):
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.setsockopt(zmq.RCVHWM, 0)
    s.bind("ipc://" + sc.sock)
    return ctx, s


def throughput_zmq(n):
    sc = Scratch()
    try:
        ctx, s = zmq_pull(sc)
        p = start_sender("zmq", "ipc://" + sc.sock, ["m:%d" % n])
        per = timed(s.recv, n)
        p.wait()
        s.close()
        ctx.term()
        return per
    finally:
        sc.close()


# ---------------------------------------------------------------- selective receive

def is_a(buf):
    if buf[:1] == b"a":
        return buf
    raise mq.NoMatch(buf)


def original_is_a(buf):
    if buf[:1] == b"a":
        return buf
    raise original_mq.NoMatch(buf)


def is_go(buf):
    if buf[:1] == b"g":
        return buf
    raise mq.NoMatch(buf)


def original_is_go(buf):
    if buf[:1] == b"g":
        return buf
    raise original_mq.NoMatch(buf)


def selective_plan(backlog, m):
    # B messages that never match, then m that do, then one "go" that ends
    # the untimed filling (everything before it is in the queue by then).
    return ["x:%d" % backlog, "a:%d" % m, "g:1"]


def selective_mq(backlog, m, how):
    sc = Scratch()
    try:
        key = "first:1" if how == "key" else None
        with mq.Mailbox(socket=sc.sock, queue=sc.queue, sync="none", key=key) as mb:
            p = start_sender("dgram", sc.sock, selective_plan(backlog, m))
            mb.receive(mq.prefix(b"g"), timeout=300)
            p.wait()
            pattern = {"prefix": mq.prefix(b"a"), "key": mq.key(b"a"), "callable": is_a}[how]
            return timed(lambda: mb.receive(pattern, timeout=0), m)
    finally:
        sc.close()


def selective_original(backlog, m):
    sc = Scratch()
    try:
        q = original_mq.MessageQueue(sc.sock, sc.queue, 4096)
        p = start_sender("dgram", sc.sock, selective_plan(backlog, m))
        q.receive(original_is_go)
        p.wait()
        per = timed(lambda: q.receive(original_is_a), m)
        q.close()
        return per
    finally:
        sc.close()


def selective_zmq(backlog, m):
    sc = Scratch()
    try:
        ctx, s = zmq_pull(sc)
        saved = []  # what a pyzmq actor keeps itself to receive selectively

        def receive(pred):
            for i, buf in enumerate(saved):
                if pred(buf):
                    return saved.pop(i)
            while True:
                buf = s.recv()
                if pred(buf):
                    return buf
                saved.append(buf)

        p = start_sender("zmq", "ipc://" + sc.sock, selective_plan(backlog, m))
        receive(lambda b: b[:1] == b"g")
        p.wait()
        per = timed(lambda: receive(lambda b: b[:1] == b"a"), m)
        s.close()
        ctx.term()
        return per
    finally:
        sc.close()


# ---------------------------------------------------------------- key behind K

def key_behind(k, m):
    """m receives by key, each of the only message with its key, behind k
    pending messages with other keys (key extractor until:-)."""
    sc = Scratch()
    try:
        with mq.Mailbox(socket=sc.sock, queue=sc.queue, sync="none", key="until:-") as mb:
            # filler keys f0000000..., targets t0000000...; "-" ends the key.
            code = r'''
import socket, sys
k, m, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
pad = lambda b: b + b"." * (%d - len(b))
for i in range(k):
    s.sendto(pad(b"f%%07d-" %% i), path)
for i in range(m):
    s.sendto(pad(b"t%%07d-" %% i), path)
s.sendto(pad(b"go-"), path)
''' % SIZE
            subprocess.run([sys.executable, "-c", code, str(k), str(m), sc.sock], check=True)
            mb.receive(mq.key(b"go"), timeout=600)
            assert mb.stats()["pending"] == k + m
            # The best of 5 rounds of m/5 receives: the index writer may still
            # be applying the fill at first (the C++ bench waits for it).
            i = iter(range(m))
            return [timed(lambda: mb.receive(mq.key(b"t%07d" % next(i)), timeout=0), m // 5) for _ in range(5)]
    finally:
        sc.close()


# ---------------------------------------------------------------- main

def median_of(reps, fn, *args):
    """The median of `reps` runs (the systems take turns, so a burst of load
    from elsewhere does not fall on one system only)."""
    runs = sorted(fn(*args) for _ in range(reps))
    return runs[len(runs) // 2]


def row(name, per_s, n, ref=None):
    r = {"name": name, "run_type": "iteration", "iterations": n, "real_time": per_s * 1e9,
         "cpu_time": per_s * 1e9, "time_unit": "ns", "items_per_second": 1.0 / per_s}
    if ref:
        r["mq_ratio_to_reference"] = ref / per_s
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="where to write the JSON")
    ap.add_argument("--quick", action="store_true", help="smaller counts (under a minute)")
    ap.add_argument("--million", dest="million", action="store_true", default=None,
                    help="measure the key receive behind 10^6 pending (default: on unless --quick)")
    ap.add_argument("--no-million", dest="million", action="store_false")
    ap.add_argument("--only-key", action="store_true", help="only the key receive behind 10^3 and 10^6")
    a = ap.parse_args()
    n = 5000 if a.quick else 30000
    backlog, m = (300, 100) if a.quick else (1000, 300)
    million = (not a.quick) if a.million is None else a.million
    reps = 1 if a.quick else 3
    load_start = loadavg()
    rows = []

    if not a.only_key:
        print("throughput: %d messages of %d bytes, one sending process, median of %d" % (n, SIZE, reps), flush=True)
        runs = {k: [] for k in ("zmq", "mq_none", "mq_batch", "original", "mq_stored")}
        for _ in range(reps):
            runs["zmq"].append(throughput_zmq(n))
            runs["mq_none"].append(throughput_mq(n, "none"))
            runs["mq_batch"].append(throughput_mq(n, "batch"))
            runs["original"].append(throughput_original(n))
            runs["mq_stored"].append(receive_stored_mq(n))
        med = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
        ref = med["zmq"]
        results = [("py_recv/" + k, v) for k, v in med.items()]
        for name, per in results:
            rows.append(row(name + "/size=%d" % SIZE, per, n, ref))
            print("  %-18s %9.0f msg/s  %5.2fx pyzmq" % (name.split("/")[1], 1 / per, ref / per), flush=True)

        print("selective: %d receives behind %d pending that do not match" % (m, backlog), flush=True)
        ref = median_of(reps, selective_zmq, backlog, m)
        results = [("py_select/zmq_list", ref),
                   ("py_select/mq_prefix", median_of(reps, selective_mq, backlog, m, "prefix")),
                   ("py_select/mq_key", median_of(reps, selective_mq, backlog, m, "key")),
                   ("py_select/mq_callable", median_of(reps, selective_mq, backlog, m, "callable")),
                   ("py_select/original", median_of(reps, selective_original, backlog, m))]
        for name, per in results:
            rows.append(row(name + "/backlog=%d" % backlog, per, m, ref))
            print("  %-18s %9.1f µs/receive  %6.2fx pyzmq+list" % (name.split("/")[1], per * 1e6, ref / per),
                  flush=True)

    if million or a.only_key:
        print("key receive behind K pending (mq, best of 5 rounds of 200 receives)", flush=True)
        for k in (1000, 1000000):
            rounds = key_behind(k, 1000)
            r = row("py_key_behind/mq/backlog=%d" % k, min(rounds), 1000)
            r["mq_rounds_ns"] = [x * 1e9 for x in rounds]
            rows.append(r)
            print("  behind %7d: best %.1f µs per receive; rounds %s µs" %
                  (k, min(rounds) * 1e6, " ".join("%.1f" % (x * 1e6) for x in rounds)), flush=True)
        small, big = rows[-2]["real_time"], rows[-1]["real_time"]
        print("  10^6 / 10^3: %.2fx" % (big / small), flush=True)

    context = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_start": load_start,
               "loadavg_end": loadavg(), "python": sys.version.split()[0], "pyzmq": __import__("zmq").__version__,
               "mode": "quick" if a.quick else "full", "size": SIZE,
               "module": os.path.relpath(mq._mq.__file__, os.path.dirname(HERE))}
    print("load average: %s at the start, %s at the end" % (load_start, context["loadavg_end"]))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"context": context, "benchmarks": rows}, f, indent=1)


if __name__ == "__main__":
    main()
