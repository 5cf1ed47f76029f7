"""The original design's MessageQueue ("Erlang in Python", 2006;
/work/shared/seed/erlang-in-python.txt), ported to Python 3 for
bench/python_bench.py, as a reference only: it is not durable (a message that
matches when it arrives is never written), it truncates its file on open and
rescans the whole file on every receive.

The port changes only what Python 3 requires: bytes, `except ... as e`, and
the end of a non-blocking read (EAGAIN in Python 3; the original tested for
errno 1, which never came, so that loop could only end with an exception).
"""
import errno
import socket
import struct


class NoMatch(Exception):
    pass


class MessageQueue(object):
    def __init__(self, socketname, queuename, recvsize):
        self.socketname = socketname
        self.queuename = queuename
        self.recvsize = recvsize
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.socketname)
        self.queue = open(self.queuename, 'w+b')

    def receive(self, pattern):
        for place, payload in self.iter_queue():
            try:
                interpreted = pattern(payload)
                self.markused(place)
                return interpreted
            except NoMatch:
                continue

        for payload in self.iter_socket(True):
            try:
                return pattern(payload)
            except NoMatch:
                self.enqueue(payload)

        for payload in self.iter_socket(False):
            self.enqueue(payload)

    def iter_queue(self):
        self.queue.seek(0)
        while True:
            place = self.queue.tell()
            sizebuffer = self.queue.read(8)
            if len(sizebuffer) != 8:
                break
            used, size = struct.unpack('ii', sizebuffer)
            if used:
                self.queue.seek(size, 1)
                continue
            payloadbuffer = self.queue.read(size)
            if len(payloadbuffer) != size:
                break
            yield place, payloadbuffer

    def iter_socket(self, blocking):
        self.socket.setblocking(blocking)
        while True:
            try:
                payloadbuffer = self.socket.recv(self.recvsize)
            except OSError as e:
                if e.args[0] in (1, errno.EAGAIN):
                    break
                else:
                    raise
            yield payloadbuffer

    def markused(self, place):
        previous = self.queue.tell()
        self.queue.seek(place)
        self.queue.write(struct.pack('i', 1))
        self.queue.seek(previous)

    def enqueue(self, payload):
        self.queue.seek(0, 2)
        self.queue.write(struct.pack('ii', 0, len(payload)))
        self.queue.write(payload)

    def close(self):
        self.socket.close()
        self.queue.close()
