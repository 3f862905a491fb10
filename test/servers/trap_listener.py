#!/usr/bin/python3
"""test/servers/trap_listener.py: TCP listeners that record every connection.

    /usr/bin/python3 trap_listener.py --log FILE --listen ADDR:PORT [--listen ...]
                                      [--ready-file FILE]

Binds every ADDR:PORT given (IPv6 addresses in brackets: [fd00:ec2::254]:443)
and appends one JSON line per accepted connection to --log, as soon as it is
accepted (before anything is read), then the first bytes the client sent
(a TLS ClientHello, an HTTP request line) in a second line:

  {"event": "accept", "t": 1700000000.1, "local": "10.11.12.13:443", "peer": "10.11.12.13:51234"}
  {"event": "data", "t": ..., "local": ..., "peer": ..., "bytes": 517, "head": "16030100..."}

It answers nothing and closes the connection.  An SSRF test puts it on the
addresses a client must never reach and asserts that the log stays empty.
--ready-file is written (atomically) once every address is bound.
"""

import argparse
import json
import os
import selectors
import socket
import time


def parse_addr(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return socket.AF_INET6, host, int(port)
    host, _, port = text.rpartition(":")
    return socket.AF_INET, host, int(port)


def fmt(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--listen", action="append", required=True)
    p.add_argument("--ready-file")
    a = p.parse_args()

    sel = selectors.DefaultSelector()
    for spec in a.listen:
        family, host, port = parse_addr(spec)
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(64)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "listen")

    logf = open(a.log, "a", buffering=1)

    def write(entry):
        entry["t"] = round(time.time(), 3)
        logf.write(json.dumps(entry) + "\n")
        logf.flush()
        os.fsync(logf.fileno())

    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % len(a.listen))
        os.rename(tmp, a.ready_file)

    conns = {}
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.data == "listen":
                try:
                    c, peer = key.fileobj.accept()
                except OSError:
                    continue
                local = fmt(c.getsockname())
                write({"event": "accept", "local": local, "peer": fmt(peer)})
                c.setblocking(False)
                conns[c] = (local, fmt(peer), time.time())
                sel.register(c, selectors.EVENT_READ, "conn")
            else:
                c = key.fileobj
                local, peer, _ = conns.pop(c)
                try:
                    data = c.recv(4096)
                except OSError:
                    data = b""
                write({"event": "data", "local": local, "peer": peer,
                       "bytes": len(data), "head": data[:64].hex()})
                sel.unregister(c)
                c.close()
        # connections that sent nothing for 2 s are closed too
        now = time.time()
        for c, (local, peer, since) in list(conns.items()):
            if now - since > 2:
                conns.pop(c)
                sel.unregister(c)
                c.close()


if __name__ == "__main__":
    main()
