#!/usr/bin/env python3
"""The host side of the vsock suite and benchmark: Firecracker's hybrid vsock protocol.

  vsock_peer.py serve DIR UDS         listeners at UDS_6000 (sink: bytes and CRC-32 to
                                      DIR/sink6000), UDS_6001 (reads 1 MiB, then closes:
                                      DIR/cut6001), UDS_6002 (accepts and holds: DIR/hold6002),
                                      UDS_6003 (echo, for the benchmark's ping-pong)
  vsock_peer.py handshake UDS PORT    CONNECT PORT, expect "OK <host port>", echo a line
  vsock_peer.py refused UDS PORT      CONNECT PORT: closed without an OK
  vsock_peer.py bad UDS               a bogus handshake line: closed without an OK
  vsock_peer.py idle UDS              connect, send nothing: closed (seconds it took)
  vsock_peer.py concurrent UDS PORT N BYTES   N connections open at once, each echoed
  vsock_peer.py stream UDS PORT BYTES send BYTES of random data, print their CRC-32
  vsock_peer.py unixpair BYTES N      the baseline: 64 KiB writes and 1-byte ping-pong over
                                      a host Unix socket pair (MB/s, µs)
Each command prints one line; the exit status is 0 when it saw what it expected.
"""
import os
import socket
import sys
import threading
import time
import zlib


def connect(uds, port, timeout=60):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            s.close()
            return None, line
        line += b
    return s, line


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            break
        out += b
    return bytes(out)


def write_file(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def serve(d, uds):
    def listener(port, handle):
        path = "%s_%d" % (uds, port)
        if os.path.exists(path):
            os.unlink(path)
        l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        l.bind(path)
        l.listen(16)

        def loop():
            while True:
                c, _ = l.accept()
                threading.Thread(target=handle, args=(c,), daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()

    def sink(c):
        crc, n = 0, 0
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            crc = zlib.crc32(b, crc)
            n += len(b)
        c.close()
        write_file(os.path.join(d, "sink6000"), "%d %08x\n" % (n, crc))

    def cut(c):
        n = len(recv_exact(c, 1 << 20))
        c.close()
        write_file(os.path.join(d, "cut6001"), "%d\n" % n)

    held = []

    def hold(c):
        held.append(c)
        write_file(os.path.join(d, "hold6002"), "accepted\n")

    def echo(c):
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            c.sendall(b)
        c.close()

    listener(6000, sink)
    listener(6001, cut)
    listener(6002, hold)
    listener(6003, echo)
    write_file(os.path.join(d, "serving"), "yes\n")
    while True:
        time.sleep(3600)


def handshake(uds, port):
    s, line = connect(uds, port)
    if not s:
        print("FAIL no OK: %r" % line)
        return 1
    parts = line.split()
    if len(parts) != 2 or parts[0] != b"OK" or int(parts[1]) < (1 << 30):
        print("FAIL answer %r" % line)
        return 1
    s.sendall(b"hello vsock\n")
    back = recv_exact(s, 12)
    s.close()
    if back != b"hello vsock\n":
        print("FAIL echo %r" % back)
        return 1
    print("OK %s echo %r" % (parts[1].decode(), back))
    return 0


def refused(uds, port):
    s, line = connect(uds, port, timeout=20)
    if s:
        print("FAIL accepted: %r" % line)
        return 1
    print("REFUSED closed without an answer (%r)" % line)
    return 0


def bad(uds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(uds)
    s.sendall(b"CONNECT banana\n")
    b = s.recv(64)
    print(("REFUSED" if not b else "FAIL answered") + " %r" % b)
    return 0 if not b else 1


def idle(uds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(uds)
    t0 = time.time()
    b = s.recv(64)
    took = time.time() - t0
    print(("CLOSED" if not b else "FAIL answered %r" % b) + " after %.1f s" % took)
    return 0 if not b else 1


def concurrent(uds, port, n, nbytes):
    socks, errors = [], []
    for i in range(n):
        s, line = connect(uds, port)
        if not s:
            print("FAIL connection %d: %r (%d open)" % (i, line, len(socks)))
            return 1
        socks.append(s)

    def one(i, s):
        data = os.urandom(nbytes)
        t = threading.Thread(target=s.sendall, args=(data,))
        t.start()
        back = recv_exact(s, nbytes)
        t.join()
        s.close()
        if back != data:
            errors.append("%d: %d of %d bytes back, equal %s" % (i, len(back), nbytes, back == data[:len(back)]))
    threads = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("FAIL %s" % "; ".join(errors[:5]))
        return 1
    print("OK %d connections open at once, %d bytes echoed on each" % (n, nbytes))
    return 0


def stream(uds, port, nbytes):
    s, line = connect(uds, port)
    if not s:
        print("FAIL no OK: %r" % line)
        return 1
    crc, sent, t0 = 0, 0, time.time()
    while sent < nbytes:
        b = os.urandom(min(1 << 16, nbytes - sent))
        crc = zlib.crc32(b, crc)
        s.sendall(b)
        sent += len(b)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the guest's close (RST) after it read everything
    s.close()
    print("SENT %d %08x %.2fs" % (sent, crc, time.time() - t0))
    return 0


def unixpair(nbytes, n):
    a, b = socket.socketpair()
    buf = os.urandom(1 << 16)

    def drain():
        got = 0
        while got < nbytes:
            got += len(b.recv(1 << 16))
    t = threading.Thread(target=drain)
    t0 = time.time()
    t.start()
    sent = 0
    while sent < nbytes:
        a.sendall(buf)
        sent += len(buf)
    t.join()
    mbs = nbytes / (time.time() - t0) / 1e6

    def echo():
        for _ in range(n):
            b.sendall(b.recv(1))
    t = threading.Thread(target=echo)
    t.start()
    t0 = time.time()
    for _ in range(n):
        a.sendall(b"p")
        a.recv(1)
    us = (time.time() - t0) / n * 1e6
    t.join()
    print("UNIXPAIR %.1f MB/s %.1f us" % (mbs, us))
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "serve":
        return serve(argv[2], argv[3])
    if cmd == "handshake":
        return handshake(argv[2], int(argv[3]))
    if cmd == "refused":
        return refused(argv[2], int(argv[3]))
    if cmd == "bad":
        return bad(argv[2])
    if cmd == "idle":
        return idle(argv[2])
    if cmd == "concurrent":
        return concurrent(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    if cmd == "stream":
        return stream(argv[2], int(argv[3]), int(argv[4]))
    if cmd == "unixpair":
        return unixpair(int(argv[2]), int(argv[3]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, ValueError) as e:
        print("FAIL %s: %s" % (type(e).__name__, e))
        sys.exit(1)
