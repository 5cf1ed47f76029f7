"""The original design's program ("Erlang in Python", 2006), ported to Python 3
with its class replaced by `from mq import MessageQueue, NoMatch`."""
import os
import select
import signal
import socket
import time

import mq

from conftest import spawn, wait_for

# main() of the original, as 2to3 ports it; only the class is replaced.
ORIGINAL_MAIN = r'''
from mq import MessageQueue, NoMatch

def main():
    q = MessageQueue('tests', 'testq', 4096)

    def patterna(buf):
        if buf[0] == 'a':
            return buf
        else:
            raise NoMatch(buf)

    def patternb(buf):
        if buf[0] == 'b':
            return buf
        else:
            raise NoMatch(buf)

    while 1:
        print('match!', q.receive(patterna))
        print('match!', q.receive(patternb))

if __name__ == '__main__':
    main()
'''


def original_driver(cwd):
    """The original driver, ported: the messages go out of the expected order."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for p in ('a', 'b'):
        for i in range(0, 3):
            s.sendto(('%s%d' % (p, i)).encode(), os.path.join(cwd, 'tests'))
    s.close()


def read_lines(proc, n, timeout=20.0):
    """The program's first n lines of output (fewer if it stops printing for
    `timeout` s). Reads the pipe's fd directly: select() on a buffered file
    misses lines already in its buffer."""
    buf = b""
    end = time.monotonic() + timeout
    while buf.count(b"\n") < n:
        ready, _, _ = select.select([proc.stdout.fileno()], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
    return [line.decode() for line in buf.split(b"\n")[:n] if line]


def test_original_program_prints_matches_in_pattern_order(d):
    proc = spawn(ORIGINAL_MAIN, cwd=d)
    try:
        wait_for(lambda: os.path.exists(os.path.join(d, "tests")), "the program's socket")
        original_driver(d)
        assert read_lines(proc, 6) == ["match! a0", "match! b0", "match! a1", "match! b1",
                                       "match! a2", "match! b2"]
    finally:
        proc.kill()
        proc.wait()


def send_all(cwd, payloads):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for p in payloads:
        s.sendto(p, os.path.join(cwd, 'tests'))
    s.close()


def test_original_program_keeps_pending_messages_across_a_kill(d):
    """The original opened its queue with 'w+' and lost what was pending; on
    mq, messages pending when the program is killed are there after a restart."""
    proc = spawn(ORIGINAL_MAIN, cwd=d)
    try:
        wait_for(lambda: os.path.exists(os.path.join(d, "tests")), "the program's socket")
        send_all(d, [b"b0", b"b1", b"b2"])  # patterna waits: all three stay pending
        wait_for(lambda: [s for _, s, _ in mq.read_log(os.path.join(d, "testq"))] == ["pending"] * 3,
                 "three pending messages in the log")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    os.unlink(os.path.join(d, "tests"))  # the killed program's socket file (the restart would replace it)
    proc = spawn(ORIGINAL_MAIN, cwd=d)
    try:
        wait_for(lambda: os.path.exists(os.path.join(d, "tests")), "the restarted program's socket")
        send_all(d, [b"a0", b"a1", b"a2"])
        assert read_lines(proc, 6) == ["match! a0", "match! b0", "match! a1", "match! b1",
                                       "match! a2", "match! b2"]
    finally:
        proc.kill()
        proc.wait()
