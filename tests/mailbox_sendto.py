#!/usr/bin/env python3
"""The original design's driver, in Python 3: plain sendto() of each
argument to the mailbox socket, with no library and no confirmation.

    mailbox_sendto.py SOCKET MSG...
"""
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: mailbox_sendto.py SOCKET MSG...\n")
        return 2
    path = sys.argv[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for msg in sys.argv[2:]:
        s.sendto(msg.encode(), path)
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
