"""The ten-line Python actor of README.md ("A durable actor in Python") runs as
printed there (only its /tmp paths moved to a private directory): it receives
the order a sender sends, skips what its pattern does not match, and leaves
that pending when Ctrl-C stops it."""
import os
import re
import signal

import mq
from conftest import spawn

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def test_the_readme_actor_receives_an_order_skips_the_rest_and_stops_on_ctrl_c(d):
    section = open(README).read().split("## A durable actor in Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code.count("\n") <= 12, "the README's actor is meant to be about ten lines"
    sock, queue = os.path.join(d, "shop.sock"), os.path.join(d, "shop.q")
    code = code.replace("/tmp/shop.sock", sock).replace("/tmp/shop.q", queue)
    proc = spawn(code)
    try:
        with mq.ConfirmedSender(sock, connect_retry=60) as cs:
            cs.send(b"noise: not an order")
            seq = cs.send(b"order:17")
        assert proc.stdout.readline().decode() == "order 17 seq %d\n" % seq
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert "KeyboardInterrupt" in err.decode()
    assert [(s, p) for s, state, p in mq.read_log(queue) if state == "pending"] == [(seq - 1, b"noise: not an order")]
