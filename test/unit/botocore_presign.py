#!/usr/bin/python3
"""test/unit/botocore_presign.py: botocore's side of the signer cross-check.

  botocore_presign.py [--impl python|crt] CASES   print one line per case:
      ID<TAB>presigned URL          (mode presign: generate_presigned_url)
      ID<TAB>Authorization header   (mode header: a PutObject, stopped in
                                     before-send, never sent)
  botocore_presign.py --has-crt                   exit 0 when awscrt imports
  botocore_presign.py --compare BOTO OURS         compare two such outputs;
      URLs parameter by parameter (botocore orders the query differently),
      X-Amz-Signature and everything before '?' byte for byte; prints
      "ok"/"not ok" lines and exits 1 on any difference

--impl python signs with botocore.auth (S3SigV4QueryAuth, S3SigV4Auth);
--impl crt with awscrt (aws-c-auth), which botocore prefers when installed.
The clock is pinned per case by replacing the datetime module both signers
read utcnow() from.  Run it with Debian's /usr/bin/python3 (python3-botocore).
CASES: see cases.tsv.
"""
import codecs
import datetime
import sys
import types
from urllib.parse import unquote

_now = [datetime.datetime(2013, 5, 24)]


class _FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(*_now[0].timetuple()[:6])


_FAKE_DATETIME = types.SimpleNamespace(datetime=_FixedDatetime,
                                       timezone=datetime.timezone,
                                       timedelta=datetime.timedelta)


def unescape(field):
    """\\xNN and \\\\ escapes of cases.tsv, to a str (UTF-8)."""
    return codecs.escape_decode(field.encode('ascii'))[0].decode('utf-8')


def read_cases(path):
    cols = ['id', 'mode', 'method', 'style', 'endpoint', 'bucket', 'key',
            'region', 'expires', 'token', 'query', 'amz_date', 'body']
    with open(path, encoding='ascii') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            fields = line.split('\t')
            if len(fields) != len(cols):
                sys.exit(f'{path}: {len(fields)} fields, want {len(cols)}: {line}')
            yield dict(zip(cols, fields))


def operation(case):
    """botocore operation name and params for a case's method and query."""
    params = {'Bucket': case['bucket']}
    if case['key'] != '-':
        params['Key'] = unescape(case['key'])
    query = {}
    if case['query'] != '-':
        for item in case['query'].split('&'):
            name, _, value = item.partition('=')
            query[unquote(name)] = unquote(value)
    m = case['method']
    if m == 'GET' and 'list-type' in query:
        params['Prefix'] = query['prefix']
        return 'list_objects_v2', params
    if m == 'GET':
        if 'versionId' in query:
            params['VersionId'] = query['versionId']
        return 'get_object', params
    if m == 'HEAD':
        return 'head_object', params
    if m == 'DELETE':
        return 'delete_object', params
    if m == 'PUT' and 'partNumber' in query:
        params['PartNumber'] = int(query['partNumber'])
        params['UploadId'] = query['uploadId']
        return 'upload_part', params
    if m == 'PUT':
        return 'put_object', params
    if m == 'POST' and 'uploads' in query:
        return 'create_multipart_upload', params
    if m == 'POST' and 'uploadId' in query:
        params['UploadId'] = query['uploadId']
        return 'complete_multipart_upload', params
    sys.exit(f"case {case['id']}: no botocore operation for {m} ?{case['query']}")


class _Stop(Exception):
    pass


def run(cases_path, impl):
    import botocore.auth
    import botocore.session
    from botocore.config import Config

    botocore.auth.datetime = _FAKE_DATETIME
    if impl == 'python':
        # botocore.auth's own signers even when awscrt is installed
        botocore.auth.AUTH_TYPE_MAPS.update({
            's3v4': botocore.auth.S3SigV4Auth,
            's3v4-query': botocore.auth.S3SigV4QueryAuth,
        })
    else:
        import botocore.crt.auth
        botocore.crt.auth.datetime = _FAKE_DATETIME
        botocore.auth.AUTH_TYPE_MAPS.update(botocore.crt.auth.CRT_AUTH_TYPE_MAPS)

    session = botocore.session.Session()
    for case in read_cases(cases_path):
        _now[0] = datetime.datetime.strptime(case['amz_date'], '%Y%m%dT%H%M%SZ')
        client = session.create_client(
            's3', region_name=case['region'], endpoint_url=case['endpoint'],
            aws_access_key_id='AKIAIOSFODNN7EXAMPLE',
            aws_secret_access_key='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
            aws_session_token=None if case['token'] == '-' else unescape(case['token']),
            config=Config(signature_version='s3v4',
                          s3={'addressing_style': case['style']},
                          retries={'max_attempts': 0}))
        op, params = operation(case)
        if case['mode'] == 'presign':
            out = client.generate_presigned_url(op, Params=params,
                                                ExpiresIn=int(case['expires']),
                                                HttpMethod=case['method'])
        else:
            captured = {}

            def stop(request, **kwargs):
                captured['auth'] = request.headers['Authorization']
                raise _Stop()

            client.meta.events.register('before-send.s3.*', stop)
            params['Body'] = unescape(case['body']).encode('utf-8')
            try:
                getattr(client, op)(**params)
            except _Stop:
                pass
            out = captured['auth']
            if isinstance(out, bytes):
                out = out.decode('ascii')
        print(f"{case['id']}\t{out}")


def split_url(url):
    base, _, query = url.partition('?')
    params = [p for p in query.split('&') if p] if query else []
    sig = [p for p in params if p.startswith('X-Amz-Signature=')]
    rest = sorted(p for p in params if not p.startswith('X-Amz-Signature='))
    return base, rest, sig


def compare(boto_path, ours_path):
    def load(path):
        d = {}
        with open(path, encoding='utf-8') as f:
            for line in f:
                k, _, v = line.rstrip('\n').partition('\t')
                d[k] = v
        return d

    boto, ours = load(boto_path), load(ours_path)
    failed = 0
    for n, (cid, want) in enumerate(boto.items(), 1):
        got = ours.get(cid)
        if got == want:
            print(f'ok {n} - {cid}: identical')
            continue
        if got is not None and '?' in want:
            wb, wq, ws = split_url(want)
            gb, gq, gs = split_url(got)
            if wb == gb and wq == gq and ws == gs and len(ws) == 1:
                print(f'ok {n} - {cid}: same URL, same parameters and '
                      f'X-Amz-Signature (query order differs)')
                continue
        failed += 1
        print(f'not ok {n} - {cid}\n#   botocore: {want}\n#   ours:     {got}')
    extra = set(ours) - set(boto)
    for cid in sorted(extra):
        failed += 1
        print(f'not ok - {cid}: only in our output')
    print(f'# {len(boto)} cases compared, {failed} differ')
    return 1 if failed else 0


def main(argv):
    if argv[:1] == ['--has-crt']:
        try:
            import awscrt.auth  # noqa: F401
            import botocore.auth  # noqa: F401 (before botocore.crt.auth)
            import botocore.crt.auth  # noqa: F401
        except ImportError:
            return 1
        return 0
    if argv[:1] == ['--compare'] and len(argv) == 3:
        return compare(argv[1], argv[2])
    impl = 'python'
    if argv[:1] == ['--impl'] and len(argv) >= 2:
        impl = argv[1]
        argv = argv[2:]
    if len(argv) != 1 or impl not in ('python', 'crt'):
        sys.exit(__doc__)
    run(argv[0], impl)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
