#!/usr/bin/env python3
"""A tiny FastCGI responder without dependencies, for spawn-fcgi.

spawn-fcgi hands it a listening socket on descriptor 0. For each request
it answers `hello from pid N` as text/plain. On SIGHUP it prints
`got SIGHUP` on standard output (the service's log).
"""

import os
import signal
import socket
import struct
import sys

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
HEADER = struct.Struct("!BBHHBx")


def log(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def on_hup(signum, frame):
    log("got SIGHUP")


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_record(conn):
    version, rtype, request_id, length, padding = HEADER.unpack(read_exact(conn, 8))
    content = read_exact(conn, length)
    read_exact(conn, padding)
    return rtype, request_id, content


def record(rtype, request_id, content=b""):
    out = b""
    # Records hold at most 65535 bytes: split longer content.
    while True:
        part, content = content[:65535], content[65535:]
        out += HEADER.pack(1, rtype, request_id, len(part), 0) + part
        if not content:
            return out


def params(data):
    """Decode FastCGI name-value pairs."""
    pairs, i = {}, 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        value = struct.unpack("!I", data[i : i + 4])[0] & 0x7FFFFFFF
        i += 4
        return value

    while i < len(data):
        name_len = length()
        value_len = length()
        name = data[i : i + name_len]
        value = data[i + name_len : i + name_len + value_len]
        i += name_len + value_len
        pairs[name.decode("latin-1")] = value.decode("latin-1")
    return pairs


def serve(conn):
    """Answer the requests on one connection."""
    keep = True
    while keep:
        request_id, env, body, keep = None, b"", b"", False
        while True:
            rtype, rid, content = read_record(conn)
            if rtype == GET_VALUES:
                conn.sendall(record(GET_VALUES_RESULT, 0))
            elif rtype == BEGIN_REQUEST:
                role, flags = struct.unpack("!HB5x", content)
                request_id, keep = rid, bool(flags & 1)
            elif rtype == ABORT_REQUEST:
                break
            elif rtype == PARAMS:
                env += content
            elif rtype == STDIN:
                if not content:
                    break
                body += content
            elif rid == 0:
                conn.sendall(record(UNKNOWN_TYPE, 0, bytes([rtype]) + bytes(7)))
        variables = params(env)
        reply = "Content-Type: text/plain\r\n\r\nhello from pid %d\n" % os.getpid()
        if variables.get("REQUEST_METHOD") == "HEAD":
            reply = reply.split("\r\n\r\n")[0] + "\r\n\r\n"
        conn.sendall(
            record(STDOUT, request_id, reply.encode())
            + record(STDOUT, request_id)
            + record(END_REQUEST, request_id, struct.pack("!IB3x", 0, 0))
        )


def main():
    signal.signal(signal.SIGHUP, on_hup)
    listener = socket.socket(fileno=0)
    log("app.fcgi: pid %d serving" % os.getpid())
    while True:
        conn, _ = listener.accept()
        try:
            serve(conn)
        except (EOFError, ConnectionError, struct.error):
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
