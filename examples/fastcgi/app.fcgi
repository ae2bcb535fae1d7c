#!/usr/bin/env python3
"""A small FastCGI application, standard library only.

spawn-fcgi leaves the listening socket on descriptor 0; this accepts on
it, answers every request with a plain-text page naming its pid, and
records SIGHUP (svc -h) on standard output, which goes to the log.
"""

import os
import signal
import socket
import struct
import sys

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
KEEP_CONN = 1

hups = 0


def on_hup(signo, frame):
    global hups
    hups += 1
    print("got SIGHUP", flush=True)


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_record(conn):
    header = read_exact(conn, 8)
    if header is None:
        return None
    _version, rtype, rid, clen, plen, _ = struct.unpack("!BBHHBB", header)
    content = read_exact(conn, clen + plen)
    if content is None:
        return None
    return rtype, rid, content[:clen]


def record(rtype, rid, content=b""):
    pad = -len(content) % 8
    return struct.pack("!BBHHBB", 1, rtype, rid, len(content), pad, 0) + content + b"\0" * pad


def params(data):
    out, i = {}, 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        i += 4
        return struct.unpack("!I", data[i - 4:i])[0] & 0x7FFFFFFF

    while i < len(data):
        nlen = length()
        vlen = length()
        name = data[i:i + nlen].decode("latin-1")
        value = data[i + nlen:i + nlen + vlen].decode("latin-1")
        i += nlen + vlen
        out[name] = value
    return out


def page(env):
    body = (
        "hello from tend's FastCGI example\n"
        f"pid {os.getpid()}\n"
        f"hups {hups}\n"
        f"uri {env.get('REQUEST_URI', '')}\n"
    ).encode()
    head = b"Status: 200 OK\r\nContent-Type: text/plain\r\n" + b"Content-Length: %d\r\n\r\n" % len(body)
    return head + body


def serve(conn):
    """Answer the requests on one connection; return when it closes."""
    pending = {}
    while True:
        rec = read_record(conn)
        if rec is None:
            return
        rtype, rid, content = rec
        if rtype == BEGIN_REQUEST:
            _role, flags = struct.unpack("!HB", content[:3])
            pending[rid] = {"flags": flags, "params": b""}
        elif rtype == PARAMS and rid in pending:
            pending[rid]["params"] += content
        elif rtype == STDIN and rid in pending and not content:
            req = pending.pop(rid)
            env = params(req["params"])
            print(f"request {env.get('REQUEST_METHOD', '?')} {env.get('REQUEST_URI', '')}", flush=True)
            out = page(env)
            reply = b""
            for start in range(0, len(out), 65535):
                reply += record(STDOUT, rid, out[start:start + 65535])
            reply += record(STDOUT, rid)
            reply += record(END_REQUEST, rid, struct.pack("!IB3x", 0, 0))
            conn.sendall(reply)
            if not req["flags"] & KEEP_CONN:
                return
        elif rtype == ABORT_REQUEST:
            pending.pop(rid, None)
            conn.sendall(record(END_REQUEST, rid, struct.pack("!IB3x", 0, 0)))
        elif rtype == GET_VALUES:
            conn.sendall(record(GET_VALUES_RESULT, 0))
        elif rid == 0:
            conn.sendall(record(UNKNOWN_TYPE, 0, struct.pack("!B7x", rtype)))


def main():
    signal.signal(signal.SIGHUP, on_hup)
    listener = socket.socket(fileno=0)
    print(f"app.fcgi: pid {os.getpid()} listening on {listener.getsockname()}", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                serve(conn)
            except OSError as err:
                print(f"app.fcgi: connection error: {err}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
