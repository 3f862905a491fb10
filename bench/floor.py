#!/usr/bin/env python3
"""bench/floor.py: what the server itself needs for a shape's data, without pgbackups.

perf_bench.sh runs it after its measurements, on the same cluster and database,
to show how far a target is from what this machine can do at all:

  restore  every table's COPY text (written first with COPY TO a file) loaded
           with COPY FREEZE into a schema-only copy of the database (TRUNCATE
           in the same transaction, so under wal_level = minimal no WAL), then
           the post-data section without foreign keys (indexes and keys) with
           max_parallel_maintenance_workers 0; one session, then the same work
           in two sessions at once (tables assigned by size, each table's
           indexes right after its rows).  No archive to read or decompress,
           no large objects, no foreign key checks: a restore does more.
  capture  COPY TO '/dev/null' of every table in one session, and zstd -3
           (one thread, the zstd command) of the same COPY text.  A capture
           reads the same rows and compresses the same text, and does more.
           Then each of the two twice at once, as a capture's two streams
           run: COPY TO '/dev/null' in two sessions (a table larger than an
           eighth of the data cut in two ctid halves, pieces assigned by
           size) and two zstd -3 -T1 over the text split by size.  A
           process runs slower while another runs beside it on this kind of
           machine, so these CPU seconds over the cores bound a two-stream
           capture (which also writes spools, an archive, pg_dump's DDL).

CPU seconds of a session are read from the backend's /proc/self/stat
(pg_read_file, superuser) at its start and end: exact, not sampled.

Usage: floor.py --bin PGBIN --db DB --dir DIR   (PGHOST, PGPORT, PGUSER from
the environment; DIR must be writable by the server's user).  Prints
"name value" lines (seconds) on stdout.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    ap.add_argument('--db', required=True)
    ap.add_argument('--dir', required=True)
    a = ap.parse_args()
    d = a.dir
    psql = [os.path.join(a.bin, 'psql'), '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1']
    floor_db = 'pgb_floor'

    def q(db, sql):
        return subprocess.check_output(psql + ['-d', db, '-c', sql], text=True).split('\n')[:-1]

    def session_file(name, body, settings=''):
        """a psql script that reads the backend's stat before and after BODY"""
        f = os.path.join(d, name + '.sql')
        with open(f, 'w') as o:
            o.write(settings)
            o.write(f"\\o {d}/{name}.s0\nSELECT pg_read_file('/proc/self/stat');\n\\o\n")
            o.write(body)
            o.write(f"\\o {d}/{name}.s1\nSELECT pg_read_file('/proc/self/stat');\n\\o\n")
        return f

    tick = os.sysconf('SC_CLK_TCK')

    def two_shares(items):
        """(item, size) pairs dealt to two sessions, largest first to the less loaded"""
        share, weight = [[], []], [0, 0]
        for item, size in sorted(items, key=lambda p: -p[1]):
            k = weight.index(min(weight))
            weight[k] += size
            share[k].append(item)
        return share

    def cpu(name):
        def t(f):
            with open(f) as fh:
                fields = fh.readline().split(') ')[-1].split()
            return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return (t(f'{d}/{name}.s1') - t(f'{d}/{name}.s0')) / tick

    def run(db, files):
        """run the scripts at once; returns wall seconds"""
        t0 = time.monotonic()
        ps = [subprocess.Popen(psql + ['-d', db, '-f', f]) for f in files]
        rcs = [p.wait() for p in ps]
        if any(rcs):
            sys.exit('floor.py: a session failed')
        return time.monotonic() - t0

    tables = q(a.db, """
        SELECT format('%I.%I', n.nspname, c.relname) || ' ' || pg_total_relation_size(c.oid)
               || ' ' || pg_relation_size(c.oid) / current_setting('block_size')::int
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                            AND e.objid = c.oid AND e.deptype = 'e')
         ORDER BY pg_total_relation_size(c.oid) DESC""")
    tables = [t.rsplit(' ', 2) for t in tables]
    blocks = dict((t, int(b)) for t, _, b in tables)
    tables = [(t, int(size)) for t, size, _ in tables]
    files = {t: f'{d}/{i}.copy' for i, (t, _) in enumerate(tables)}

    # the COPY text of every table (not measured)
    run(a.db, [session_file('out', ''.join(f"COPY {t} TO '{files[t]}';\n" for t, _ in tables))])
    text_bytes = sum(os.path.getsize(f) for f in files.values())

    # capture: COPY TO /dev/null, one session; zstd -3 of the text, one thread
    run(a.db, [session_file('null', ''.join(f"COPY {t} TO '/dev/null';\n" for t, _ in tables))])
    copy_out = cpu('null')
    zstd_cpu = None
    if shutil.which('zstd'):
        r0 = os.times()
        with open(os.devnull, 'wb') as null:
            subprocess.check_call(['zstd', '-3', '-T1', '-q', '-c'] + list(files.values()), stdout=null)
        r1 = os.times()
        zstd_cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)

    # capture, two at once (a capture runs two streams): COPY TO /dev/null in
    # two sessions (big tables in ctid halves, pieces by size), then two
    # zstd -3 -T1 at once over the text split by size.  On this kind of
    # machine a process runs slower while another runs beside it, so these
    # CPU seconds, over the cores, are the bound a two-stream capture meets.
    total = sum(size for _, size in tables)
    pieces = []
    for t, size in tables:
        h = blocks[t] // 2
        if size > total / 8 and h > 0:
            pieces += [(f"SELECT * FROM ONLY {t} WHERE ctid < '({h},0)'", size / 2),
                       (f"SELECT * FROM ONLY {t} WHERE ctid >= '({h},0)'", size / 2)]
        else:
            pieces.append((f"SELECT * FROM ONLY {t}", size))
    share = two_shares(pieces)
    copy_two_wall = run(a.db, [session_file(f'null{k}', ''.join(
        f"COPY ({sql}) TO '/dev/null';\n" for sql in share[k]),
        "SET synchronize_seqscans = off;\n") for k in (0, 1)])
    copy_two_cpu = cpu('null0') + cpu('null1')
    zstd_two_wall = zstd_two_cpu = None
    if zstd_cpu is not None:
        # the text of a table larger than an eighth cut in two at a row (not measured)
        texts = []
        for f in files.values():
            n = os.path.getsize(f)
            if n > text_bytes / 8:
                with open(f, 'rb') as i:
                    i.seek(n // 2)
                    i.readline()
                    cut = i.tell()
                    i.seek(0)
                    for half, left in ((f + '.a', cut), (f + '.b', n - cut)):
                        with open(half, 'wb') as o:
                            while left > 0:
                                b = i.read(min(left, 1 << 22))
                                o.write(b)
                                left -= len(b)
                        texts.append(half)
            else:
                texts.append(f)
        group = two_shares([(f, os.path.getsize(f)) for f in texts])
        r0 = os.times()
        t0 = time.monotonic()
        with open(os.devnull, 'wb') as null:
            ps = [subprocess.Popen(['zstd', '-3', '-T1', '-q', '-c'] + g, stdout=null) for g in group if g]
            if any(p.wait() for p in ps):
                sys.exit('floor.py: zstd failed')
        zstd_two_wall = time.monotonic() - t0
        r1 = os.times()
        zstd_two_cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
        for f in texts:
            if f not in files.values():
                os.unlink(f)

    # restore: a schema-only copy of the database, its post-data without foreign keys
    dump = f'{d}/schema.dump'
    subprocess.check_call([os.path.join(a.bin, 'pg_dump'), '-Fc', '-s', '-f', dump, a.db])
    listing = subprocess.check_output([os.path.join(a.bin, 'pg_restore'), '-l', dump], text=True)
    with open(f'{d}/list', 'w') as o:
        o.write(''.join(l + '\n' for l in listing.split('\n') if l and ' FK CONSTRAINT ' not in l))
    post = subprocess.check_output([os.path.join(a.bin, 'pg_restore'), '-L', f'{d}/list',
                                    '--section=post-data', '-f', '-', dump], text=True)
    stmts, cur = [], ''
    for line in post.split('\n'):
        if line.startswith(('--', '\\')) or not line.strip():
            continue
        cur += line + '\n'
        if line.rstrip().endswith(';'):
            if not cur.startswith(('SET ', 'SELECT pg_catalog.set_config')):
                stmts.append(cur)
            cur = ''
    owner = {}
    for s in stmts:
        m = re.search(r'ALTER TABLE ONLY (\S+)|\bON (?:ONLY )?(\S+) USING', s)
        owner.setdefault(m.group(1) or m.group(2) if m else None, []).append(s)
    settings = "SET max_parallel_maintenance_workers = 0;\nSET maintenance_work_mem = '512MB';\n"

    def load(t):
        return f"BEGIN; TRUNCATE ONLY {t}; COPY {t} FROM '{files[t]}' WITH (FREEZE); COMMIT;\n"

    def fresh():
        q('postgres', f'DROP DATABASE IF EXISTS {floor_db}')
        q('postgres', f'CREATE DATABASE {floor_db}')
        subprocess.check_call([os.path.join(a.bin, 'pg_restore'), '--section=pre-data', '-d', floor_db, dump])

    fresh()
    run(floor_db, [session_file('load', ''.join(load(t) for t, _ in tables))])
    load_cpu = cpu('load')
    run(floor_db, [session_file('post', ''.join(stmts), settings)])
    post_cpu = cpu('post')

    # the same work in two sessions at once: tables by size (largest first to
    # the less loaded session), each table's indexes right after its rows
    fresh()
    share = two_shares(tables)
    body = [''.join(load(t) + ''.join(owner.get(t, [])) for t in s) for s in share]
    rest = ''.join(owner.get(None, []))
    wall2 = run(floor_db, [session_file('two0', body[0], settings), session_file('two1', body[1], settings)])
    if rest:
        wall2 += run(floor_db, [session_file('two2', rest, settings)])
    cpu2 = cpu('two0') + cpu('two1') + (cpu('two2') if rest else 0)
    q('postgres', f'DROP DATABASE {floor_db}')
    for f in files.values():
        os.unlink(f)

    print(f'tables {len(tables)}')
    print(f'copy_text_bytes {text_bytes}')
    print(f'copy_out_cpu {copy_out:.1f}')
    print(f'zstd_cpu {zstd_cpu:.1f}' if zstd_cpu is not None else 'zstd_cpu -')
    print(f'copy_two_wall {copy_two_wall:.2f}')
    print(f'copy_two_cpu {copy_two_cpu:.1f}')
    print(f'zstd_two_wall {zstd_two_wall:.2f}' if zstd_two_wall is not None else 'zstd_two_wall -')
    print(f'zstd_two_cpu {zstd_two_cpu:.1f}' if zstd_two_cpu is not None else 'zstd_two_cpu -')
    print(f'load_cpu {load_cpu:.1f}')
    print(f'post_cpu {post_cpu:.1f}')
    print(f'two_sessions_wall {wall2:.2f}')
    print(f'two_sessions_cpu {cpu2:.1f}')


if __name__ == '__main__':
    main()
