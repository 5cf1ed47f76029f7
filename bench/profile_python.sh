#!/usr/bin/env bash
# bench/profile_python.sh HOW NAME: a CPU profile (perf, DWARF call graphs) of
# the Python module receiving 300,000 messages already stored (sync=none),
# with mb.receive() (HOW=receive) or mb.receive_many() (HOW=receive_many),
# into bench/results/profiles/NAME.txt. perf attaches once the queue is
# filled, so the profile is the receiving alone (the process's threads: the
# Python caller, the mailbox's ingest and index writer, and its close).
# Uses the module in build-bench/python (bench/run builds it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
how="$1" name="$2"
out="$root/bench/results/profiles"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/mq-pyprof.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
MQ_PROFILE_READY="$tmp/pid" PYTHONPATH="$root/build-bench/python" \
  /usr/bin/python3 "$root/bench/python_bench.py" --only-stored "$how" > "$tmp/result" &
bench=$!
while [ ! -s "$tmp/pid" ]; do
  kill -0 "$bench" 2>/dev/null || { echo "bench/profile_python.sh: the benchmark ended early" >&2; exit 1; }
  sleep 0.1
done
perf record -q -F 999 --call-graph dwarf,16384 -o "$tmp/perf.data" -p "$(cat "$tmp/pid")" 2>/dev/null || true
wait "$bench"
{
  echo "# bench/profile_python.sh $how $name"
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$root" rev-parse --short HEAD)"
  cat "$tmp/result"
  echo
  echo "## self time (perf report --no-children)"
  perf report -i "$tmp/perf.data" --no-children --percent-limit 1 --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" | cut -c1-200
  echo
  echo "## inclusive time (perf report --children), top entries and every mq/pybind11 function above 0.5%"
  perf report -i "$tmp/perf.data" --children --percent-limit 0.5 --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" |
    awk '{ if (NR <= 15 || $0 ~ /mq::|mqpy::|pybind11::|Py[A-Z]/) print }' | cut -c1-200
} > "$out/$name.txt"
echo "bench/profile_python.sh: wrote ${out#$root/}/$name.txt" >&2
