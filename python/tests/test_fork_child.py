"""fork(): what docs/python.md ("Threads, signals and fork") promises a child.

Objects opened before the fork are unusable in the child (each call raises
mq.Error naming fork), what holds no state (mq.send, mq.read_log) works there,
the child may open objects of its own, and the child's normal exit (its
interpreter's finalisation, which destroys the inherited objects) leaves the
parent's mailbox, socket and senders working.

The forking program runs as a child process of its own, so that the pytest
process is never forked.
"""
import os

import mq
from conftest import spawn

FORKER = r'''
import os, sys, mq
d = sys.argv[1]
mb = mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"))
sender = mq.Sender(os.path.join(d, "s"))
confirmed = mq.ConfirmedSender(os.path.join(d, "s"))
confirmed.send(b"before")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    out = []
    for name, call in (("Sender.send", lambda: sender.send(b"x")),
                       ("Sender.send_many", lambda: sender.send_many([b"x"])),
                       ("ConfirmedSender.send", lambda: confirmed.send(b"x")),
                       ("Mailbox.receive", lambda: mb.receive(timeout=0))):
        try:
            call()
            out.append("%s: no error" % name)
        except mq.Error as e:
            out.append("%s: %s" % (name, "fork" if "after fork() the child must open its own" in str(e) else e))
    out.append("read_log: %s" % [p for _, _, p in mq.read_log(os.path.join(d, "q"))])
    mq.send(os.path.join(d, "s"), b"from the child")
    with mq.Mailbox(socket=os.path.join(d, "s2"), queue=os.path.join(d, "q2")) as own:
        with mq.ConfirmedSender(os.path.join(d, "s2")) as c:
            seq = c.send(b"to the child's own")
        out.append("own: %d %r" % (seq, own.receive(timeout=10).payload))
    os.write(w, ("\n".join(out) + "\n").encode())
    sys.exit(0)  # a normal exit: the interpreter finalises the inherited objects
os.close(w)
child = b""
while True:
    chunk = os.read(r, 4096)
    if not chunk:
        break
    child += chunk
_, status = os.waitpid(pid, 0)
print(child.decode(), end="")
print("child exit:", os.waitstatus_to_exitcode(status))
print("parent socket:", os.path.exists(os.path.join(d, "s")))
confirmed.send(b"after")
sender.send(b"after, unconfirmed")
got = [mb.receive(timeout=10).payload for _ in range(4)]
print("parent:", got)
mb.close()
'''


def test_objects_from_before_a_fork_raise_in_the_child_and_the_childs_exit_leaves_the_parent_working(d):
    proc = spawn(FORKER, d)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    lines = out.decode().splitlines()
    assert proc.returncode == 0, out.decode() + err.decode()
    assert lines[:4] == ["Sender.send: fork", "Sender.send_many: fork", "ConfirmedSender.send: fork",
                         "Mailbox.receive: fork"], lines
    assert lines[4] == "read_log: [b'before']", lines
    assert lines[5].startswith("own: ") and lines[5].endswith(" b\"to the child's own\""), lines
    assert lines[6:9] == ["child exit: 0", "parent socket: True",
                          "parent: [b'before', b'from the child', b'after', b'after, unconfirmed']"], lines
