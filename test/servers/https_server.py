#!/usr/bin/python3
"""test/servers/https_server.py: a tiny HTTPS file server that misbehaves on purpose.

    /usr/bin/python3 https_server.py --root DIR --cert FILE --key FILE --log FILE
                                     [--listen 127.0.0.1] [--port 0] [--ready-file FILE]

Serves the files of DIR (no subdirectories) over HTTPS, HTTP/1.1, with byte
ranges (bytes=A-B, bytes=A-), under these paths:

  /files/NAME          the file, as any server would
  /truncate/NAME       announces the full Content-Length (of the file or the
                       range) but sends only half of it, then closes the
                       connection: a truncated body
  /truncate-once/NAME  the first request for NAME is truncated, the next ones
                       are whole (a transient fault a client should retry)
  /short-length/NAME   Content-Length one byte SHORTER than the file, whole
                       file's worth of bytes not sent (the response ends early
                       but looks complete): the archive is silently cut

nginx cannot send a Content-Length larger than what it sends; this can.
Log: one JSON line per request (method, path, Range, status, bytes sent;
the query string is never logged, only its parameter names).
"""

import argparse
import http.server
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "https_server"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _error(self, status, text):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status, len(body)

    def _serve(self, head):
        split = urllib.parse.urlsplit(self.path)
        entry = {
            "time": round(time.time(), 3),
            "method": self.command,
            "path": split.path,
            "query": sorted(urllib.parse.parse_qs(split.query, keep_blank_values=True).keys()),
            "range": self.headers.get("Range"),
        }
        status, sent = self._respond(split.path, head)
        entry["status"] = status
        entry["bytes_out"] = sent
        self.server.write_log(entry)

    def _respond(self, path, head):
        m = re.fullmatch(r"/(files|truncate|truncate-once|short-length)/([^/]+)", path)
        if not m:
            return self._error(404, "not found")
        mode, name = m.group(1), urllib.parse.unquote(m.group(2))
        fpath = os.path.join(self.server.root, name)
        if "/" in name or name.startswith(".") or not os.path.isfile(fpath):
            return self._error(404, "not found")
        size = os.path.getsize(fpath)
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            r = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not r or int(r.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return 416, 0
            start = int(r.group(1))
            if r.group(2):
                end = min(int(r.group(2)), size - 1)
            status = 206
        length = end - start + 1
        truncate = mode == "truncate"
        if mode == "truncate-once":
            with self.server.lock:
                truncate = name not in self.server.truncated_once
                self.server.truncated_once.add(name)
        announced = length - 1 if mode == "short-length" else length
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(announced))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return status, 0
        to_send = length // 2 if truncate else announced
        sent = 0
        with open(fpath, "rb") as f:
            f.seek(start)
            while sent < to_send:
                piece = f.read(min(65536, to_send - sent))
                if not piece:
                    break
                self.wfile.write(piece)
                sent += len(piece)
        if truncate:
            self.wfile.flush()
            self.close_connection = True
        return status, sent


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, root, log_path):
        super().__init__(addr, Handler)
        self.root = root
        self.lock = threading.Lock()
        self.truncated_once = set()
        self.log_file = open(log_path, "a", buffering=1)

    def write_log(self, entry):
        with self.lock:
            self.log_file.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log_file.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file")
    a = p.parse_args()
    srv = Server((a.listen, a.port), a.root, a.log)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
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
