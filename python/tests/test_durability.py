"""Nothing confirmed is lost when a Python actor is SIGKILLed, with confirmed
senders in Python and `mqtool send --confirm`."""
import os
import re
import signal
import subprocess
import threading

import mq
from conftest import child_env, mqtool, spawn, wait_for

# Takes a message, records it in done (fsynced), acks it.
ACTOR = r'''
import os, sys, mq
d = sys.argv[1]
out = os.open(os.path.join(d, "done"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), sync="batch") as mb:
    print("ready", flush=True)
    while True:
        m = mb.take()
        os.write(out, m.payload + b"\n")
        os.fsync(out)
        mb.ack(m.seq)
'''

N_PY = 400
N_TOOL = 400


def done_lines(d):
    try:
        with open(os.path.join(d, "done"), "rb") as f:
            return f.read().split(b"\n")[:-1]
    except FileNotFoundError:
        return []


def tool_confirmed_lines(out, err):
    """The input lines `mqtool send --confirm` confirmed: every line when it
    confirmed them all (one seq printed for each), otherwise the ranges of its
    "confirmed: message 1-64, 100-131" line on standard error (docs/mqtool.md)."""
    m = re.search(r"confirmed: message ([0-9, -]+)", err)
    if m is None:
        return [b"tool%d" % i for i in range(len(out.split()))]
    lines = []
    for part in m.group(1).split(","):
        lo, _, hi = part.strip().partition("-")
        lines += [b"tool%d" % (n - 1) for n in range(int(lo), int(hi or lo) + 1)]
    assert len(lines) == len(out.split()), (err, out)
    return lines


def start_actor(d):
    try:
        os.unlink(os.path.join(d, "s"))  # a killed actor's socket file: wait for the new one
    except FileNotFoundError:
        pass
    p = spawn(ACTOR, d)
    assert p.stdout.readline() == b"ready\n", p.stderr.read().decode()
    return p


def test_nothing_confirmed_is_lost_across_sigkill_of_a_python_actor(d):
    sock = os.path.join(d, "s")
    actor = start_actor(d)
    confirmed = []

    def py_sender():
        with mq.ConfirmedSender(sock, window=16, reply_timeout=2, connect_retry=10) as cs:
            for i in range(N_PY):
                try:
                    cs.send(b"py%d" % i)
                    confirmed.append(b"py%d" % i)
                except mq.Error:
                    pass  # not confirmed: may or may not be stored

    tool_input = b"".join(b"tool%d\n" % i for i in range(N_TOOL))
    tool = subprocess.Popen([mqtool(), "send", sock, "--confirm", "--retry", "10", "--timeout", "2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env())
    t = threading.Thread(target=py_sender)
    t.start()
    tool.stdin.write(tool_input)
    tool.stdin.close()
    kills = 0
    for k in range(4):
        wait_for(lambda: len(done_lines(d)) >= 60 * (k + 1) or not t.is_alive(), "the actor to make progress")
        actor.send_signal(signal.SIGKILL)
        actor.wait()
        kills += 1
        actor = start_actor(d)
    t.join(120)
    tool_out = tool.stdout.read()
    tool.wait(120)
    tool_err = tool.stderr.read().decode(errors="replace")
    tool_confirmed = tool_confirmed_lines(tool_out, tool_err)
    everything = set(confirmed) | set(tool_confirmed)
    assert len(confirmed) > N_PY // 2 and len(tool_confirmed) > 0, (len(confirmed), len(tool_confirmed))
    wait_for(lambda: everything <= set(done_lines(d)), "every confirmed message to reach the actor", 60)
    actor.kill()
    actor.wait()
    assert kills == 4
