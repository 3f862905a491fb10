#!/usr/bin/python3
"""test/servers/fault_proxy.py: an HTTP proxy in front of s3rver that injects faults.

    /usr/bin/python3 fault_proxy.py --upstream 127.0.0.1:PORT --control FILE --log FILE
                                    [--listen 127.0.0.1] [--port 0] [--ready-file FILE]

It forwards every request to the upstream with http.client, keeping the request
line and every end-to-end header as received (Host included, so SigV4 signatures
made for the proxy's address still verify at s3rver), and streams the response
back.  Before forwarding it applies the first matching rule of the JSON control
file, which it re-reads on every request (write it atomically: tmp + rename):

    {"rules": [
      {"action": "status", "status": 503, "count": 3, "method": "PUT", "query": "partNumber"},
      {"action": "reset", "count": 2},
      {"action": "stall", "seconds": 40, "count": 1, "method": "GET"},
      {"action": "truncate", "count": 1, "method": "GET"},
      {"action": "status", "status": 403}
    ]}

Matching (all given conditions must hold): "method" (a name or a list),
"query" (a query parameter name that must be present: uploads, uploadId,
partNumber, ...), "no_query" (a name that must be absent), "path_re" (a regular
expression searched in the path), "skip" (let the first N matching requests
through untouched).  "count": how many matching requests the rule affects
(absent or null: all of them).  Counters start again whenever the control
file is rewritten.

Actions (an injected fault never reaches the upstream, except "truncate" and "delay"):
  status N    read the request body, answer N with an S3-style XML error body
              (InternalError, ServiceUnavailable/SlowDown, AccessDenied, ...) and
              close the connection.  "code" overrides the XML Code (inserted as
              is: it may hold markup and references); "xml" (an
              object) adds elements to the Error ({"Region": "eu-west-1"});
              "headers" (an object) adds response headers.  "keepalive": K
              answers like S3's CompleteMultipartUpload: the status line and
              headers at once (chunked), then K single spaces
              "keepalive_interval" seconds apart (default 0.2), then the XML
              declaration and the Error ("declaration_first": the declaration
              before the spaces).  "stall": S after the spaces sends nothing
              more for S seconds (cut short when the client goes away), then
              closes: a response that stops in the middle of its body.
  reset       read the request body, then close the connection with a TCP RST
              (SO_LINGER 0) and no response.
  stall       read the request body, sleep "seconds" (default 3600, cut short when
              the client goes away), then close without a response.
  delay       sleep "seconds" (default 1), then forward as usual (slow storage:
              makes concurrent requests overlap).
  truncate    forward; send the status line, the headers (with the full
              Content-Length) and half of the body, then reset the connection.
  stall_body  forward; send the status line, the headers and "bytes" bytes of
              the body (default: half of it), then nothing more for "seconds"
              (default 3600, cut short when the client goes away), then close.

Log: one JSON line per request in --log: time (start), method, path, query
parameter names, uploadId and partNumber values, newUploadId (the UploadId a
forwarded POST ?uploads returned), Range, the authentication form
("sigv4-header", "sigv4-query", "none"; never a signature or credential), the
action, the rule index, the status sent (null for reset/stall), bytes received
and sent, the duration (ms) and the time the response was done (end).
"""

import argparse
import hashlib
import http.client
import http.server
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape as xml_escape

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
}

ERROR_CODES = {
    400: "RequestTimeout",
    403: "AccessDenied",
    404: "NoSuchKey",
    429: "SlowDown",
    500: "InternalError",
    502: "BadGateway",
    503: "SlowDown",
    504: "GatewayTimeout",
}


class Control:
    """The control file, re-read on every request; rule counters per content."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.digest = None
        self.rules = []
        self.seen = []  # matching requests seen per rule
        self.applied = []  # faults applied per rule

    def _load(self):
        # a new version: new content, or the same content written again (a new
        # file renamed into place: new inode or mtime), restarts the counters
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
            version = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            raw = b""
            version = None
        digest = (version, hashlib.sha256(raw).hexdigest())
        if digest == self.digest:
            return
        self.digest = digest
        rules = []
        if raw.strip():
            try:
                rules = json.loads(raw).get("rules", [])
            except ValueError as e:
                sys.stderr.write(f"fault_proxy: bad control file {self.path}: {e}\n")
                rules = []
        self.rules = rules
        self.seen = [0] * len(rules)
        self.applied = [0] * len(rules)

    def decide(self, method, path, query):
        """The (index, rule) to apply to this request, or (None, None)."""
        with self.lock:
            self._load()
            for i, rule in enumerate(self.rules):
                if not _matches(rule, method, path, query):
                    continue
                self.seen[i] += 1
                if self.seen[i] <= int(rule.get("skip", 0) or 0):
                    continue
                count = rule.get("count")
                if count is not None and self.applied[i] >= int(count):
                    continue
                self.applied[i] += 1
                return i, rule
            return None, None


def _matches(rule, method, path, query):
    m = rule.get("method")
    if m is not None:
        methods = [m] if isinstance(m, str) else list(m)
        if method.upper() not in [x.upper() for x in methods]:
            return False
    if rule.get("query") is not None and rule["query"] not in query:
        return False
    if rule.get("no_query") is not None and rule["no_query"] in query:
        return False
    if rule.get("path_re") is not None:
        if not re.search(rule["path_re"], path):
            return False
    return True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault_proxy"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    # every method goes through one path
    def do_GET(self):
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    def _read_body_chunks(self):
        """Yield the request body (Content-Length or chunked) in pieces."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers up to the empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    return
                left = size
                while left > 0:
                    piece = self.rfile.read(min(left, 65536))
                    if not piece:
                        raise ConnectionError("client closed inside a chunk")
                    left -= len(piece)
                    self.bytes_in += len(piece)
                    yield piece
                self.rfile.readline(65537)  # CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                piece = self.rfile.read(min(left, 65536))
                if not piece:
                    raise ConnectionError("client closed inside the body")
                left -= len(piece)
                self.bytes_in += len(piece)
                yield piece

    def _drain_body(self):
        for _ in self._read_body_chunks():
            pass

    def _reset(self):
        """Close the client connection with a TCP RST, no response."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def _handle(self):
        t0 = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.query = query
        self.new_upload_id = None
        auth = "none"
        if (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256"):
            auth = "sigv4-header"
        elif self.headers.get("Authorization"):
            auth = "other-header"
        elif "X-Amz-Signature" in query or "X-Amz-Algorithm" in query:
            auth = "sigv4-query"
        entry = {
            "time": round(time.time(), 4),
            "method": self.command,
            "path": split.path,
            "query": sorted(query.keys()),
            "uploadId": (query.get("uploadId") or [None])[0],
            "partNumber": (query.get("partNumber") or [None])[0],
            "range": self.headers.get("Range"),
            "auth": auth,
            "token": "x-amz-security-token" in {k.lower() for k in self.headers.keys()}
            or "X-Amz-Security-Token" in query,
        }
        idx, rule = self.server.control.decide(self.command, split.path, query)
        action = rule.get("action", "status") if rule else "forward"
        entry["action"] = action
        entry["rule"] = idx
        status = None
        try:
            if action == "status":
                self._drain_body()
                status = int(rule.get("status", 500))
                self._error_answer(status, idx, rule)
                self.close_connection = True
            elif action == "reset":
                self._drain_body()
                self._reset()
            elif action == "stall":
                self._drain_body()
                self._hold(float(rule.get("seconds", 3600)))
                self.close_connection = True
            else:
                if action == "delay":
                    time.sleep(float(rule.get("seconds", 1)))
                stall = None
                if action == "stall_body":
                    stall = (rule.get("bytes"), float(rule.get("seconds", 3600)))
                status = self._forward(truncate=(action == "truncate"), stall=stall)
        except (ConnectionError, BrokenPipeError, socket.timeout, OSError) as e:
            entry["error"] = f"{type(e).__name__}: {e}"
            self.close_connection = True
        entry["status"] = status
        entry["end"] = round(time.time(), 4)
        if self.new_upload_id:
            entry["newUploadId"] = self.new_upload_id
        entry["bytes_in"] = self.bytes_in
        entry["bytes_out"] = self.bytes_out
        entry["ms"] = int((time.monotonic() - t0) * 1000)
        self.server.write_log(entry)

    def _hold(self, seconds):
        """Send nothing for seconds, or until the client goes away (EOF or reset)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.connection], [], [], 0.5)
            if r:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        break
                except OSError:
                    break

    def _error_answer(self, status, idx, rule):
        """An S3-style XML error answer, whole or S3's slow 200 way (keepalive)."""
        code = rule.get("code") or ERROR_CODES.get(status, "InternalError")
        extra = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in (rule.get("xml") or {}).items())
        decl = b'<?xml version="1.0" encoding="UTF-8"?>\n'
        error = (
            f"<Error><Code>{code}</Code><Message>injected by fault_proxy</Message>{extra}"
            f"<RequestId>fault{idx}</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        for name, value in (rule.get("headers") or {}).items():
            self.send_header(name, str(value))
        self.send_header("Connection", "close")
        keepalive = rule.get("keepalive")
        if keepalive is None and rule.get("stall") is None:
            body = decl + error
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
                self.bytes_out += len(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            self.wfile.flush()
            self.bytes_out += len(data)

        if rule.get("declaration_first"):
            chunk(decl)
        for i in range(int(keepalive or 0)):
            if i > 0:
                time.sleep(float(rule.get("keepalive_interval", 0.2)))
            chunk(b" ")
        if rule.get("stall") is not None:
            self._hold(float(rule["stall"]))
            return
        chunk(error if rule.get("declaration_first") else decl + error)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _forward(self, truncate=False, stall=None):
        up = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=600)
        try:
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            for name, value in self.headers.items():
                if name.lower() in HOP_BY_HOP:
                    continue
                up.putheader(name, value)
            if chunked:
                up.putheader("Transfer-Encoding", "chunked")
            up.endheaders()
            for piece in self._read_body_chunks():
                if chunked:
                    up.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    up.send(piece)
            if chunked:
                up.send(b"0\r\n\r\n")
            resp = up.getresponse()
            self.send_response_only(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            for name, value in resp.getheaders():
                if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                    continue
                self.send_header(name, value)
            no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
            if length is not None:
                self.send_header("Content-Length", length)
            elif not no_body:
                self.send_header("Transfer-Encoding", "chunked")
            if truncate or stall:
                self.send_header("Connection", "close")
            self.end_headers()
            if no_body:
                resp.read()
                return resp.status
            if self.command == "POST" and "uploads" in self.query and not truncate:
                # InitiateMultipartUpload: small XML; log the new UploadId
                body = resp.read()
                m = re.search(rb"<UploadId>([^<]+)</UploadId>", body)
                if m:
                    self.new_upload_id = m.group(1).decode()
                if length is None:
                    self.wfile.write(b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
                else:
                    self.wfile.write(body)
                self.bytes_out += len(body)
                return resp.status
            limit = None
            if truncate:
                limit = (int(length) // 2) if length is not None else 65536
            if stall:
                if stall[0] is not None:
                    limit = int(stall[0])
                else:
                    limit = (int(length) // 2) if length is not None else 65536
            sent = 0
            while True:
                want = 65536 if limit is None else min(65536, limit - sent)
                if want <= 0:
                    break
                piece = resp.read(want)
                if not piece:
                    break
                if length is None:
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                sent += len(piece)
                self.bytes_out += len(piece)
            if truncate:
                self.wfile.flush()
                self._reset()
                return resp.status
            if stall:
                self.wfile.flush()
                self._hold(stall[1])
                self.close_connection = True
                return resp.status
            if length is None:
                self.wfile.write(b"0\r\n\r\n")
            return resp.status
        finally:
            up.close()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, upstream, control, log_path):
        super().__init__(addr, Handler)
        host, _, port = upstream.rpartition(":")
        self.upstream_host = host
        self.upstream_port = int(port)
        self.control = Control(control)
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1)

    def write_log(self, entry):
        with self.log_lock:
            self.log_file.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log_file.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--upstream", required=True, help="HOST:PORT of s3rver")
    p.add_argument("--control", required=True, help="JSON rules file (may not exist yet)")
    p.add_argument("--log", required=True, help="JSON-lines request log")
    p.add_argument("--ready-file", help="the port is written here once listening")
    a = p.parse_args()
    srv = Server((a.listen, a.port), a.upstream, a.control, a.log)
    port = srv.server_address[1]
    print(json.dumps({"port": port}), flush=True)
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, a.ready_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
