#!/usr/bin/python3
"""test/servers/dns_rebind.py: a tiny authoritative DNS server for DNS rebinding tests.

    /usr/bin/python3 dns_rebind.py --log FILE [--listen 127.0.0.1] [--port 53]
                                   [--static NAME=ADDR ...] [--rebind NAME=FIRST,LATER ...]
                                   [--ready-file FILE]

UDP only, standard library only.  Answers queries of class IN:

  --static NAME=ADDR        A queries for NAME: ADDR, every time
  --rebind NAME=FIRST,LATER the first A query for NAME: FIRST (say a public
                            address), every later one: LATER (a private one)

AAAA (and any other type) queries for a known name get an empty answer
(NOERROR, no records), so that a resolver asking A and AAAA at once (glibc's
getaddrinfo with AF_UNSPEC) sees only the A record.  Unknown names get
NXDOMAIN.  Every answer has TTL 0 (nothing may be cached).  Names are
matched case-insensitively, without a trailing dot.

One JSON line per query is appended to --log, after the answer is sent:

  {"n": 1, "t": 1700000000.1, "name": "rebind.example", "type": "A",
   "answer": "93.184.216.34", "count": 1, "rcode": 0, "client": "127.0.0.1:40000"}

"count" is the number of A queries for that name so far (this one included).
--ready-file is written (atomically, the port) once the socket is bound.
"""

import argparse
import ipaddress
import json
import os
import socket
import struct
import time

TYPES = {1: "A", 28: "AAAA", 5: "CNAME", 15: "MX", 16: "TXT", 65: "HTTPS", 64: "SVCB"}


def parse_question(msg):
    """(id, flags, qname, qtype, qclass, end offset of the question) of a query."""
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1:
        raise ValueError("qdcount %d" % qdcount)
    labels = []
    i = 12
    while True:
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, qclass = struct.unpack("!HH", msg[i:i + 4])
    return qid, flags, ".".join(labels), qtype, qclass, i + 4


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--static", action="append", default=[])
    p.add_argument("--rebind", action="append", default=[])
    p.add_argument("--ready-file")
    a = p.parse_args()

    static = {}
    for s in a.static:
        name, _, addr = s.partition("=")
        static[name.lower().rstrip(".")] = str(ipaddress.IPv4Address(addr))
    rebind = {}
    for s in a.rebind:
        name, _, addrs = s.partition("=")
        first, _, later = addrs.partition(",")
        rebind[name.lower().rstrip(".")] = (str(ipaddress.IPv4Address(first)),
                                            str(ipaddress.IPv4Address(later)))

    family = socket.AF_INET6 if ":" in a.listen else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((a.listen, a.port))
    logf = open(a.log, "a", buffering=1)
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % sock.getsockname()[1])
        os.rename(tmp, a.ready_file)

    counts = {}
    n = 0
    while True:
        msg, client = sock.recvfrom(4096)
        try:
            qid, flags, qname, qtype, qclass, qend = parse_question(msg)
        except (ValueError, IndexError, struct.error):
            continue
        n += 1
        name = qname.lower().rstrip(".")
        answer = None
        rcode = 0
        count = counts.get(name, 0)
        if name not in static and name not in rebind:
            rcode = 3  # NXDOMAIN
        elif qtype == 1 and qclass == 1:
            count += 1
            counts[name] = count
            if name in static:
                answer = static[name]
            else:
                answer = rebind[name][0] if count == 1 else rebind[name][1]
        # QR, AA, the query's RD, RA
        rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        resp = struct.pack("!HHHHHH", qid, rflags, 1, 1 if answer else 0, 0, 0)
        resp += msg[12:qend]
        if answer:
            resp += struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(answer)
        sock.sendto(resp, client)
        logf.write(json.dumps({
            "n": n, "t": round(time.time(), 3), "name": name,
            "type": TYPES.get(qtype, str(qtype)), "answer": answer, "count": count,
            "rcode": rcode, "client": "%s:%d" % (client[0], client[1]),
        }) + "\n")
        logf.flush()


if __name__ == "__main__":
    main()
