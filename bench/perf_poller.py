#!/usr/bin/env python3
# bench/perf_poller.py: the /proc sampler of every benchmark in bench/
# (started and stopped through start_poller/stop_poller of bench/lib.sh).
#
# perf_poller.py OUT POSTMASTER_PID SCRIPT_PID CLIENT_RE SERVER_RE PGDATA ARCHIVE_DIR
#                [--rss] [--backend-re RE] [--extra NAME PID]...
#
# Every 0.2 s until SIGTERM (then one last sample), from /proc:
#   main     processes doing the work: descendants of SCRIPT_PID whose command
#            line matches CLIENT_RE (pg_dump, pg_restore, vacuumdb), children of
#            the postmaster matching SERVER_RE (pgbackups job/stream/restore
#            workers), and all their descendants (the job worker's pg_dump);
#   backend  the other children of the postmaster except auxiliary processes
#            (checkpointer, walwriter, io workers, pgbackups scheduler and
#            launcher, ...): the sessions running COPY, CREATE INDEX, ANALYZE
#            for either tool, and their parallel workers.
# It keeps the highest *sum* of RssAnon (private anonymous memory) per group,
# and each process's CPU ticks (utime + stime) at its last sample, minus its
# ticks at the first sample if it already existed then.
# Every second sample (0.4 s), temporary disk:
#   spool    files named *.tmp under ARCHIVE_DIR except the archive being
#            written (*.dump.tmp): a capture's spool files beside its archive;
#            plus everything under PGDATA/pgbackups_tmp (a copy's temporary
#            archive, a URL restore's download);
#   staging  database directories under PGDATA/base created after the poller
#            started (the staging database of a restore or copy; the targets of
#            pg_restore are created before the measurement starts).
# Sizes are allocated blocks (st_blocks * 512).  Writes "key value" lines to OUT.
# Options (none: the output bench/perf_bench.sh reports):
#   --rss            also the highest sums of VmRSS per group (peak_G_rss_kb),
#                    the highest sum of RssAnon over all groups in one sample
#                    (peak_total_anon_kb), and per process the peaks of VmHWM
#                    and VmRSS (which include the shared buffers a server
#                    process touched);
#   --backend-re RE  the backend group only has the processes matching RE;
#   --extra NAME PID one more group NAME: PID and its descendants (s3rver),
#                    with peak_NAME_anon_kb and cpu_NAME_s.
import os, re, signal, sys, time

out, root, script = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client_re = re.compile(sys.argv[4]) if sys.argv[4] else None
server_re = re.compile(sys.argv[5]) if sys.argv[5] else None
pgdata, archdir = sys.argv[6], sys.argv[7]
want_rss, backend_re, extra = False, None, {}
opts = sys.argv[8:]
while opts:
    o = opts.pop(0)
    if o == "--rss":
        want_rss = True
    elif o == "--backend-re":
        backend_re = re.compile(opts.pop(0))
    elif o == "--extra":
        name = opts.pop(0)
        extra[name] = int(opts.pop(0))
    else:
        sys.exit(f"perf_poller.py: unknown option {o}")
groups = ["main", "backend"] + list(extra)
aux = re.compile(r"^postgres: (checkpointer|background writer|walwriter|walsummarizer|autovacuum launcher|"
                 r"logical replication launcher|stats collector|archiver|io worker|startup|"
                 r"pgbackups (scheduler|launcher|maintenance|sweep))")
hz = os.sysconf("SC_CLK_TCK")
me = os.getpid()
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def tree_bytes(path, pred=None, files=None):
    total = 0
    try:
        it = os.scandir(path)
    except OSError:
        return 0
    with it:
        for e in it:
            try:
                if e.is_dir(follow_symlinks=False):
                    total += tree_bytes(e.path, pred, files)
                elif e.is_file(follow_symlinks=False) and (pred is None or pred(e.name)):
                    st = e.stat(follow_symlinks=False)
                    total += st.st_blocks * 512
                    if files is not None:
                        files.append((st.st_blocks * 512, st.st_size, e.path))
            except OSError:
                pass
    return total


def is_spool(name):
    return name.endswith(".tmp") and not name.endswith(".dump.tmp")


base = os.path.join(pgdata, "base")
base0 = set(os.listdir(base))
tmpdir = os.path.join(pgdata, "pgbackups_tmp")

first = {}      # pid -> ticks at the first sample (processes that existed before)
last = {}       # pid -> ticks at its last sample
group = {}      # pid -> "main" / "backend"
label = {}
panon = {}      # pid -> peak RssAnon kB
phwm, prss = {}, {}  # pid -> peak VmHWM, VmRSS kB (--rss)
peak = {"spool": 0, "staging": 0, "total": 0}
peak_rss = {}
for g in groups:
    peak[g] = peak_rss[g] = 0
samples = 0
spool_files = []
open(out + ".ready", "w").close()
while True:
    final = stop
    snap = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            snap[int(d)] = (cmd, int(fields[1]), int(fields[11]) + int(fields[12]))
        except (OSError, ValueError, IndexError):
            continue
    kids = {}
    for p, (_, pp, _) in snap.items():
        kids.setdefault(pp, []).append(p)

    def desc(roots):
        found, todo = set(), list(roots)
        while todo:
            p = todo.pop()
            if p in found:
                continue
            found.add(p)
            todo.extend(kids.get(p, ()))
        return found

    server = desc([root]) - {root} if root in snap else set()
    mine = desc([script]) - {script}
    main = set()
    if server_re:
        main |= {p for p in server if server_re.search(snap[p][0])}
    if client_re:
        main |= {p for p in mine if client_re.search(snap[p][0])}
    main = desc(main)
    backend = {p for p in server - main if snap[p][0] and not aux.search(snap[p][0])
               and (backend_re is None or backend_re.search(snap[p][0]))}
    members = {"main": main, "backend": backend}
    for g, pid in extra.items():
        members[g] = desc([pid]) if pid in snap else set()
        members["main"] -= members[g]
        members["backend"] -= members[g]
    sums = {g: 0 for g in groups}
    rsums = {g: 0 for g in groups}
    for g in groups:
        for p in members[g]:
            try:
                with open(f"/proc/{p}/status") as f:
                    st = {k: int(v.split()[0]) for k, _, v in (l.partition(":") for l in f)
                          if k in ("RssAnon", "VmHWM", "VmRSS")}
            except (OSError, ValueError):
                continue
            anon = st.get("RssAnon", 0)
            sums[g] += anon
            rsums[g] += st.get("VmRSS", 0)
            phwm[p] = max(phwm.get(p, 0), st.get("VmHWM", 0))
            prss[p] = max(prss.get(p, 0), st.get("VmRSS", 0))
            if samples == 0 and p not in first:
                first[p] = snap[p][2]
            last[p] = snap[p][2]
            group[p] = g
            label.setdefault(p, snap[p][0][:80])
            panon[p] = max(panon.get(p, 0), anon)
    for g in sums:
        peak[g] = max(peak[g], sums[g])
        peak_rss[g] = max(peak_rss[g], rsums[g])
    peak["total"] = max(peak["total"], sum(sums.values()))
    if samples % 2 == 0 or final:
        files = []
        sp = tree_bytes(archdir, is_spool, files) + tree_bytes(tmpdir, None, files)
        if sp > peak["spool"]:
            peak["spool"] = sp
            spool_files = sorted(files, reverse=True)[:8]
        try:
            new = set(os.listdir(base)) - base0
        except OSError:
            new = set()
        peak["staging"] = max(peak["staging"], sum(tree_bytes(os.path.join(base, d)) for d in new))
    samples += 1
    if final:
        break
    time.sleep(0.2)

cpu = {g: 0.0 for g in groups}
for p, g in group.items():
    cpu[g] += (last[p] - first.get(p, 0)) / hz
with open(out + ".part", "w") as f:
    f.write(f"samples {samples}\n")
    f.write(f"peak_main_anon_kb {peak['main']}\npeak_backend_anon_kb {peak['backend']}\n")
    f.write(f"cpu_main_s {cpu['main']:.2f}\ncpu_backend_s {cpu['backend']:.2f}\n")
    for g in extra:
        f.write(f"peak_{g}_anon_kb {peak[g]}\ncpu_{g}_s {cpu[g]:.2f}\n")
    if want_rss:
        for g in groups:
            f.write(f"peak_{g}_rss_kb {peak_rss[g]}\n")
        f.write(f"peak_total_anon_kb {peak['total']}\n")
    f.write(f"peak_spool_bytes {peak['spool']}\npeak_staging_bytes {peak['staging']}\n")
    for blocks, size, path in spool_files:
        f.write(f"spool_file_at_peak allocated={blocks} size={size} {path}\n")
    for p in sorted(group):
        mem = f"anon_kb={panon.get(p, 0)}" + (f" hwm_kb={phwm.get(p, 0)} rss_kb={prss.get(p, 0)}" if want_rss else "")
        f.write(f"proc {group[p]} {p} {mem} cpu_s={(last[p] - first.get(p, 0)) / hz:.2f} {label[p]}\n")
os.rename(out + ".part", out)
