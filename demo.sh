#!/usr/bin/env bash
# The mq demo: durable Erlang-style mailboxes for actor processes, in under a
# minute (after the first build). It installs what is missing (./deps.sh),
# builds mqtool into build/, and then, in a temporary directory:
#   1. sends a0 a1 a2 b0 b1 b2 out of order the original way (Python's plain
#      socket.sendto), while the actor waits for something else;
#   2. receives them selectively, alternating prefix a and prefix b;
#   3. kills the receiving process with SIGKILL in the middle of a stream of
#      confirmed sends, restarts it, and shows that nothing confirmed is lost;
#   4. dumps the queue file.
# Everything it makes is removed at the end (keep it with KEEP=1).
# MQ_BUILD_DIR=dir builds there instead of build/.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

build=${MQ_BUILD_DIR:-build}
./deps.sh
say "Building mqtool (cmake into $build/)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target mqtool >/dev/null
mq="$(cd "$build" && pwd)/tools/mqtool"

work=$(mktemp -d "${TMPDIR:-/tmp}/mq-demo-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$work"
sock="$work/actor.sock"
queue="$work/actor.q"
start=$(date +%s)

# ---------------------------------------------------------------------------
say "1. An actor's mailbox is a Unix datagram socket plus a queue file"
note "The actor waits for a message starting with 'go'. Meanwhile a Python"
note "script sends a0 a1 a2 b0 b1 b2 with plain socket.sendto(), as the"
note "original 2006 design's driver did, and then 'go'."
"$mq" recv "$queue" --socket "$sock" --match prefix:go --timeout 20 >got-go.txt &
pids+=($!)
recv_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
python3 - "$sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for p in ('a', 'b'):
    for i in range(3):
        s.sendto(('%s%d' % (p, i)).encode(), sys.argv[1])
s.sendto(b'go', sys.argv[1])
EOF
wait "$recv_pid"
note "The actor received: $(cat got-go.txt)"
note "Everything else waits in the queue file, in arrival order, on disk:"
"$mq" dump "$queue" | sed 's/^/     /'

# ---------------------------------------------------------------------------
say "2. Selective receive: alternately the oldest 'a...' and the oldest 'b...'"
got=()
for _ in 1 2 3; do
  got+=("$("$mq" recv "$queue" --match prefix:a)")
  got+=("$("$mq" recv "$queue" --match prefix:b)")
done
note "received in this order: ${got[*]}"
note "(Erlang's receive: the oldest message that matches; the others stay, in order.)"

# ---------------------------------------------------------------------------
say "3. SIGKILL of the receiver in the middle of a stream of confirmed sends"
note "The receiver runs with sync=always and prints each message before it"
note "acknowledges it (--ack-after-print: at-least-once). A sender sends"
note "msg-1..msg-150, each confirmed: the mailbox answers with the message's"
note "sequence number only once it is on disk."
: >received.txt
"$mq" recv "$queue" --socket "$sock" --follow --sync always --ack-after-print >>received.txt &
recv_pid=$!
pids+=($recv_pid)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
(
  for i in $(seq 1 150); do
    if seq_no=$("$mq" send "$sock" --confirm --retry 10 "msg-$i" 2>/dev/null); then
      echo "msg-$i $seq_no" >>confirmed.txt
    else
      echo "msg-$i" >>unconfirmed.txt  # fate unknown: the mailbox died while it was in flight
    fi
  done
) &
sender_pid=$!
pids+=($sender_pid)
sleep 0.7
note "$(wc -l <confirmed.txt 2>/dev/null || echo 0) messages confirmed so far; now: kill -9 $recv_pid"
kill -9 "$recv_pid"
wait "$recv_pid" 2>/dev/null || true
note "The receiver is dead; its socket file is stale, and senders wait (--retry)."
sleep 0.3
note "Restarting the receiver (it replaces the stale socket and recovers the queue)."
"$mq" recv "$queue" --socket "$sock" --follow --sync always --ack-after-print >>received.txt &
recv_pid=$!
pids+=($recv_pid)
wait "$sender_pid"
sleep 0.3
kill -TERM "$recv_pid"
wait "$recv_pid" || true
# Anything still stored (none, normally) is received now, without the socket.
"$mq" recv "$queue" --follow --timeout 0 >>received.txt || true

confirmed=$(wc -l <confirmed.txt)
unconfirmed=$( [ -f unconfirmed.txt ] && wc -l <unconfirmed.txt || echo 0)
missing=0
while read -r msg _; do
  grep -qx "$msg" received.txt || { note "LOST: $msg"; missing=$((missing + 1)); }
done <confirmed.txt
dups=$(grep '^msg-' received.txt | sort | uniq -d | wc -l)
note "confirmed: $confirmed   unconfirmed (in flight at the kill): $unconfirmed"
note "received:  $(grep -c '^msg-' received.txt) lines, $dups printed twice (killed between print and ack)"
if [ -f unconfirmed.txt ]; then
  while read -r msg; do
    if grep -qx "$msg" received.txt; then
      note "$msg (unconfirmed) was stored after all and received"
    else
      note "$msg (unconfirmed) never reached the queue; its sender was told its fate is unknown"
    fi
  done <unconfirmed.txt
fi
if [ "$missing" -eq 0 ]; then
  note "every confirmed message was received: nothing lost."
else
  note "$missing confirmed messages were lost"
  exit 1
fi

# ---------------------------------------------------------------------------
say "4. The queue file, every message with its state (mqtool dump --all)"
"$mq" dump "$queue" --all >dump.txt
head -9 dump.txt | sed 's/^/     /'
note "  ..."
tail -2 dump.txt | sed 's/^/     /'
note "(mqtool stat says: $("$mq" stat "$queue" | grep -E 'messages (pending|consumed)' | tr -s ' ' | paste -sd ',' -))"
note "... $(("$(date +%s)" - start)) seconds in all. The queue keeps the original"
note "design's record layout, so the 2006 Python reader can still read it."
