#!/usr/bin/env python3
"""The original design's queue reader, ported to Python 3.

Usage: seed_reader.py QUEUE_FILE

Prints every message the original design's `iter_queue` yields from
QUEUE_FILE, one per line, as lowercase hex (an empty payload is an empty
line). store_compat_test runs it over logs mq wrote and compares the output
with the messages mq holds pending, in arrival order.

The algorithm is the original's, unchanged: read 8 bytes; stop on a short
read; unpack two int32 (used, size); if used is not 0, skip size bytes;
otherwise read size bytes, stop on a short read, and yield them. The only
differences are Python 3 (bytes, not str) and an explicit little-endian
'<ii' where the original used the native 'ii' (little-endian on the machines
it ran on).
"""
import struct
import sys


def iter_queue(queue):
    queue.seek(0)
    while True:
        place = queue.tell()
        sizebuffer = queue.read(8)
        if len(sizebuffer) != 8:
            break
        used, size = struct.unpack('<ii', sizebuffer)
        if used:
            queue.seek(size, 1)
            continue
        payloadbuffer = queue.read(size)
        if len(payloadbuffer) != size:
            break
        yield place, payloadbuffer


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: seed_reader.py QUEUE_FILE\n')
        return 2
    try:
        with open(argv[1], 'rb') as queue:
            for _, payload in iter_queue(queue):
                sys.stdout.write(payload.hex() + '\n')
    except OSError as e:
        sys.stderr.write('seed_reader.py: %s: %s\n' % (argv[1], e.strerror))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
