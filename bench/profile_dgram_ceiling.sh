#!/usr/bin/env bash
# bench/profile_dgram_ceiling.sh [COUNT]: where one datagram a message spends
# its time with no Python and nothing stored (bench/analysis.md, "The
# Python receive at max_dgram_qlen 10"): bench/py_sender.cc's sendmmsg sender
# (mq::Sender::SendBatch, 64 a call) into bench/dgram_sink.cc (recvmmsg, 64 a
# call), COUNT datagrams of 64 B (default 300,000). The sink runs under
# perf stat (its context switches: one per wakeup), the sender under perf
# record (its CPU profile, kernel call chains). Writes
# bench/results/profiles/py-dgram-ceiling.txt. Uses build-bench (bench/run
# --only python builds both programs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count="${1:-300000}"
bin="$root/build-bench/bench"
out="$root/bench/results/profiles/py-dgram-ceiling.txt"
tmp=$(mktemp -d /tmp/mq-dgramprof.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
perf stat -e task-clock,context-switches -o "$tmp/sink.stat" "$bin/mq_bench_dgram_sink" "$tmp/s" "$count" > "$tmp/sink.out" &
sink=$!
while [ ! -S "$tmp/s" ]; do sleep 0.01; done
perf record -q -g -o "$tmp/send.data" "$bin/mq_bench_py_sender" sendmmsg "$tmp/s" "m:$count" 2>/dev/null
wait "$sink"
{
  echo "# bench/profile_dgram_ceiling.sh $count"
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$root" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg), max_dgram_qlen $(cat /proc/sys/net/unix/max_dgram_qlen)"
  echo
  echo "## the sink (mq_bench_dgram_sink): rate, recvmmsg calls, datagrams a call, its CPU a message"
  cat "$tmp/sink.out"
  grep -E "task-clock|context-switches|elapsed" "$tmp/sink.stat"
  echo
  echo "## the sender (mq_bench_py_sender sendmmsg): self time"
  perf report -i "$tmp/send.data" --no-children --percent-limit 2 --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" | cut -c1-160
  echo
  echo "## the sender: where its top symbol is reached from (caller chains above 3%)"
  perf report -i "$tmp/send.data" --no-children --percent-limit 20 --stdio -G 2>/dev/null |
    grep -vE "^#|^$" | grep -E "[0-9]+\.[0-9]+%|sendmmsg|poll|schedule|resched|wait_for_peer|sock_def|wake" | head -40 | cut -c1-160
} > "$out"
echo "bench/profile_dgram_ceiling.sh: wrote ${out#$root/}" >&2
