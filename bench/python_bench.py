#!/usr/bin/env python3
"""Python receive benchmark (docs/python.md, "Speed"): a Python actor
receiving 64-byte messages that another process sends, side by side in one
run:

  mq_none, mq_batch   mq.Mailbox, sync="none" and sync="batch" (durable),
                      one mb.receive() per message
  mq_*_many           the same with mb.receive_many(): every message pending
                      already, in one call
  original            the original design's MessageQueue (bench/original_mq.py)
  zmq                 pyzmq PUSH/PULL over ipc:// (not durable): the reference
  dgram               a bare AF_UNIX datagram socket, socket.recv() (not
                      durable): the ceiling of mq's transport, same sender
  dgram_sendto        the same, the sender making one send() per message
  dgram_c             the same datagrams read by a bare C++ receiver
                      (bench/dgram_sink.cc, recvmmsg 64 a call): the ceiling
                      of any one-datagram-per-message receiver here
  mq_batch_pysend     mq_batch_many with a Python sender: mq.Sender.send_many
  mq_batch_pysend_conf  mq_batch_many with a Python confirmed sender:
                      ConfirmedSender.send_async_many (packed), window 8192
  mq_*_conf           with the C++ sender's "confirmed" kind: one
                      mq::ConfirmedSender, pipelined, whose datagrams carry
                      up to 64 messages once the mailbox offers packs; every
                      message confirmed stored (durable at sync=batch)

The sender is a separate process. With --sender (bench/run passes it) it is
bench/py_sender.cc, C++: datagrams 64 a sendmmsg (--send-kind), or libzmq
PUSH; so the sender is not what limits the receiver. Without it, Python
senders (a socket.sendto() loop, a pyzmq PUSH socket), as before.

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


# The Python sender with batched sends: mq.Sender.send_many (sendmmsg).
PY_SEND_MANY = r'''
import sys, time, mq
target, plan = sys.argv[1], sys.argv[2:]
msgs = []
for item in plan:
    prefix, count = item.split(":")
    for i in range(int(count)):
        m = b"%%s%%07d" %% (prefix.encode(), i)
        msgs.append(m + b"." * (%d - len(m)))
while True:
    try:
        s = mq.Sender(target, retry_for=60)
        break
    except (mq.NotFound, mq.IOError):
        time.sleep(0.001)
with s:
    s.send_many(msgs)
''' % SIZE

# The Python confirmed sender: ConfirmedSender.send_async_many (packed).
PY_SEND_ASYNC_MANY = r'''
import sys, time, mq
target, plan = sys.argv[1], sys.argv[2:]
msgs = []
for item in plan:
    prefix, count = item.split(":")
    for i in range(int(count)):
        m = b"%%s%%07d" %% (prefix.encode(), i)
        msgs.append(m + b"." * (%d - len(m)))
with mq.ConfirmedSender(target, window=8192, connect_retry=60) as s:
    s.send_async_many(msgs)
    bad = [c for c in s.wait() if not c.ok]
sys.exit(1 if bad else 0)
''' % SIZE

C_SENDER = None      # --sender: bench/py_sender.cc
C_DGRAM = "sendmmsg"  # --send-kind
C_SINK = None        # bench/dgram_sink.cc, found next to the C++ sender


def start_sender(kind, target, plan):
    """kind: "zmq", "dgram" (C_DGRAM with the C sender), "sendto" (C only),
    "confirmed" (C only: mq::ConfirmedSender, pipelined, packed),
    or "py_send_many" (Python, mq.Sender.send_many)."""
    if kind == "py_send_many":
        return subprocess.Popen([sys.executable, "-c", PY_SEND_MANY, target] + plan)
    if kind == "py_send_async_many":
        return subprocess.Popen([sys.executable, "-c", PY_SEND_ASYNC_MANY, target] + plan)
    if C_SENDER:
        ckind = {"zmq": "zmq", "dgram": C_DGRAM, "sendto": "sendto", "confirmed": "confirmed"}[kind]
        return subprocess.Popen([C_SENDER, ckind, target] + plan)
    return subprocess.Popen([sys.executable, "-c", SENDER, "zmq" if kind == "zmq" else "dgram", target] + plan)


# CPU seconds per message of the last throughput run, both processes: the
# receiver's (every thread: the mailbox's ingest thread, pyzmq's I/O thread)
# and the sender's (its whole life). On a machine where every core is busy
# with other work, a rate is stretched by waiting for a core and CPU time is
# the steadier measure.
LAST_CPU = [0.0]


class CpuMeter:
    def __init__(self):
        self.t0 = time.process_time()

    def done(self, p, n):
        """Waits for the sender p; sets LAST_CPU to both processes' CPU per message."""
        recv = time.process_time() - self.t0
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:  # e.g. a confirmed sender with a message not confirmed stored
            raise RuntimeError("the sending process exited with status %d" % p.returncode)
        LAST_CPU[0] = (recv + ru.ru_utime + ru.ru_stime) / n


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

def timed_many(mb, n, timeout):
    """Receives n messages with receive_many; the clock starts after the
    first batch, and the time is divided by the messages after it."""
    first = len(mb.receive_many(timeout=timeout))
    got = first
    t0 = time.perf_counter()
    while got < n:
        got += len(mb.receive_many(timeout=timeout))
    return (time.perf_counter() - t0) / max(1, got - first)


def throughput_mq(n, sync, many=False, sender="dgram"):
    sc = Scratch()
    try:
        cpu = CpuMeter()
        with mq.Mailbox(socket=sc.sock, queue=sc.queue, sync=sync) as mb:
            p = start_sender(sender, sc.sock, ["m:%d" % n])
            per = timed_many(mb, n, 60) if many else timed(lambda: mb.receive(timeout=60), n)
            st = mb.stats()
            LAST_BATCH[0] = st["datagrams"] / max(1, st["batches"])
        cpu.done(p, n)
        return per
    finally:
        sc.close()


def receive_stored_mq(n, many=False):
    """Receive alone: n messages already stored (sync=none), then received."""
    sc = Scratch()
    try:
        with mq.Mailbox(socket=sc.sock, queue=sc.queue, sync="none") as mb:
            p = start_sender("dgram", sc.sock, ["m:%d" % n])
            p.wait()
            while mb.stats()["stored"] < n:
                time.sleep(0.01)
            ready = os.environ.get("MQ_PROFILE_READY")
            if ready:  # bench/profile_python.sh: attach the profiler now, to the receiving alone
                with open(ready + ".tmp", "w") as f:
                    f.write("%d\n" % os.getpid())
                os.rename(ready + ".tmp", ready)
                time.sleep(1.0)
            return timed_many(mb, n, 0) if many else timed(lambda: mb.receive(timeout=0), n)
    finally:
        sc.close()


def throughput_original(n):
    sc = Scratch()
    try:
        cpu = CpuMeter()
        q = original_mq.MessageQueue(sc.sock, sc.queue, 4096)
        p = start_sender("dgram", sc.sock, ["m:%d" % n])
        per = timed(lambda: q.receive(lambda buf: buf), n)
        cpu.done(p, n)
        q.close()
        return per
    finally:
        sc.close()


# Datagrams per wakeup of the last run's receiver: mq's ingest batches
# (stats: datagrams / batches), the C++ sink's recvmmsg calls. At most
# net.unix.max_dgram_qlen + 1 datagrams can be queued for a reader.
LAST_BATCH = [0.0]


def throughput_dgram_c(n):
    """The bare C++ receiver (bench/dgram_sink.cc) of the C++ sender's
    datagrams: no Python, nothing stored. Its own clock and CPU time."""
    sc = Scratch()
    try:
        sink = subprocess.Popen([C_SINK, sc.sock, str(n)], stdout=subprocess.PIPE, text=True)
        p = start_sender("dgram", sc.sock, ["m:%d" % n])
        out, _ = sink.communicate(timeout=600)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if sink.returncode != 0 or p.returncode != 0:
            raise RuntimeError("mq_bench_dgram_sink or the sender failed: %r" % out)
        f = dict(kv.split("=") for kv in out.split())
        LAST_CPU[0] = float(f["cpu_per_message_s"]) + (ru.ru_utime + ru.ru_stime) / n
        LAST_BATCH[0] = float(f["per_call"])
        return float(f["per_message_s"])
    finally:
        sc.close()


def throughput_dgram(n, sender="dgram"):
    """The transport mq receives from, bare: the same sender, a Python
    socket.recv() per message, nothing stored."""
    sc = Scratch()
    try:
        cpu = CpuMeter()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sc.sock)
        p = start_sender(sender, sc.sock, ["m:%d" % n])
        per = timed(lambda: s.recv(4096), n)
        cpu.done(p, n)
        s.close()
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
        cpu = CpuMeter()
        ctx, s = zmq_pull(sc)
        p = start_sender("zmq", "ipc://" + sc.sock, ["m:%d" % n])
        per = timed(s.recv, n)
        cpu.done(p, n)
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
    ap.add_argument("--only-throughput", action="store_true", help="only the receive throughput")
    ap.add_argument("--sender", help="the C++ sender (bench/py_sender.cc, mq_bench_py_sender); "
                    "without it the senders are Python processes")
    ap.add_argument("--send-kind", choices=("sendmmsg", "sendto"), default="sendmmsg",
                    help="how the C++ sender sends datagrams (default sendmmsg, 64 a call)")
    ap.add_argument("--only-stored", choices=("receive", "receive_many"), metavar="HOW",
                    help="only the receive of n messages already stored, with receive or receive_many "
                         "(bench/profile_python.sh); prints the time per message")
    a = ap.parse_args()
    global C_SENDER, C_DGRAM, C_SINK
    if a.sender:
        if not os.access(a.sender, os.X_OK):
            ap.error("--sender %s: not an executable (build mq_bench_py_sender)" % a.sender)
        C_SENDER, C_DGRAM = os.path.abspath(a.sender), a.send_kind
        sink = os.path.join(os.path.dirname(C_SENDER), "mq_bench_dgram_sink")
        C_SINK = sink if os.access(sink, os.X_OK) else None
    n = 5000 if a.quick else 100000
    backlog, m = (300, 100) if a.quick else (1000, 300)
    million = (not a.quick) if a.million is None else a.million
    reps = 1 if a.quick else 3
    load_start = loadavg()
    rows = []

    if a.only_stored:
        count = int(os.environ.get("MQ_PROFILE_COUNT", "300000"))
        per = receive_stored_mq(count, many=a.only_stored == "receive_many")
        print("%s, %d messages already stored: %.2f µs per message (%.0f msg/s)" %
              (a.only_stored, count, per * 1e6, 1 / per), flush=True)
        return

    if not a.only_key:
        print("throughput: %d messages of %d bytes, one sending process, median of %d" % (n, SIZE, reps), flush=True)
        print("sender: %s" % (("C++ %s, %s" % (os.path.basename(C_SENDER), C_DGRAM)) if C_SENDER else "Python"),
              flush=True)
        runs = {k: [] for k in ("zmq", "dgram_c", "dgram", "dgram_sendto", "mq_none", "mq_batch", "mq_none_many",
                                "mq_batch_many", "mq_batch_pysend", "mq_batch_conf", "mq_none_many_conf",
                                "mq_batch_many_conf", "mq_batch_pysend_conf", "original", "mq_stored",
                                "mq_stored_many")}
        if not C_SENDER:
            for k in ("dgram_sendto", "mq_batch_conf", "mq_none_many_conf", "mq_batch_many_conf"):
                del runs[k]
        if not C_SINK:
            del runs["dgram_c"]
        cpu_runs = {k: [] for k in runs}
        batch_runs = {k: [] for k in runs}
        for _ in range(reps):
            runs["zmq"].append(throughput_zmq(n))
            cpu_runs["zmq"].append(LAST_CPU[0])
            if C_SINK:
                runs["dgram_c"].append(throughput_dgram_c(n))
                cpu_runs["dgram_c"].append(LAST_CPU[0])
                batch_runs["dgram_c"].append(LAST_BATCH[0])
            runs["dgram"].append(throughput_dgram(n))
            cpu_runs["dgram"].append(LAST_CPU[0])
            if C_SENDER:
                runs["dgram_sendto"].append(throughput_dgram(n, "sendto"))
                cpu_runs["dgram_sendto"].append(LAST_CPU[0])
            runs["mq_none"].append(throughput_mq(n, "none"))
            cpu_runs["mq_none"].append(LAST_CPU[0])
            batch_runs["mq_none"].append(LAST_BATCH[0])
            runs["mq_batch"].append(throughput_mq(n, "batch"))
            cpu_runs["mq_batch"].append(LAST_CPU[0])
            batch_runs["mq_batch"].append(LAST_BATCH[0])
            runs["mq_none_many"].append(throughput_mq(n, "none", many=True))
            cpu_runs["mq_none_many"].append(LAST_CPU[0])
            batch_runs["mq_none_many"].append(LAST_BATCH[0])
            runs["mq_batch_many"].append(throughput_mq(n, "batch", many=True))
            cpu_runs["mq_batch_many"].append(LAST_CPU[0])
            batch_runs["mq_batch_many"].append(LAST_BATCH[0])
            runs["mq_batch_pysend"].append(throughput_mq(n, "batch", many=True, sender="py_send_many"))
            cpu_runs["mq_batch_pysend"].append(LAST_CPU[0])
            batch_runs["mq_batch_pysend"].append(LAST_BATCH[0])
            if C_SENDER:  # the C++ ConfirmedSender: pipelined, packed (64 messages a datagram)
                for k, sync, many in (("mq_batch_conf", "batch", False), ("mq_none_many_conf", "none", True),
                                      ("mq_batch_many_conf", "batch", True)):
                    runs[k].append(throughput_mq(n, sync, many=many, sender="confirmed"))
                    cpu_runs[k].append(LAST_CPU[0])
                    batch_runs[k].append(LAST_BATCH[0])
            runs["mq_batch_pysend_conf"].append(throughput_mq(n, "batch", many=True, sender="py_send_async_many"))
            cpu_runs["mq_batch_pysend_conf"].append(LAST_CPU[0])
            batch_runs["mq_batch_pysend_conf"].append(LAST_BATCH[0])
            runs["original"].append(throughput_original(n))
            cpu_runs["original"].append(LAST_CPU[0])
            runs["mq_stored"].append(receive_stored_mq(n))
            runs["mq_stored_many"].append(receive_stored_mq(n, many=True))
        med = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
        med_cpu = {k: sorted(v)[len(v) // 2] for k, v in cpu_runs.items() if v}
        med_batch = {k: sorted(v)[len(v) // 2] for k, v in batch_runs.items() if v}
        ref = med["zmq"]
        results = [("py_recv/" + k, v) for k, v in med.items()]
        for name, per in results:
            r = row(name + "/size=%d" % SIZE, per, n, ref)
            k = name.split("/")[1]
            cpu = med_cpu.get(k)
            if cpu is not None:  # both processes' CPU per message (the stored rows have no sender)
                r["mq_cpu_us_per_message"] = cpu * 1e6
            if k in med_batch:
                r["mq_datagrams_per_wakeup"] = med_batch[k]
            rows.append(r)
            print("  %-18s %9.0f msg/s  %5.2fx pyzmq%s%s" % (k, 1 / per, ref / per,
                  "  %5.1f µs CPU/msg (%.2fx pyzmq's)" % (cpu * 1e6, cpu / med_cpu["zmq"]) if cpu else "",
                  "  %4.1f datagrams/wakeup" % med_batch[k] if k in med_batch else ""),
                  flush=True)

    if not a.only_key and not a.only_throughput:
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

    if (million and not a.only_throughput) or a.only_key:
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
               "sender": ("C++ " + C_DGRAM) if C_SENDER else "Python",
               "max_dgram_qlen": open("/proc/sys/net/unix/max_dgram_qlen").read().strip(),
               "module": os.path.relpath(mq._mq.__file__, os.path.dirname(HERE))}
    print("load average: %s at the start, %s at the end" % (load_start, context["loadavg_end"]))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"context": context, "benchmarks": rows}, f, indent=1)


if __name__ == "__main__":
    main()
