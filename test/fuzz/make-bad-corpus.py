#!/usr/bin/env python3
"""Generate the archive-reader corpus of test/fuzz/corpus (Python 3 stdlib only).

    test/fuzz/make-bad-corpus.py [--out DIR]

From the real pg_dump fixtures in test/data/archives it writes:

  good/          the fixtures themselves (those under 200 KB)
  bad/           named malformed archives: truncations at many points, bad
                 header fields, lying lengths and counts, bad dump IDs,
                 dependencies, offsets, block types and headers, corrupt or
                 concatenated compressed streams, trailing garbage,
                 decompression bombs; plus a few "legal_*" inputs that look
                 odd but that the spec (shared docs/archive-format.md) says
                 are valid and must be read
  expected.tsv   what the reader must do with each file: NAME, WANT ("ok",
                 "error" or an SQLSTATE), and a substring of the error
                 message, then a "#" note (reader_driver --expect reads it)

The output is deterministic; rerun after changing the fixtures or this
script, and commit the result.  Every file is small: the bombs are a few
KB to 200 KB of compressed data that would expand to 12-200 MB.
"""
import argparse
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'data', 'archives')
GOOD_MAX = 200 * 1024

BLK_DATA, BLK_BLOBS = 1, 3
OFF_NOT_SET, OFF_SET, OFF_NO_DATA = 1, 2, 3
ALG_NONE, ALG_GZIP, ALG_LZ4, ALG_ZSTD = 0, 1, 2, 3

XX001 = 'XX001'     # data corrupted
F0A000 = '0A000'    # feature not supported
L54000 = '54000'    # program limit exceeded


# ---------------------------------------------------------------------------
# encoding primitives (spec section 1)

def wint(v):
    """Int: sign byte, 4-byte little-endian magnitude."""
    if v < 0:
        return b'\x01' + struct.pack('<I', (-v) & 0xffffffff)
    return b'\x00' + struct.pack('<I', v & 0xffffffff)


def wstr(s):
    if s is None:
        return wint(-1)
    if isinstance(s, str):
        s = s.encode()
    return wint(len(s)) + s


class Raw(bytes):
    """Bytes written verbatim in place of an encoded field."""


def wfield(v, enc):
    if isinstance(v, Raw):
        return bytes(v)
    return enc(v)


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def byte(self):
        v = self.b[self.p]
        self.p += 1
        return v

    def take(self, n):
        v = self.b[self.p:self.p + n]
        if len(v) != n:
            raise EOFError
        self.p += n
        return v

    def int(self):
        sign = self.byte()
        v = struct.unpack('<I', self.take(4))[0]
        return -v if sign else v

    def str(self):
        n = self.int()
        return None if n < 0 else self.take(n)


# ---------------------------------------------------------------------------
# archive model

ENTRY_STRS1 = ('tableoid', 'oid', 'tag', 'desc')
ENTRY_STRS2 = ('defn', 'drop', 'copy', 'namespace', 'tablespace', 'tableam')    # tableam: 1.14+
ENTRY_STRS3 = ('owner', 'withoids')


class Archive:
    def copy(self):
        a = Archive()
        a.__dict__.update(self.__dict__)
        a.toc = [dict(e, deps=list(e['deps'])) for e in self.toc]
        a.blocks = [dict(b, items=[list(i) if isinstance(i, list) else (i[0], list(i[1])) for i in b['items']])
                    for b in self.blocks]
        return a

    @property
    def v114(self):
        return (self.vmaj, self.vmin) >= (1, 14)

    @property
    def v116(self):
        return (self.vmaj, self.vmin) >= (1, 16)

    @property
    def v115(self):
        return (self.vmaj, self.vmin) >= (1, 15)

    @property
    def alg(self):
        if self.v115:
            return self.comp
        return ALG_GZIP if self.comp != 0 else ALG_NONE

    def entry(self, dump_id):
        return next(e for e in self.toc if e['id'] == dump_id)

    def data_blocks(self, blktype=BLK_DATA):
        return [b for b in self.blocks if b['type'] == blktype]


def parse(data):
    r = Reader(data)
    a = Archive()
    assert r.take(5) == b'PGDMP'
    a.vmaj, a.vmin, a.vrev = r.byte(), r.byte(), r.byte()
    a.intsize, a.offsize, a.format = r.byte(), r.byte(), r.byte()
    assert a.intsize == 4 and a.offsize == 8
    a.comp = r.byte() if a.v115 else r.int()
    a.tm = [r.int() for _ in range(7)]
    a.dbname, a.server, a.pgdump = r.str(), r.str(), r.str()
    a.toc = []
    for _ in range(r.int()):
        e = {'id': r.int(), 'had': r.int()}
        for f in ENTRY_STRS1:
            e[f] = r.str()
        e['section'] = r.int()
        for f in ENTRY_STRS2:
            e[f] = r.str() if f != 'tableam' or a.v114 else None
        if a.v116:
            e['relkind'] = r.int()
        for f in ENTRY_STRS3:
            e[f] = r.str()
        e['deps'] = []
        while True:
            d = r.str()
            if d is None:
                break
            e['deps'].append(d)
        e['flag'] = r.byte()
        e['pos'] = struct.unpack('<Q', r.take(8))[0]
        a.toc.append(e)
    a.blocks = []

    def chunks():
        out = []
        while True:
            n = r.int()
            if n == 0:
                return out
            out.append(r.take(n))

    while r.p < len(data):
        b = {'type': r.byte(), 'id': r.int(), 'items': [], 'tail': b''}
        if b['type'] == BLK_DATA:
            b['items'] = [chunks()]
        else:
            assert b['type'] == BLK_BLOBS
            while True:
                oid = r.int()
                if oid == 0:
                    break
                b['items'].append((oid, chunks()))
        a.blocks.append(b)
    return a


def serialize(a, fix_offsets=True):
    """Bytes of the archive and a layout map of where every field went.

    With fix_offsets, entries with flag 2 (SET) get the position of their
    block (the first one with their dump ID), as pg_dump's TOC rewrite.
    """
    lay = {'entries': [], 'blocks': []}
    h = bytearray(b'PGDMP')
    lay['version'] = len(h)
    h += bytes([a.vmaj, a.vmin, a.vrev])
    lay['intsize'] = len(h)
    h.append(a.intsize)
    lay['offsize'] = len(h)
    h.append(a.offsize)
    lay['format'] = len(h)
    h.append(a.format)
    lay['comp'] = len(h)
    h += bytes([a.comp]) if a.v115 else wfield(a.comp, wint)
    lay['tm'] = len(h)
    for v in a.tm:
        h += wint(v)
    lay['dbname'] = len(h)
    h += wfield(a.dbname, wstr)
    lay['server'] = len(h)
    h += wfield(a.server, wstr)
    h += wfield(a.pgdump, wstr)
    lay['header_end'] = len(h)

    # blocks first (their positions depend only on the TOC length, which
    # does not depend on the offsets' values)
    blocks = []
    for b in a.blocks:
        bl = {'chunks': [], 'oids': []}
        out = bytearray()
        bl['type'] = 0
        out.append(b['type'])
        bl['id'] = len(out)
        out += wint(b['id'])
        items = b['items']
        for it in items:
            if isinstance(it, tuple):
                bl['oids'].append(len(out))
                out += wint(it[0])
                it = it[1]
            for c in it:
                bl['chunks'].append((len(out), len(c)))
                out += wfield(c, wstr) if isinstance(c, Raw) else wint(len(c)) + c
            bl.setdefault('terms', []).append(len(out))
            out += wint(0)
        if b['type'] == BLK_BLOBS and not b.get('no_blobs_end'):
            bl['blobs_end'] = len(out)
            out += wint(0)
        out += b.get('tail', b'')
        blocks.append((bl, bytes(out)))

    def toc_bytes(positions):
        t = bytearray()
        lay['ntoc'] = len(h) + len(t)
        t += wfield(getattr(a, 'ntoc', len(a.toc)), wint)
        lay['entries'] = []
        for e in a.toc:
            el = {'start': len(h) + len(t)}
            el['id'] = len(h) + len(t)
            t += wfield(e['id'], wint)
            el['had'] = len(h) + len(t)
            t += wfield(e['had'], wint)
            for f in ENTRY_STRS1:
                el[f] = len(h) + len(t)
                t += wfield(e[f], wstr)
            el['section'] = len(h) + len(t)
            t += wfield(e['section'], wint)
            for f in ENTRY_STRS2:
                el[f] = len(h) + len(t)
                if f != 'tableam' or a.v114:
                    t += wfield(e[f], wstr)
            if a.v116:
                el['relkind'] = len(h) + len(t)
                t += wfield(e['relkind'], wint)
            for f in ENTRY_STRS3:
                el[f] = len(h) + len(t)
                t += wfield(e[f], wstr)
            el['deps'] = len(h) + len(t)
            for d in e['deps']:
                t += wfield(d, wstr)
            if not e.get('no_deps_end'):
                t += wint(-1)
            el['flag'] = len(h) + len(t)
            pos = e['pos']
            if fix_offsets and e['flag'] == OFF_SET and e['id'] in positions:
                pos = positions[e['id']]
            t.append(e['flag'])
            t += (pos & ((1 << (8 * a.offsize)) - 1)).to_bytes(a.offsize, 'little') if a.offsize else b''
            el['end'] = len(h) + len(t)
            lay['entries'].append(el)
        return bytes(t)

    toc_len = len(toc_bytes({}))
    start = len(h) + toc_len
    positions = {}
    p = start
    for (bl, bb), b in zip(blocks, a.blocks):
        positions.setdefault(b['id'], p)
        for k in ('id',):
            bl[k] += p
        bl['start'] = p
        bl['chunks'] = [(q + p, n) for q, n in bl['chunks']]
        bl['oids'] = [q + p for q in bl['oids']]
        bl['terms'] = [q + p for q in bl.get('terms', [])]
        if 'blobs_end' in bl:
            bl['blobs_end'] += p
        p += len(bb)
        bl['end'] = p
        lay['blocks'].append(bl)
    t = toc_bytes(positions)
    assert len(t) == toc_len
    lay['data_start'] = start
    return bytes(h) + t + b''.join(bb for _, bb in blocks), lay


def load(name):
    with open(os.path.join(FIXTURES, name + '.dump'), 'rb') as f:
        data = f.read()
    a = parse(data)
    again, _ = serialize(a)
    assert again == data, name + ': parse/serialize round trip differs'
    return a


# ---------------------------------------------------------------------------
# compressed payloads

def split(payload, size=4096):
    return [payload[i:i + size] for i in range(0, len(payload), size)] or []


def payload(block, item=0):
    it = block['items'][item]
    return b''.join(it[1] if isinstance(it, tuple) else it)


def zlib_stream(raw, **kw):
    c = zlib.compressobj(**kw)
    return c.compress(raw) + c.flush()


def zlib_bomb(nbytes):
    c = zlib.compressobj(9)
    zero = bytes(1 << 20)
    out = [c.compress(zero) for _ in range(nbytes >> 20)]
    out.append(c.flush())
    return b''.join(out)


def zstd_rle_bomb(nbytes, block=128 * 1024):
    """A zstd frame of RLE blocks: 4 bytes per 128 KB of zeros."""
    out = bytearray(b'\x28\xb5\x2f\xfd')
    out.append(0x00)                    # no content size, no checksum, not single-segment
    out.append(7 << 3)                  # window 2^(10+7) = 128 KB
    n = nbytes // block
    for i in range(n):
        last = 1 if i == n - 1 else 0
        hdr = (block << 3) | (1 << 1) | last
        out += hdr.to_bytes(3, 'little') + b'\x00'
    return bytes(out)


def xxh32(data, seed=0):
    P1, P2, P3, P4, P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    M = 0xffffffff

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & M

    def rnd(acc, lane):
        return (rotl((acc + lane * P2) & M, 13) * P1) & M
    n = len(data)
    p = 0
    if n >= 16:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
        while p + 16 <= n:
            for i in range(4):
                v[i] = rnd(v[i], struct.unpack_from('<I', data, p + 4 * i)[0])
            p += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while p + 4 <= n:
        h = (rotl((h + struct.unpack_from('<I', data, p)[0] * P3) & M, 17) * P4) & M
        p += 4
    while p < n:
        h = (rotl((h + data[p] * P5) & M, 11) * P1) & M
        p += 1
    h ^= h >> 15
    h = (h * P2) & M
    h ^= h >> 13
    h = (h * P3) & M
    h ^= h >> 16
    return h


def lz4_zero_block(n):
    """One LZ4 block of n zero bytes: a literal, one long match, 5 literals."""
    m = n - 1 - 5
    r = m - 4 - 15
    out = bytearray([(1 << 4) | 15, 0, 1, 0])
    out += b'\xff' * (r // 255) + bytes([r % 255])
    out += bytes([5 << 4]) + bytes(5)
    return bytes(out)


def lz4_bomb(nbytes, block=4 << 20):
    flg, bd = 0x60, 0x70               # version 01, independent blocks; 4 MB blocks
    out = bytearray(b'\x04\x22\x4d\x18')
    out += bytes([flg, bd, (xxh32(bytes([flg, bd])) >> 8) & 0xff])
    blk = lz4_zero_block(block)
    for _ in range(nbytes // block):
        out += struct.pack('<I', len(blk)) + blk
    out += struct.pack('<I', 0)
    return bytes(out)


# ---------------------------------------------------------------------------
# the cases

class Corpus:
    def __init__(self, out):
        self.out = out
        self.rows = []
        self.names = set()

    def add(self, name, data, want, substr='', note=''):
        assert name not in self.names, name
        self.names.add(name)
        fn = name + '.dump'
        with open(os.path.join(self.out, 'bad', fn), 'wb') as f:
            f.write(data)
        self.rows.append((fn, want, substr, note))

    def write_expected(self, good):
        with open(os.path.join(self.out, 'expected.tsv'), 'w') as f:
            f.write('# test/fuzz/corpus/expected.tsv: written by make-bad-corpus.py, read by\n'
                    '# reader_driver --expect.  NAME<TAB>WANT<TAB>SUBSTRING<TAB># note\n'
                    '# WANT: ok, error (XX001, 0A000 or 54000) or one SQLSTATE; SUBSTRING must\n'
                    '# occur in the error message.  legal_* files are odd but valid per the\n'
                    '# spec (section cited) and must be read.\n')
            for fn in good:
                f.write(f'{fn}\tok\t\t# real pg_dump / writer fixture\n')
            for fn, want, substr, note in self.rows:
                f.write(f'{fn}\t{want}\t{substr}\t# {note}\n')


def patch(data, pos, new):
    return data[:pos] + new + data[pos + len(new):]


def gen(c):
    seek = load('pg15_seek')        # 1.14, gzip, BLOBS, offsets set
    pipe = load('pg15_pipe')        # 1.14, gzip, offsets not set
    none18 = load('pg18_none')      # 1.16, none
    lz4 = load('pg18_lz4')          # 1.16, lz4
    zstd = load('pg18_zstd')        # 1.16, zstd
    gz18 = load('pg18_gzip')        # 1.16, gzip
    lo = load('pg15_bigoid_lo')     # 1.14, none, LOs with OIDs >= 2^31

    sdata, slay = serialize(seek)
    first_entry = slay['entries'][0]

    # -- truncation at many points ------------------------------------------
    def truncations(tag, a):
        data, lay = serialize(a)
        pts = {
            'empty': 0, 'in_magic': 3, 'after_magic': 5, 'in_version': 6,
            'before_intsize': lay['intsize'], 'in_compression': lay['comp'] + 1,
            'in_tm': lay['tm'] + 7, 'in_dbname': lay['dbname'] + 7,
            'header_end': lay['header_end'], 'in_toc_count': lay['ntoc'] + 2,
            'in_first_entry_id': lay['entries'][0]['id'] + 3,
            'in_first_entry_desc': lay['entries'][0]['desc'] + 6,
            'in_entry_deps': lay['entries'][len(a.toc) // 2]['deps'] + 1,
            'in_offset': lay['entries'][-1]['flag'] + 3,
            'before_data': lay['data_start'] - 1,
        }
        bl = lay['blocks'][0]
        pts['in_block_id'] = bl['id'] + 2
        if bl['chunks']:
            q, n = bl['chunks'][0]
            pts['in_chunk_len'] = q + 3
            pts['in_chunk'] = q + 5 + n // 2
        pts['in_chunk_terminator'] = bl['terms'][0] + 2
        for bl2 in lay['blocks']:
            if bl2['oids']:
                pts['in_blob_oid'] = bl2['oids'][0] + 2
                if 'blobs_end' in bl2:
                    pts['before_blobs_end'] = bl2['blobs_end']
        # at a block boundary: what follows is simply missing
        pts['at_block_boundary'] = lay['blocks'][len(lay['blocks']) // 2]['start']
        pts['last_byte'] = len(data) - 1
        for where, at in sorted(pts.items(), key=lambda kv: kv[1]):
            c.add(f'trunc_{tag}_{at:05d}_{where}', data[:at], 'error', '',
                  f'{tag} truncated to {at} of {len(data)} bytes ({where})')

    truncations('pg15_seek', seek)
    truncations('pg15_pipe', pipe)
    truncations('pg18_lz4', lz4)
    truncations('pg18_zstd', zstd)

    # -- header ---------------------------------------------------------------
    c.add('hdr_wrong_magic', b'PGDMQ' + sdata[5:], XX001, 'not a pg_dump custom-format archive', 'magic PGDMQ')
    c.add('hdr_lowercase_magic', b'pgdmp' + sdata[5:], XX001, 'not a pg_dump', 'magic pgdmp')
    c.add('hdr_gzip_file', zlib_stream(sdata, wbits=31), XX001, 'not a pg_dump', 'a gzip-compressed archive')
    for (maj, mn, rev), what in (((1, 17, 0), 'newer than supported (spec 3.3, 11.6)'),
                                 ((1, 11, 0), 'older than 1.12'),
                                 ((1, 0, 0), 'ancient'),
                                 ((2, 0, 0), 'major version 2'),
                                 ((0, 14, 0), 'major version 0'),
                                 ((1, 255, 255), 'version 1.255.255')):
        c.add(f'hdr_version_{maj}_{mn}_{rev}', patch(sdata, slay['version'], bytes([maj, mn, rev])),
              F0A000, 'unsupported archive version', what)
    c.add('legal_hdr_version_1_14_255', patch(sdata, slay['version'], bytes([1, 14, 255])),
          'ok', '', 'revision bytes are accepted up to 1.<minor>.255 (spec 3.1)')
    for mn in (12, 13):
        a = seek.copy()
        a.vmin = mn
        c.add(f'legal_hdr_version_1_{mn}', serialize(a)[0], 'ok', '',
              f'a 1.{mn} archive: no tableam string in the TOC entries (spec 3.3)')
    c.add('hdr_version_1_12_on_1_14_layout', patch(sdata, slay['version'], bytes([1, 12, 0])),
          'error', '', '1.12 has no tableam string, so this 1.14 layout misparses: must fail cleanly')
    c.add('hdr_version_1_15_on_1_14_layout', patch(sdata, slay['version'], bytes([1, 15, 0])),
          'error', '', 'the compression field is an Int in 1.14 and a byte in 1.15')
    for v in (0, 1, 2, 8, 32):
        c.add(f'hdr_intsize_{v}', patch(sdata, slay['intsize'], bytes([v])), XX001, 'integer size',
              f'intSize {v} (spec 1.2: a reader may reject anything but 4)')
    for v in (0, 9, 16, 255):
        c.add(f'hdr_offsize_{v}', patch(sdata, slay['offsize'], bytes([v])), XX001, 'offset size', f'offSize {v}')
    a = seek.copy()
    a.offsize = 4
    c.add('legal_hdr_offsize_4', serialize(a)[0], 'ok', '',
          'offSize 4 (spec 1.4, 11.3: accept with zero high bytes, or reject cleanly)')
    a = seek.copy()
    a.offsize = 1
    c.add('hdr_offsize_1_offsets_cut', serialize(a)[0], 'error', '',
          'offSize 1: the offsets (all > 255) lose their high bytes and point elsewhere')
    for v, what in ((0, 'unknown'), (3, 'tar'), (4, 'null'), (5, 'directory')):
        c.add(f'hdr_format_{v}', patch(sdata, slay['format'], bytes([v])), F0A000, 'unsupported archive format',
              f'format byte {v} ({what})')
    z18, z18lay = serialize(zstd)
    for v in (4, 255):
        c.add(f'hdr_compression_alg_{v}', patch(z18, z18lay['comp'], bytes([v])), XX001,
              'unknown compression algorithm', f'1.16 compression algorithm byte {v}')
    c.add('hdr_compression_alg_gzip_on_zstd_data', patch(z18, z18lay['comp'], bytes([ALG_GZIP])), XX001,
          'could not decompress', 'header says gzip, items are zstd frames')
    c.add('legal_hdr_compression_alg_none_on_zstd_data', patch(z18, z18lay['comp'], bytes([ALG_NONE])), 'ok', '',
          'header says none: the zstd frames are taken as raw bytes (nothing to check them against)')
    for v in (10, -2, 2 ** 31 - 1):
        c.add(f'hdr_compression_level_{v}'.replace('-', 'minus'), patch(sdata, slay['comp'], wint(v)), XX001,
              'invalid compression level', f'1.14 zlib level {v}')
    for v in (1, 9):
        a = seek.copy()
        a.comp = v
        c.add(f'legal_hdr_level_{v}', serialize(a)[0], 'ok', '', f'zlib level {v} means gzip (spec 3.1)')
    a = seek.copy()
    a.comp = 0
    c.add('legal_hdr_level_0_on_gzip_data', serialize(a)[0], 'ok', '',
          'level 0 means none: the zlib streams are taken as raw bytes (nothing to check them against)')
    # the tm fields are informational
    a = seek.copy()
    a.tm = [-1, 2 ** 31 - 1, -2 ** 31, 0, 99, -5, 1]
    c.add('legal_hdr_tm_garbage', serialize(a)[0], 'ok', '', 'tm fields are informational (spec 3.1)')
    # strings in the header
    for v, sub in ((-2, 'string length'), (-2 ** 31, 'string length'), (2 ** 31 - 1, 'string length'),
                   (256 * 1024 * 1024 + 1, 'string length'), (256 * 1024 * 1024, 'unexpected end of file'),
                   (len(sdata), 'unexpected end of file')):
        c.add(f'hdr_dbname_len_{v}'.replace('-', 'minus'), patch(sdata, slay['dbname'], wint(v)), XX001, sub,
              f'dbname length {v}')
    a = seek.copy()
    a.dbname = Raw(b'\x01\x00\x00\x00\x00')
    c.add('legal_hdr_dbname_negative_zero_length', serialize(a)[0], 'ok', '',
          'sign 1, magnitude 0 is 0: an empty dbname (spec 1.2)')
    a = seek.copy()
    a.dbname, a.server, a.pgdump = None, None, None
    c.add('legal_hdr_null_strings', serialize(a)[0], 'ok', '', 'NULL dbname and version strings')
    a = seek.copy()
    a.dbname = b'\xff\xfe\x00db\x00'
    c.add('legal_hdr_dbname_binary', serialize(a)[0], 'ok', '', 'non-UTF-8 dbname with NUL bytes (spec 11.7)')

    # -- TOC count ------------------------------------------------------------
    for v, sub in ((-1, 'TOC entry count'), (-2 ** 31, 'TOC entry count'), (2 ** 31 - 1, 'TOC entry count'),
                   (10 * 1000 * 1000 + 1, 'TOC entry count'), (10 * 1000 * 1000, ''), (9999999, ''),
                   (1000 * 1000, ''), (65536, ''), (len(seek.toc) + 1, ''), (len(seek.toc) - 1, ''), (0, '')):
        c.add(f'toc_count_{v}'.replace('-', 'minus'), patch(sdata, slay['ntoc'], wint(v)), XX001, sub,
              f'TOC count {v} for {len(seek.toc)} entries')
    a = seek.copy()
    tmpl = next(e for e in a.toc if e['desc'] == b'COMMENT')
    a.toc += [dict(tmpl, id=100000 + i, tag=b'COMMENT %d' % i, deps=[b'%d' % (100000 + i - 1)])
              for i in range(300)]
    big, biglay = serialize(a)
    c.add('legal_toc_330_entries', big, 'ok', '', '330 TOC entries, more than the reader first allocates')
    c.add('toc_count_100000_after_330_entries', patch(big, biglay['ntoc'], wint(100000)), XX001, '',
          'TOC count 100000 with 330 entries, then the data blocks read as entries')
    c.add('trunc_toc_330_entries_in_entry_200', big[:biglay['entries'][200]['desc'] + 7], XX001,
          'unexpected end of file', 'EOF in the 200th of 330 entries')
    a = seek.copy()
    a.toc, a.blocks = [], []
    c.add('legal_toc_empty', serialize(a)[0], 'ok', '', 'no entries and no data: a valid archive')

    # -- dump IDs -------------------------------------------------------------
    e0 = slay['entries'][0]
    for v in (0, -1, -2 ** 31):
        c.add(f'toc_dumpid_{v}'.replace('-', 'minus'), patch(sdata, e0['id'], wint(v)), XX001, 'out of range',
              f'dumpId {v} (pg_restore: "entry ID out of range")')
    a = seek.copy()
    a.toc[5]['id'] = a.toc[2]['id']
    c.add('toc_dumpid_duplicate', serialize(a)[0], XX001, 'duplicate entry ID', 'two entries with one dumpId')
    a = seek.copy()
    td = next(e for e in a.toc if e['desc'] == b'TABLE DATA')
    other = next(e for e in a.toc if e['desc'] == b'TABLE')
    for b in a.blocks:
        if b['id'] == td['id']:
            b['id'] = other['id']
    other['id'], td['id'] = td['id'], other['id']
    c.add('legal_toc_dumpids_swapped', serialize(a)[0], 'ok', '', 'dumpIds not in TOC order (spec 4.2)')
    a = seek.copy()
    a.toc[0]['id'] = 2 ** 31 - 1
    c.add('legal_toc_dumpid_int_max', serialize(a)[0], 'ok', '',
          'dumpId 2^31-1 is positive and unique: valid (pg_restore would allocate an array that large)')
    # hadDumper
    c.add('toc_had_dumper_2', patch(sdata, e0['had'], wint(2)), XX001, 'invalid data flag', 'hadDumper 2')
    c.add('toc_had_dumper_minus1', patch(sdata, e0['had'], wint(-1)), XX001, 'invalid data flag', 'hadDumper -1')
    a = seek.copy()
    td = next(e for e in a.toc if e['desc'] == b'TABLE DATA')
    td['had'] = 0
    c.add('toc_had_dumper_0_with_block', serialize(a)[0], XX001, 'no data in the TOC',
          'a data block for an entry with hadDumper 0')
    a = pipe.copy()
    sch = next(e for e in a.toc if e['desc'] == b'SCHEMA')
    sch['had'] = 1
    c.add('toc_had_dumper_1_without_block', serialize(a)[0], XX001, 'no data block',
          'hadDumper 1 and no block: a restore fails with "could not find block ID"')
    # desc, section
    a = seek.copy()
    a.toc[3]['desc'] = None
    c.add('toc_desc_null', serialize(a)[0], XX001, 'has no type', 'NULL desc')
    for v in (0, 5, -1, 2 ** 31 - 1):
        a = seek.copy()
        a.toc[3]['section'] = v
        c.add(f'toc_section_{v}'.replace('-', 'minus'), serialize(a)[0], XX001, 'invalid section',
              f'section {v} (spec 11.11: pg_restore skips such entries; this reader rejects them)')
    # string fields
    a = seek.copy()
    a.toc[4]['tag'] = b'tab\x00with nul'
    a.toc[4]['defn'] = b'x' * 20000
    a.toc[4]['withoids'] = None
    c.add('legal_toc_strings', serialize(a)[0], 'ok', '',
          'NUL inside a tag, a 20 KB defn, NULL withOids (spec 11.2, 11.9: must not crash)')
    a = seek.copy()
    for e in a.toc:
        for f in ENTRY_STRS1 + ENTRY_STRS2 + ENTRY_STRS3:
            if f != 'desc':
                e[f] = None
    c.add('legal_toc_all_null_strings', serialize(a)[0], 'ok', '', 'every optional string NULL')
    mid = slay['entries'][10]
    for f, v, sub in (('tag', -2, 'string length'), ('tag', 2 ** 31 - 1, 'string length'),
                      ('defn', len(sdata), 'unexpected end of file'), ('owner', -100, 'string length'),
                      ('copy', 256 * 1024 * 1024, 'unexpected end of file')):
        c.add(f'toc_{f}_len_{v}'.replace('-', 'minus'), patch(sdata, mid[f], wint(v)), XX001, sub,
              f'{f} length {v} in entry 10')
    # relkind (1.16)
    a = gz18.copy()
    for e in a.toc:
        e['relkind'] = -2 ** 31 if e['desc'] == b'TABLE' else 2 ** 31 - 1
    c.add('legal_toc_relkind_garbage', serialize(a)[0], 'ok', '', 'relkind is informational (spec 11.10)')

    # -- dependencies ---------------------------------------------------------
    for v, what in ((b'-5', 'negative'), (b'0', 'zero'), (b'99999999999', 'above INT_MAX'),
                    (b'2147483648', 'INT_MAX + 1'), (b'abc', 'not a number'), (b'', 'empty'),
                    (b'12abc', 'trailing junk'), (b'0x10', 'hex'), (b'1 2', 'two numbers')):
        a = seek.copy()
        a.toc[6]['deps'].append(v)
        c.add('toc_dep_' + what.replace(' ', '_').replace('+', 'plus'), serialize(a)[0], XX001,
              'invalid dependency', f'dependency "{v.decode(errors="replace")}" ({what})')
    a = seek.copy()
    a.toc[6]['deps'] = [b'999999', b'2147483647', b' 12', b'+3', b'007', b'1\x002']
    c.add('legal_toc_deps_odd', serialize(a)[0], 'ok', '',
          'absent dumpIds, INT_MAX, leading blank, plus sign, leading zeros, "1" NUL "2" '
          '(spec 4.2: read with %d like pg_restore; absent ids ignored)')
    a = seek.copy()
    a.toc[6]['deps'] = [str(i).encode() for i in range(1, 301)]
    c.add('legal_toc_deps_300', serialize(a)[0], 'ok', '', '300 dependencies (spec 11.8)')
    a = seek.copy()
    a.toc[-1]['deps'] = [b'1'] * 2000
    a.toc[-1]['no_deps_end'] = True
    data, lay = serialize(a)
    c.add('toc_deps_unterminated', data[:lay['entries'][-1]['flag']], XX001, 'unexpected end of file',
          '2000 dependencies and EOF instead of the NULL terminator')
    d6 = slay['entries'][6]['deps']
    for v in (-2, 2 ** 31 - 1):
        c.add(f'toc_dep_len_{v}'.replace('-', 'minus'), patch(sdata, d6, wint(v)), XX001, 'string length',
              f'dependency string length {v}')

    # -- offsets --------------------------------------------------------------
    td_idx = next(i for i, e in enumerate(seek.toc) if e['desc'] == b'TABLE DATA')
    tdl = slay['entries'][td_idx]
    for v in (0, 4, 255):
        c.add(f'toc_offset_flag_{v}', patch(sdata, tdl['flag'], bytes([v])), XX001, 'unexpected data offset flag',
              f'offset flag {v} (spec 1.4)')
    for v, sub, what in ((len(sdata) + 100, 'beyond the end', 'past EOF'),
                         (2 ** 63, 'beyond the end', '2^63'), (2 ** 64 - 1, 'beyond the end', '2^64-1'),
                         (len(sdata), 'could not find block', 'exactly EOF'),
                         (0, 'unrecognized data block type', 'the start of the file'),
                         (slay['data_start'] - 1, '', 'the last TOC byte'),
                         (slay['blocks'][0]['chunks'][0][0] + 7, '', 'inside a chunk')):
        c.add(f'toc_offset_{what.replace(" ", "_").replace("^", "")}',
              patch(sdata, tdl['flag'] + 1, struct.pack('<Q', v)), XX001, sub, f'data offset at {what}')
    a = seek.copy()
    tds = [e for e in a.toc if e['had']]
    data, lay = serialize(a)
    p0 = lay['blocks'][0]['start']
    p1 = lay['blocks'][1]['start']
    data = patch(data, lay['entries'][a.toc.index(tds[0])]['flag'] + 1, struct.pack('<Q', p1))
    data = patch(data, lay['entries'][a.toc.index(tds[1])]['flag'] + 1, struct.pack('<Q', p0))
    c.add('toc_offsets_swapped', data, XX001, 'found unexpected block ID',
          'two data offsets swapped: the block at the offset is another entry\'s (spec 7)')
    a = seek.copy()
    sch = next(e for e in a.toc if e['desc'] == b'SCHEMA')
    sch['flag'], sch['pos'] = OFF_SET, 123456789
    c.add('legal_toc_offset_on_entry_without_data', serialize(a)[0], 'ok', '',
          'flag 2 and a bogus offset on an entry with hadDumper 0: never read')
    a = seek.copy()
    td = next(e for e in a.toc if e['desc'] == b'TABLE DATA')
    td['flag'] = OFF_NO_DATA
    c.add('legal_toc_no_data_flag_with_block', serialize(a)[0], 'ok', '',
          'flag 3 on an entry with hadDumper 1: taken as not set, found by the scan')

    # -- blocks ---------------------------------------------------------------
    b0 = slay['blocks'][0]
    for v in (0, 2, 4, 7, 255):
        c.add(f'blk_type_{v}', patch(sdata, b0['start'], bytes([v])), XX001, 'unrecognized data block type',
              f'first block type {v} (spec 5.1: 2 is obsolete, others unknown)')
    pdata, play = serialize(pipe)
    for v in (2, 7):
        c.add(f'blk_type_{v}_pipe', patch(pdata, play['blocks'][0]['start'], bytes([v])), XX001,
              'unrecognized data block type', f'block type {v}, no offsets')
    blobs_b = next(b for b in play['blocks'] if b['oids'])
    c.add('blk_blobs_as_data', patch(pdata, blobs_b['start'], bytes([BLK_DATA])), XX001, 'does not match',
          'the BLOBS entry\'s block has type 1')
    c.add('blk_data_as_blobs', patch(pdata, play['blocks'][0]['start'], bytes([BLK_BLOBS])), XX001,
          'does not match', 'a TABLE DATA block has type 3')
    c.add('blk_dumpid_unknown', patch(pdata, play['blocks'][0]['id'], wint(424242)), XX001,
          'no data in the TOC', 'a block for a dumpId not in the TOC')
    c.add('blk_dumpid_zero', patch(pdata, play['blocks'][0]['id'], wint(0)), XX001,
          'no data in the TOC', 'a block for dumpId 0')
    c.add('blk_dumpid_negative', patch(pdata, play['blocks'][0]['id'], wint(-7)), XX001,
          'no data in the TOC', 'a block for dumpId -7')
    sch = next(e for e in pipe.toc if e['desc'] == b'SCHEMA')
    c.add('blk_dumpid_entry_without_data', patch(pdata, play['blocks'][0]['id'], wint(sch['id'])), XX001,
          'no data in the TOC', 'a block for an entry with hadDumper 0')
    c.add('blk_dumpid_not_matching_offset', patch(sdata, b0['id'], wint(seek.blocks[1]['id'])), XX001,
          'found unexpected block ID',
          'the first block says it belongs to the second data entry (spec 7, 11.20)')
    a = pipe.copy()
    a.blocks.append({'type': BLK_DATA, 'id': 777, 'items': [split(zlib_stream(b'\\.\n\n\n'))], 'tail': b''})
    c.add('blk_trailing_without_entry', serialize(a)[0], XX001, 'no data in the TOC',
          'a trailing block with no TOC entry (spec 11.20)')
    for tail, what, sub in ((b'\x00', 'a zero byte', 'unrecognized data block type'),
                            (b'\x01', 'a lone block type byte', 'unexpected end of file'),
                            (b'\x01\x00\x05', 'a block type and half a dumpId', 'unexpected end of file'),
                            (b'GARBAGE' * 4, 'text', 'unrecognized data block type')):
        c.add('blk_trailing_' + what.replace(' ', '_'), pdata + tail, XX001, sub, f'{what} after the last block')
    a = pipe.copy()
    del a.blocks[0]
    c.add('blk_missing', serialize(a)[0], XX001, 'no data block',
          'a TABLE DATA block is missing (restore: "could not find block ID")')
    a = pipe.copy()
    a.blocks.insert(1, a.copy().blocks[0])
    c.add('legal_blk_duplicate', serialize(a)[0], 'ok', '',
          'a block repeated: the first one is used, the second is skipped like pg_restore\'s scan')
    a = pipe.copy()
    a.blocks.reverse()
    c.add('legal_blk_reversed_pipe', serialize(a)[0], 'ok', '', 'blocks out of TOC order, no offsets (spec 7, 11.24)')
    a = seek.copy()
    a.blocks.reverse()
    c.add('legal_blk_reversed_seek', serialize(a)[0], 'ok', '', 'blocks out of TOC order with offsets (spec 11.24)')

    # -- chunk framing --------------------------------------------------------
    q, n = b0['chunks'][0]
    for v, sub in ((-1, 'invalid chunk length'), (-2 ** 31, 'invalid chunk length'),
                   (2 ** 31 - 1, 'inside a data chunk'), (len(sdata) - q - 5 + 1, 'inside a data chunk'),
                   (256 * 1024 * 1024, 'inside a data chunk')):
        c.add(f'chunk_len_{v}'.replace('-', 'minus'), patch(sdata, q, wint(v)), XX001, sub, f'chunk length {v}')
    blobs_s = next(b for b in slay['blocks'] if b['oids'])
    q2, _ = blobs_s['chunks'][0]
    c.add('chunk_len_past_eof_in_blob', patch(sdata, q2, wint(len(sdata))), XX001, 'inside a data chunk',
          'an LO chunk length past EOF')
    a = seek.copy()
    a.blocks[0]['items'] = [[]]
    c.add('gzip_zero_chunks', serialize(a)[0], XX001, 'empty data item', 'gzip item without chunks (spec 5.2: fatal)')
    for base, tag in ((zstd, 'zstd'), (lz4, 'lz4'), (none18, 'none')):
        a = base.copy()
        a.blocks[0]['items'] = [[]]
        c.add(f'legal_{tag}_zero_chunks', serialize(a)[0], 'ok', '', f'{tag} item without chunks (spec 5.2: empty)')

    # -- gzip payloads ----------------------------------------------------------
    raw0 = zlib.decompress(payload(seek.blocks[0]))

    def with_item(base, item, blk=0):
        a = base.copy()
        a.blocks[blk]['items'] = [item]
        return serialize(a)[0]
    stream = payload(seek.blocks[0])
    c.add('gzip_bad_header', with_item(seek, [b'\x78\x9d' + stream[2:]]), XX001, 'incorrect header check',
          'zlib header check bits wrong')
    c.add('gzip_raw_deflate', with_item(seek, split(zlib_stream(raw0, wbits=-15))), XX001, 'could not decompress',
          'raw deflate, no zlib header (spec 5.2)')
    c.add('gzip_gzip_wrapper', with_item(seek, split(zlib_stream(raw0, wbits=31))), XX001, 'incorrect header check',
          'gzip wrapper instead of zlib (spec 5.2)')
    c.add('gzip_preset_dictionary', with_item(seek, split(zlib_stream(raw0, zdict=b'COPY public'))), XX001,
          'could not decompress', 'zlib stream that needs a preset dictionary')
    bad = bytearray(zlib_stream(raw0 * 20))
    bad[len(bad) // 2] ^= 0xff
    c.add('gzip_corrupt_body', with_item(seek, split(bytes(bad))), XX001, 'could not decompress',
          'one byte flipped inside the deflate data')
    bad = bytearray(stream)
    bad[-1] ^= 0x01
    c.add('gzip_bad_adler32', with_item(seek, [bytes(bad)]), XX001, 'incorrect data check', 'Adler-32 trailer wrong')
    c.add('gzip_truncated_stream', with_item(seek, [stream[:-3]]), XX001, 'truncated zlib stream',
          'stream cut inside the trailer, chunk terminator present')
    c.add('gzip_concatenated_streams', with_item(seek, [stream, stream]), XX001, 'trailing data',
          'two zlib streams in one item (spec 5.2: pg_restore 15 loops forever)')
    c.add('gzip_concatenated_streams_one_chunk', with_item(seek, [stream + stream]), XX001, 'trailing data',
          'two zlib streams in one chunk')
    c.add('gzip_trailing_garbage', with_item(seek, [stream + b'\x00garbage']), XX001, 'trailing data',
          'bytes after the end of the zlib stream')
    c.add('gzip_trailing_garbage_next_chunk', with_item(seek, [stream, b'\x00']), XX001, 'trailing data',
          'a chunk after the end of the zlib stream')
    co = zlib.compressobj()
    sf = co.compress(raw0[:3]) + co.flush(zlib.Z_SYNC_FLUSH) + co.compress(raw0[3:]) + co.flush()
    c.add('legal_gzip_sync_flush', with_item(seek, split(sf)), 'ok', '', 'Z_SYNC_FLUSH inside one stream (spec 11.17)')
    c.add('legal_gzip_one_byte_chunks', with_item(seek, split(stream, 1)), 'ok', '', '1-byte chunks (spec 11.17)')
    c.add('legal_gzip_big_chunk', with_item(seek, [zlib_stream(bytes(range(256)) * 300, level=0)]), 'ok', '',
          'one 77 KB chunk of stored deflate blocks (spec 5.2: any chunk size)')
    c.add('gzip_bomb_200MB', with_item(seek, split(zlib_bomb(200 << 20), 65536)), L54000, 'exceeds the limit',
          '200 MB of zeros, gzip-compressed: cut at the 8 MB item limit')
    # an LO inside BLOBS with a bad stream
    a = seek.copy()
    bb = next(b for b in a.blocks if b['type'] == BLK_BLOBS)
    oid, ch = bb['items'][0]
    bb['items'][0] = (oid, [b'\x78\x9c\x00\x00'])
    c.add('gzip_corrupt_lo', serialize(a)[0], XX001, 'could not decompress', 'a corrupt zlib stream for one LO')
    a = seek.copy()
    bb = next(b for b in a.blocks if b['type'] == BLK_BLOBS)
    bb['items'][0] = (bb['items'][0][0], [])
    c.add('gzip_lo_zero_chunks', serialize(a)[0], XX001, 'empty data item', 'an LO with no chunks, gzip')
    a = seek.copy()
    bb = next(b for b in a.blocks if b['type'] == BLK_BLOBS)
    bb['items'] = []
    c.add('legal_blobs_empty', serialize(a)[0], 'ok', '', 'a BLOBS block with no LOs (spec 11.21)')
    a = seek.copy()
    bb = next(b for b in a.blocks if b['type'] == BLK_BLOBS)
    bb['no_blobs_end'] = True
    c.add('blobs_unterminated', serialize(a)[0], XX001, 'unexpected end of file', 'no OID 0 at the end of BLOBS')
    a = seek.copy()
    bb = next(b for b in a.blocks if b['type'] == BLK_BLOBS)
    bb['items'] = [(-1, bb['items'][0][1]), (-2 ** 31, bb['items'][0][1])]
    c.add('legal_blobs_negative_oids', serialize(a)[0], 'ok', '', 'OIDs 2^32-1 and 2^31, stored negative (spec 1.2)')
    ldata, llay = serialize(lo)
    lb = next(b for b in llay['blocks'] if b['oids'])
    c.add('blobs_oid_truncated', ldata[:lb['oids'][2] + 3], XX001, 'unexpected end of file', 'EOF inside an LO OID')

    # -- lz4 ------------------------------------------------------------------
    f0 = payload(lz4.blocks[0])
    f1 = payload(lz4.blocks[1])
    c.add('lz4_bad_magic', with_item(lz4, [b'\x05' + f0[1:]]), XX001, 'could not decompress', 'frame magic wrong')
    bad = bytearray(f0)
    bad[6] ^= 0xff
    c.add('lz4_bad_header_checksum', with_item(lz4, [bytes(bad)]), XX001, 'could not decompress',
          'frame descriptor checksum wrong')
    bad = bytearray(f0)
    bad[4] = (bad[4] & 0x3f) | 0x80
    c.add('lz4_bad_version', with_item(lz4, [bytes(bad)]), XX001, 'could not decompress', 'frame version bits 10')
    bad = bytearray(f0)
    bad[7:11] = struct.pack('<I', 0x7fffffff)
    c.add('lz4_block_size_huge', with_item(lz4, [bytes(bad)]), XX001, 'could not decompress',
          'first block size 2^31-1, compressed')
    bad = bytearray(f0)
    bad[7:11] = struct.pack('<I', 0xffffffff)
    c.add('lz4_block_size_huge_uncompressed', with_item(lz4, [bytes(bad)]), XX001, 'could not decompress',
          'first block size 2^31-1, uncompressed flag')
    for off, what in ((0xffff, 'beyond the output'), (0x0101, 'beyond the output by 256')):
        bad = bytearray(lz4_bomb(4 << 20))
        bad[13:15] = struct.pack('<H', off)     # the first match's offset
        c.add('lz4_match_offset_' + what.replace(' ', '_'), with_item(lz4, [bytes(bad)]), XX001,
              'could not decompress', f'a compressed block whose first match offset is {what}')
    c.add('lz4_truncated_frame', with_item(lz4, [f0[:-4]]), XX001, 'truncated lz4 frame',
          'frame without its end mark')
    c.add('lz4_header_only', with_item(lz4, [f0[:7]]), XX001, 'truncated lz4 frame', 'only the frame header')
    c.add('lz4_trailing_garbage', with_item(lz4, [f0 + b'GARBAGE!']), XX001, 'could not decompress',
          'bytes after the end of the frame')
    c.add('legal_lz4_concatenated_frames', with_item(lz4, [f0, f1]), 'ok', '',
          'two frames in one item (spec 5.2: lz4frame restarts, pg_restore reads them)')
    c.add('legal_lz4_one_byte_chunks', with_item(lz4, split(f0, 1)), 'ok', '', '1-byte chunks')
    c.add('lz4_bomb_12MB', with_item(lz4, split(lz4_bomb(12 << 20), 65536)), L54000, 'exceeds the limit',
          '12 MB of zeros in three 4 MB lz4 blocks: cut at the 8 MB item limit')
    c.add('legal_lz4_4MB_block', with_item(lz4, [lz4_bomb(4 << 20)]), 'ok', '', 'one 4 MB block of zeros, under the limit')

    # -- zstd -----------------------------------------------------------------
    z0 = payload(zstd.blocks[0])
    z1 = payload(zstd.blocks[1])
    c.add('zstd_bad_magic', with_item(zstd, [b'\x29' + z0[1:]]), XX001, 'could not decompress', 'frame magic wrong')
    bad = bytearray(z0)
    bad[4] |= 0x08
    c.add('zstd_reserved_bit', with_item(zstd, [bytes(bad)]), XX001, 'could not decompress',
          'frame header reserved bit set')
    c.add('zstd_window_too_large', with_item(zstd, [b'\x28\xb5\x2f\xfd\x00' + bytes([21 << 3]) +
                                               ((8 << 3) | 3).to_bytes(3, 'little') + bytes(8)]), XX001,
          'could not decompress', 'window of 2^31 bytes requested')
    bad = bytearray(z0)
    for i in range(6, len(bad)):
        bad[i] = 0xff
    c.add('zstd_corrupt_blocks', with_item(zstd, [bytes(bad)]), XX001, 'could not decompress',
          'block headers and data overwritten with 0xff')
    c.add('zstd_truncated_frame', with_item(zstd, [z0[:-3]]), XX001, 'truncated zstd frame', 'frame cut short')
    c.add('zstd_two_frames_one_chunk', with_item(zstd, [z0 + z1]), XX001, 'trailing data',
          'two frames in one chunk (spec 5.2: pg_restore silently drops the second)')
    c.add('legal_zstd_two_frames_two_chunks', with_item(zstd, [z0, z1]), 'ok', '',
          'two frames, each starting a chunk: an item compressed in parts (pg_restore 16+ reads it, spec 5.2)')
    c.add('zstd_trailing_garbage', with_item(zstd, [z0, b'\x00\x00garbage']), XX001, 'trailing data',
          'bytes after the end of the frame')
    c.add('legal_zstd_one_byte_chunks', with_item(zstd, split(z0, 1)), 'ok', '', '1-byte chunks (spec 11.19)')
    c.add('zstd_bomb_200MB', with_item(zstd, [zstd_rle_bomb(200 << 20)]), L54000, 'exceeds the limit',
          '200 MB of zeros as zstd RLE blocks (6 KB): cut at the 8 MB item limit')
    c.add('legal_zstd_rle_4MB', with_item(zstd, [zstd_rle_bomb(4 << 20)]), 'ok', '', '4 MB of zeros, under the limit')
    # many items, each just under the limit: the harness's total budget stops it
    a = zstd.copy()
    a.blocks = [dict(a.blocks[0], items=[[zstd_rle_bomb(8 << 20)]]) for _ in range(12)]
    c.add('zstd_many_items_near_limit', serialize(a)[0], L54000, 'harness',
          'the same block 12 times, 8 MB each: stopped by the harness\'s 64 MB budget per archive')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(HERE, 'corpus'))
    args = ap.parse_args()
    for d in ('good', 'bad'):
        path = os.path.join(args.out, d)
        os.makedirs(path, exist_ok=True)
        for fn in os.listdir(path):
            if fn.endswith('.dump'):
                os.unlink(os.path.join(path, fn))
    good = []
    for fn in sorted(os.listdir(FIXTURES)):
        src = os.path.join(FIXTURES, fn)
        if fn.endswith('.dump') and os.path.getsize(src) <= GOOD_MAX:
            shutil.copyfile(src, os.path.join(args.out, 'good', fn))
            good.append(fn)
    c = Corpus(args.out)
    gen(c)
    c.write_expected(good)
    total = sum(os.path.getsize(os.path.join(args.out, d, f)) for d in ('good', 'bad')
                for f in os.listdir(os.path.join(args.out, d)))
    print(f'{len(good)} good and {len(c.rows)} generated archives in {args.out} ({total // 1024} kB)')


if __name__ == '__main__':
    sys.exit(main())
