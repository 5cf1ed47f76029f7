#!/usr/bin/python3
"""bench/ab.py: the same benchmarks from two builds, interleaved, compared as ratios.

    bench/ab.py --a OLD_BUILD --b NEW_BUILD [--rounds 5] [--set NAME=BINARY:FILTER ...]

OLD_BUILD and NEW_BUILD are build directories holding bench/mq_bench_* (for
example a worktree of the old commit built with -DMQ_BUILD_BENCH=ON, and
build-bench/ of this one). Each round runs every set once with A and once
with B, back to back, alternating which goes first, so that both see the same
load. For each benchmark it prints the median over the rounds of B's rate
divided by A's (items per second where the benchmark counts items, else the
inverse of its real time), with the lowest and highest ratio, and the load
average at the start and the end. A ratio above 1 means B is faster.
Nothing here asserts a time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

DEFAULT_SETS = [
    "append=mq_bench_append:^append/mq/size=(16|1024)/batch=(1|256)/sync=none/keyed=(0|1)/",
    "receive=mq_bench_receive:^(recv/mq-(key|pred)/backlog=(1000|100000)/|drain-order/mq/n=10000/|drain-reverse/mq-key/n=10000/)",
    "ingest=mq_bench_ingest:^ingest/mq/size=(64|1024)/sync=none/",
    "maintenance=mq_bench_maintenance:^maint/(reopen-after-kill|rebuild|compact|scanlog)/size=10MiB/",
]


def rate(b):
    if "items_per_second" in b:
        return float(b["items_per_second"])
    t = float(b["real_time"])
    return 1.0 / t if t > 0 else 0.0


def run(build, binary, flt, scratch):
    exe = os.path.join(build, "bench", binary)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    env = dict(os.environ, MQ_BENCH_DIR=scratch)
    subprocess.run([exe, "--benchmark_filter=" + flt, "--benchmark_out=" + out, "--benchmark_out_format=json"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    res = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        res.setdefault(b["name"], []).append(rate(b))
    return {k: statistics.median(v) for k, v in res.items()}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the reference build directory")
    ap.add_argument("--b", required=True, help="the build directory compared with it")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--set", action="append", help="NAME=BINARY:FILTER (default: append, receive, ingest, maintenance)")
    args = ap.parse_args()
    sets = []
    for s in args.set or DEFAULT_SETS:
        name, rest = s.split("=", 1)
        binary, flt = rest.split(":", 1)
        sets.append((name, binary, flt))
    scratch = os.environ.get("MQ_BENCH_DIR", tempfile.gettempdir())
    start_load = loadavg()
    ratios = {}
    for r in range(args.rounds):
        for name, binary, flt in sets:
            order = [("a", args.a), ("b", args.b)] if r % 2 == 0 else [("b", args.b), ("a", args.a)]
            got = {}
            for tag, build in order:
                got[tag] = run(build, binary, flt, scratch)
            for bench, ra in got["a"].items():
                rb = got["b"].get(bench)
                if rb is None or ra <= 0:
                    continue
                ratios.setdefault((name, bench), []).append(rb / ra)
        print(f"round {r + 1}/{args.rounds} done (load {loadavg()})", file=sys.stderr)
    end_load = loadavg()
    print(f"A: {args.a}\nB: {args.b}\nrounds: {args.rounds}, load average at start {start_load}, at end {end_load}\n")
    print("| set | benchmark | B/A, median | lowest | highest |")
    print("|---|---|---|---|---|")
    for (name, bench), v in ratios.items():
        print(f"| {name} | `{bench}` | {statistics.median(v):.3f} | {min(v):.3f} | {max(v):.3f} |")


if __name__ == "__main__":
    main()
