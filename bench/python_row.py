#!/usr/bin/env python3
"""One throughput row of bench/python_bench.py, alone, for `perf stat` or
`perf record` of the receiving process and its sender (bench/analysis.md,
"At max_dgram_qlen 10, session of 2026-12-08"):

    PYTHONPATH=build-bench/python perf stat -e task-clock,context-switches \\
        /usr/bin/python3 bench/python_row.py mq_batch_many_conf 100000

Uses the C++ sender and sink in build-bench/bench. Prints the rate, both
processes' CPU per message and the datagrams a wakeup.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import python_bench as pb  # noqa: E402

ROWS = {
    "zmq": lambda n: pb.throughput_zmq(n),
    "dgram_c": lambda n: pb.throughput_dgram_c(n),
    "mq_none_many": lambda n: pb.throughput_mq(n, "none", many=True),
    "mq_batch_many": lambda n: pb.throughput_mq(n, "batch", many=True),
    "mq_batch_conf": lambda n: pb.throughput_mq(n, "batch", sender="confirmed"),
    "mq_none_many_conf": lambda n: pb.throughput_mq(n, "none", many=True, sender="confirmed"),
    "mq_batch_many_conf": lambda n: pb.throughput_mq(n, "batch", many=True, sender="confirmed"),
    "mq_batch_pysend_conf": lambda n: pb.throughput_mq(n, "batch", many=True, sender="py_send_async_many"),
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ROWS:
        sys.exit("usage: python_row.py {%s} COUNT" % ",".join(ROWS))
    bench = os.path.join(os.path.dirname(HERE), "build-bench", "bench")
    pb.C_SENDER = os.path.join(bench, "mq_bench_py_sender")
    pb.C_SINK = os.path.join(bench, "mq_bench_dgram_sink")
    n = int(sys.argv[2])
    per = ROWS[sys.argv[1]](n)
    print("%s: %.0f msg/s, %.2f µs CPU a message, %.1f datagrams a wakeup" %
          (sys.argv[1], 1 / per, pb.LAST_CPU[0] * 1e6, pb.LAST_BATCH[0]))


if __name__ == "__main__":
    main()
