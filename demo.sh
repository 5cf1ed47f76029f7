#!/usr/bin/env bash
# The mq demo: durable Erlang-style mailboxes for actor processes, in under a
# minute (after the first build). It installs what is missing (./deps.sh),
# builds mqtool into build/, and then, in a temporary directory:
#   1. sends a0 a1 a2 b0 b1 b2 out of order the original way (Python's plain
#      socket.sendto), while the actor waits for something else;
#   2. receives them selectively, alternating prefix a and prefix b;
#   3. kills the receiving process with SIGKILL in the middle of a stream of
#      confirmed sends, restarts it, and shows that nothing confirmed is lost;
#   4. dumps the queue file;
#   5. runs an actor under the supervisor mqsup, which owns its socket, and
#      kills it with SIGKILL three times in a stream of plain sendto
#      messages: nothing is lost, and a monitor gets three DOWN messages.
# Everything it makes is removed at the end (keep it with KEEP=1).
# MQ_BUILD_DIR=dir builds there instead of build/.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

build=${MQ_BUILD_DIR:-build}
./deps.sh
say "Building mqtool and mqsup (cmake into $build/)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target mqtool mqsup >/dev/null
mq="$(cd "$build" && pwd)/tools/mqtool"
mqsup="$(cd "$build" && pwd)/tools/mqsup"

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

# ---------------------------------------------------------------------------
say "5. A supervised actor: mqsup owns its socket; kill -9 it three times"
note "mqsup binds the actor's socket and hands it to each new instance"
note "(MQ_SOCKET_FD), so datagrams wait in the kernel while the actor restarts."
note "The actor: mqtool recv --follow --ack-after-print (take, print, ack)."
note "A monitor mailbox gets a DOWN message each time the actor exits."
"$mq" recv "$work/watch.q" --socket "$work/watch.sock" --follow --match prefix:DOWN >downs.txt &
watch_pid=$!
pids+=($watch_pid)
for _ in $(seq 100); do [ -S "$work/watch.sock" ] && break; sleep 0.05; done
cat >sup.toml <<TOML
[supervisor]
control = "$work/sup.sock"
intensity = 10
period = "10s"
backoff = { first = "0ms", cap = "0ms", jitter = 0.0 }

[[child]]
name = "actor"
command = ["$mq", "recv", "$work/sup-actor.q", "--socket", "$work/sup-actor.sock", "--follow", "--ack-after-print"]
socket = "$work/sup-actor.sock"
queue = "$work/sup-actor.q"
monitors = ["$work/watch.sock"]
TOML
"$mqsup" run sup.toml >sup-received.txt 2>sup.log &
sup_pid=$!
pids+=($sup_pid)
actor_pid() { { "$mqsup" status sup.toml --json 2>/dev/null || true; } | sed -n 's/.*"pid":\([0-9]*\).*/\1/p'; }
for _ in $(seq 100); do p=$(actor_pid); [ -n "$p" ] && [ "$p" != 0 ] && break; sleep 0.05; done
note "Python sends sup-0..sup-599 with plain socket.sendto(), no confirmation;"
note "meanwhile the actor is killed with SIGKILL three times:"
python3 - "$work/sup-actor.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(600):
    s.sendto(b'sup-%d' % i, sys.argv[1])
    time.sleep(0.003)
PY
py_pid=$!
pids+=($py_pid)
for _ in $(seq 100); do grep -q '^sup-' sup-received.txt && break; sleep 0.05; done
for _ in 1 2 3; do
  sleep 0.4
  victim=$(actor_pid)
  kill -9 "$victim"
  note "  kill -9 $victim ($(grep -c '^sup-' sup-received.txt) printed so far)"
done
wait "$py_pid"
for _ in $(seq 200); do
  [ "$(grep '^sup-' sup-received.txt | sort -u | wc -l)" -ge 600 ] && break
  sleep 0.05
done
"$mqsup" status sup.toml | sed 's/^/     /'
"$mqsup" stop sup.toml >/dev/null
wait "$sup_pid" || true
for _ in $(seq 100); do [ "$(grep -c '^DOWN' downs.txt)" -ge 4 ] && break; sleep 0.05; done
kill -TERM "$watch_pid"
wait "$watch_pid" 2>/dev/null || true
note "The monitor's mailbox received (and one more when mqsup stop ended it):"
grep 'signal:KILL' downs.txt | sed 's/^/     /'
unique=$(grep '^sup-' sup-received.txt | sort -u | wc -l)
twice=$(grep '^sup-' sup-received.txt | sort | uniq -d | paste -sd ' ' -)
note "sent 600 with plain sendto; printed $unique distinct: $((600 - unique)) lost."
note "printed twice: ${twice:-none} (killed between its print and its ack:"
note "take+ack delivers such a message again rather than lose it)."
[ "$unique" -eq 600 ] || { note "messages were lost"; exit 1; }

# 6. Between hosts (docs/bridge.md): only where libnats and nats-server are
# installed; it runs in a few seconds.
if pkg-config --exists libnats 2>/dev/null && command -v nats-server >/dev/null 2>&1; then
  say "6. Between hosts: host A's sendto reaches host B's actor through NATS JetStream"
  case "$build" in /*) build_abs=$build ;; *) build_abs=$root/$build ;; esac
  cmake --build "$build_abs" -j "$(nproc 2>/dev/null || echo 2)" --target mqbridge >/dev/null
  mqbridge="$build_abs/tools/mqbridge"
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p nats-store
  nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/nats-store" >nats.log 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  for n in A B; do
    {
      printf '[bridge]\nnode = "%s"\nurls = ["nats://127.0.0.1:%s"]\nstate = "%s"\n' "$n" "$port" "$work/bridge-$n"
      if [ "$n" = A ]; then
        printf '[[remote]]\nnode = "B"\nactor = "orders"\nsocket = "%s"\n' "$work/B-orders.sock"
      else
        printf '[[local]]\nactor = "orders"\nsocket = "%s"\n' "$work/orders.sock"
      fi
    } >"bridge-$n.toml"
  done
  note "host B's actor: mqtool recv on its own mailbox orders.sock"
  : >b-received.txt
  "$mq" recv "$work/orders.q" --socket "$work/orders.sock" --follow --ack-after-print >>b-received.txt &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$work/orders.sock" ] && break; sleep 0.05; done
  "$mqbridge" run bridge-A.toml 2>bridge-A.log &
  bridge_a=$!
  pids+=($bridge_a)
  "$mqbridge" run bridge-B.toml 2>bridge-B.log &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$work/B-orders.sock" ] && break; sleep 0.05; done
  note "on host A, Python sends order-0..order-299 with plain sendto() to B-orders.sock,"
  note "the proxy for B's actor (a mailbox: on A's disk before it leaves); host A's"
  note "bridge is killed with SIGKILL and restarted in the middle of the stream:"
  python3 - "$work/B-orders.sock" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(150):
    s.sendto(b'order-%d' % i, sys.argv[1])
PY
  for _ in $(seq 100); do [ "$(grep -c '^order-' b-received.txt)" -ge 10 ] && break; sleep 0.01; done
  note "  kill -9 $bridge_a ($(grep -c '^order-' b-received.txt) printed on B so far)"
  kill -9 "$bridge_a"
  wait "$bridge_a" 2>/dev/null || true
  "$mqbridge" run bridge-A.toml 2>>bridge-A.log &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$work/B-orders.sock" ] && break; sleep 0.05; done
  python3 - "$work/B-orders.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(150, 300):
    s.sendto(b'order-%d' % i, sys.argv[1])
PY
  for _ in $(seq 200); do [ "$(grep -c '^order-' b-received.txt)" -ge 300 ] && break; sleep 0.05; done
  got=$(grep '^order-' b-received.txt | sort -u | wc -l)
  twice=$(grep '^order-' b-received.txt | sort | uniq -d | wc -l)
  note "host B's actor printed $got distinct of 300 ($((300 - got)) lost, $twice twice),"
  note "first and last: $(head -1 b-received.txt), $(grep '^order-' b-received.txt | tail -1)"
  [ "$got" -eq 300 ] || { note "messages were lost"; exit 1; }
fi

note "... $(("$(date +%s)" - start)) seconds in all. The queue keeps the original"
note "design's record layout, so the 2006 Python reader can still read it."
