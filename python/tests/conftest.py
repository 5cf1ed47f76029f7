"""Shared fixtures of the mq Python tests (run by ctest as python_pytest)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

PYTHON = sys.executable


@pytest.fixture
def d():
    """A short private directory (socket paths must fit in 108 bytes)."""
    path = tempfile.mkdtemp(prefix="mqpy", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def spawn(code, *args, cwd=None, **kw):
    """Starts `python3 -u -c code args...` with this interpreter and sys.path."""
    return subprocess.Popen([PYTHON, "-u", "-c", code, *args], cwd=cwd, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_for(cond, what, timeout=20.0):
    """Polls cond() (a condition on the outside world, not a fixed sleep)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.005)


def mqtool():
    path = os.environ.get("MQTOOL")
    if not path or not os.path.exists(path):
        pytest.fail("MQTOOL (the path of the built mqtool) is not set; ctest sets it")
    return path
