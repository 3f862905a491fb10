#!/usr/bin/python3
"""test/servers/reqlog.py: questions about fault_proxy.py's request log.

    /usr/bin/python3 reqlog.py LOG uploads [--since N]
        one line per multipart upload: UPLOADID started=0|1 parts=N completed=0|1
        aborted=0|1 (completed: a POST ?uploadId= forwarded and answered 200
        by s3rver, even if the proxy then cut the answer (truncate, stall_body);
        aborted: a DELETE ?uploadId= was sent, whatever s3rver answered: it
        does not implement AbortMultipartUpload), then "unfinished=K"
        (started, neither completed nor aborted) and "started=S"
    /usr/bin/python3 reqlog.py LOG parts [--since N]
        part uploads forwarded and answered 200: "parts=N", "numbers=1,2,...",
        "sizes=..." (bytes, by part number, the last successful upload of each),
        "max_in_flight=M" (most PUT ?partNumber requests open at one time,
        counting every one the proxy saw, faulted or not)
    /usr/bin/python3 reqlog.py LOG count [--since N] [method=M] [query=NAME]
                                 [action=A] [auth=A] [status=S] [min_status=S] [range=1|0]
                                 [token=True|False]
        the number of entries matching all the conditions (status=None: no
        response, i.e. reset or stall)
    /usr/bin/python3 reqlog.py LOG lines
        the number of entries (use it as --since for later questions)

--since N skips the first N lines (the requests of earlier cases).
"""

import json
import sys


def load(path, since):
    out = []
    with open(path) as f:
        for i, line in enumerate(f):
            if i < since:
                continue
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    path, cmd, rest = args[0], args[1], args[2:]
    since = 0
    conds = []
    i = 0
    while i < len(rest):
        if rest[i] == "--since":
            since = int(rest[i + 1])
            i += 2
            continue
        conds.append(rest[i])
        i += 1
    if cmd == "lines":
        with open(path) as f:
            print(sum(1 for _ in f))
        return
    entries = load(path, since)
    if cmd == "uploads":
        ups = {}

        def up(uid):
            return ups.setdefault(uid, {"started": 0, "parts": set(), "completed": 0, "aborted": 0})

        for e in entries:
            if e.get("newUploadId"):
                up(e["newUploadId"])["started"] = 1
            uid = e.get("uploadId")
            if not uid:
                continue
            u = up(uid)
            if e["method"] == "PUT" and e.get("partNumber") and e.get("status") == 200:
                u["parts"].add(e["partNumber"])
            if e["method"] == "POST" and e.get("action") in ("forward", "delay", "truncate", "stall_body") and e.get("status") == 200:
                u["completed"] = 1
            if e["method"] == "DELETE":
                u["aborted"] = 1
        unfinished = 0
        for uid, u in ups.items():
            print(f"{uid} started={u['started']} parts={len(u['parts'])} completed={u['completed']} aborted={u['aborted']}")
            if not u["completed"] and not u["aborted"]:
                unfinished += 1
        print(f"unfinished={unfinished}")
        print(f"started={sum(u['started'] for u in ups.values())}")
    elif cmd == "parts":
        sizes = {}
        spans = []
        for e in entries:
            if e["method"] != "PUT" or not e.get("partNumber"):
                continue
            # [start, end): "end" is when the proxy had sent the answer; 20 ms
            # of slack for the proxy's own thread switches (the client may
            # start the next part before the proxy's thread takes its time)
            end = e.get("end", e["time"] + e.get("ms", 0) / 1000.0)
            spans.append((e["time"], max(e["time"], end - 0.02)))
            if e.get("status") == 200 and e.get("action") in ("forward", "delay"):
                sizes[int(e["partNumber"])] = e.get("bytes_in", 0)
        events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda x: (x[0], x[1]))
        cur = best = 0
        for _, d in events:
            cur += d
            best = max(best, cur)
        nums = sorted(sizes)
        print(f"parts={len(nums)}")
        print("numbers=" + ",".join(str(n) for n in nums))
        print("sizes=" + ",".join(str(sizes[n]) for n in nums))
        print(f"max_in_flight={best}")
    elif cmd == "count":
        n = 0
        for e in entries:
            ok = True
            for c in conds:
                k, _, v = c.partition("=")
                if k == "query":
                    ok = v in e.get("query", [])
                elif k == "range":
                    ok = bool(e.get("range")) == (v == "1")
                elif k == "status":
                    ok = str(e.get("status")) == v
                elif k == "min_status":
                    ok = e.get("status") is not None and e["status"] >= int(v)
                else:
                    ok = str(e.get(k)) == v
                if not ok:
                    break
            if ok:
                n += 1
        print(n)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
