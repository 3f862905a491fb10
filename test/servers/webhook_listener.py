#!/usr/bin/python3
"""test/servers/webhook_listener.py: a tiny HTTP webhook receiver for e2e 86_alerts.

    /usr/bin/python3 webhook_listener.py --log FILE [--listen 127.0.0.1] [--port 0]
                                         [--ready-file FILE] [--fail-first N]
                                         [--fail-status 500] [--control FILE]

Answers every request over plain HTTP/1.1 and appends one JSON line per
request to --log:

  {"n": 1, "t": 1700000000.123, "method": "POST", "path": "/hook",
   "query": "token=...", "content_type": "application/json",
   "status": 500, "body": {...the POST body parsed as JSON...},
   "body_text": "...the body as received...", "json_ok": true}

"body" is null (and json_ok false) when the body is not valid JSON.  The
answer is 200 {"ok": true}, except that the first N requests (--fail-first,
or the "fail" count of the control file) get --fail-status (or the control
file's "status") instead.  The control file, JSON such as
{"fail": 2, "status": 500}, is re-read at every request; each failed answer
decrements its "fail" count (the file is rewritten), so a test can arm
"fail the next two" at any time without restarting the listener.

Requests are handled one at a time (no threads): the log order is the
order of arrival.
"""

import argparse
import http.server
import json
import os
import sys
import time
import urllib.parse

STATE = {"n": 0, "fail_first": 0, "fail_status": 500}
ARGS = None


def _control_take():
    """Return the status to answer: a failure status while one is armed, else 200."""
    if ARGS.control and os.path.exists(ARGS.control):
        try:
            with open(ARGS.control) as f:
                ctl = json.load(f)
        except (OSError, ValueError):
            ctl = {}
        fail = int(ctl.get("fail", 0) or 0)
        if fail > 0:
            ctl["fail"] = fail - 1
            tmp = ARGS.control + ".tmp"
            with open(tmp, "w") as f:
                json.dump(ctl, f)
            os.replace(tmp, ARGS.control)
            return int(ctl.get("status", STATE["fail_status"]))
    if STATE["fail_first"] > 0:
        STATE["fail_first"] -= 1
        return STATE["fail_status"]
    return 200


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "webhook_listener"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text else None
            ok = text != ""
        except ValueError:
            body, ok = None, False
        status = _control_take()
        STATE["n"] += 1
        u = urllib.parse.urlsplit(self.path)
        rec = {
            "n": STATE["n"],
            "t": round(time.time(), 3),
            "method": self.command,
            "path": u.path,
            "query": u.query,
            "content_type": self.headers.get("Content-Type"),
            "user_agent": self.headers.get("User-Agent"),
            "status": status,
            "body": body,
            "body_text": text,
            "json_ok": ok,
        }
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
        answer = json.dumps({"ok": status < 300}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle
    do_HEAD = _handle


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", required=True, help="JSON-lines log, one line per request")
    p.add_argument("--ready-file", help="the port is written here once listening")
    p.add_argument("--fail-first", type=int, default=0, help="answer --fail-status to the first N requests")
    p.add_argument("--fail-status", type=int, default=500)
    p.add_argument("--control", help='JSON file re-read per request: {"fail": N, "status": 500}')
    ARGS = p.parse_args()
    STATE["fail_first"] = ARGS.fail_first
    STATE["fail_status"] = ARGS.fail_status
    srv = http.server.HTTPServer((ARGS.listen, ARGS.port), Handler)
    port = srv.server_address[1]
    if ARGS.ready_file:
        tmp = ARGS.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, ARGS.ready_file)
    print("webhook_listener on http://%s:%d (log %s)" % (ARGS.listen, port, ARGS.log), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
