#!/usr/bin/env bash
# bench/profile.sh BINARY FILTER NAME [extra flags, e.g. --mq_min_time=3]
# Records a CPU profile (perf, call graphs) of the benchmarks matching FILTER in
# build-bench/bench/mq_bench_BINARY and writes the flat profile (self time) and
# the callers of the hottest symbols to bench/results/profiles/NAME.txt. Used
# for the "Where the time goes" section of docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build-bench/bench/mq_bench_$1" filter="$2" name="$3"
shift 3
out="$root/bench/results/profiles"
mkdir -p "$out" "$root/build-bench/scratch"
data=$(mktemp /tmp/mq-perf.XXXXXX)
export MQ_BENCH_DIR="$root/build-bench/scratch"
{
  echo "# bench/profile.sh $(basename "$bin" | sed 's/^mq_bench_//') '$filter' $name $*"
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$root" rev-parse --short HEAD)"
  perf record -q -F 999 --call-graph dwarf,16384 -o "$data" "$bin" --benchmark_filter="$filter" "$@" 2>/dev/null | grep -E "^(Benchmark|[a-z])" || true
  echo
  echo "## self time (perf report --no-children)"
  perf report -i "$data" --no-children --percent-limit 1 --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" | cut -c1-200
  echo
  echo "## inclusive time (perf report --children), top entries and every mq:: function above 0.5%"
  perf report -i "$data" --children --percent-limit 0.5 --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" |
    awk '{ if (NR <= 15 || $0 ~ /mq::/) print }' | cut -c1-200
} > "$out/$name.txt"
rm -f "$data"
echo "bench/profile.sh: wrote ${out#$root/}/$name.txt" >&2
