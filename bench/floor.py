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
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                            AND e.objid = c.oid AND e.deptype = 'e')
         ORDER BY pg_total_relation_size(c.oid) DESC""")
    tables = [(t.rsplit(' ', 1)[0], int(t.rsplit(' ', 1)[1])) for t in tables]
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
    share, weight = [[], []], [0, 0]
    for t, size in tables:
        k = weight.index(min(weight))
        weight[k] += size
        share[k].append(t)
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
    print(f'load_cpu {load_cpu:.1f}')
    print(f'post_cpu {post_cpu:.1f}')
    print(f'two_sessions_wall {wall2:.2f}')
    print(f'two_sessions_cpu {cpu2:.1f}')


if __name__ == '__main__':
    main()
