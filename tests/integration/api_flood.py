#!/usr/bin/env python3
"""1500 requests (a third bad, a third oversized up to 60 KB) against the API socket, one
connection each, then 40 idle clients; prints how many requests got an HTTP answer."""
import socket, sys, time
path = sys.argv[1]
answered = 0
def req(raw):
    global answered
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path); s.sendall(raw)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            data += d
    except OSError: pass
    s.close()
    answered += data.startswith(b"HTTP/1.1 ")
big = b"x" * 60000
for i in range(1500):
    if i % 3 == 0:
        body = b'{"vcpu_count": "many"}'
    elif i % 3 == 1:
        body = b'{"level": "Info", "pad": "' + big[: (i * 37) % 60000] + b'"}'
    else:
        body = b""
    method = b"GET / " if not body else b"PUT /machine-config "
    req(method + b"HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() +
        b"\r\nConnection: close\r\n\r\n" + body)
# Then 40 clients that connect and send nothing (more than the connection limit).
idle = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX); s.connect(path); idle.append(s)
time.sleep(1)
for s in idle: s.close()
print(answered)
