"""The socket hand-off (docs/supervision.md): a Python actor started by a
supervisor with MQ_SOCKET_FD and MQ_SOCKET adopts the socket the supervisor
bound, so what was sent before it started, or between two of its runs, is
received."""
import os
import socket
import subprocess

import mq
from conftest import PYTHON, child_env

ACTOR = r'''
import sys, mq
sock, queue, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with mq.Mailbox(socket=sock, queue=queue) as mb:
    for _ in range(n):
        print(mb.receive(timeout=10).payload.decode(), flush=True)
'''


def supervisor_socket(path):
    """Bound as a supervisor binds it: SO_PASSCRED before bind (a datagram
    sent before the actor starts must carry the sender's credentials)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind(path)
    return s


def run_actor(owner, path, queue, n, extra_env=None):
    env = child_env()
    env.update({"MQ_SOCKET_FD": str(owner.fileno()), "MQ_SOCKET": path})
    env.update(extra_env or {})
    return subprocess.run([PYTHON, "-c", ACTOR, path, queue, str(n)], env=env, pass_fds=(owner.fileno(),),
                          capture_output=True, timeout=60)


def test_python_actor_adopts_the_supervisor_socket_and_receives_what_was_sent_before_it_started(d):
    path, queue = os.path.join(d, "s"), os.path.join(d, "q")
    owner = supervisor_socket(path)
    try:
        mq.send(path, b"sent before the actor started")
        first = run_actor(owner, path, queue, 1)
        assert first.returncode == 0, first.stderr.decode()
        assert first.stdout.decode() == "sent before the actor started\n"
        # The actor's close neither unlinked nor shut the socket: a datagram
        # sent while no actor runs waits for the next one.
        assert os.path.exists(path)
        mq.send(path, b"sent between two runs")
        second = run_actor(owner, path, queue, 1)
        assert second.returncode == 0, second.stderr.decode()
        assert second.stdout.decode() == "sent between two runs\n"
    finally:
        owner.close()


def test_malformed_mq_socket_fd_raises_invalid_argument_naming_the_variable(d):
    path, queue = os.path.join(d, "s"), os.path.join(d, "q")
    owner = supervisor_socket(path)
    try:
        r = run_actor(owner, path, queue, 1, {"MQ_SOCKET_FD": "three"})
        assert r.returncode != 0
        err = r.stderr.decode()
        assert "mq.InvalidArgument" in err and "MQ_SOCKET_FD='three'" in err, err
        assert not os.path.exists(queue)  # refused before anything was created
    finally:
        owner.close()
