#!/usr/bin/python3
"""test/servers/s3cli.py: the tests' independent S3 client (Debian's boto3).

    /usr/bin/python3 s3cli.py --endpoint URL [--ca FILE] [--bucket B] COMMAND ...

Credentials come from S3CLI_ACCESS_KEY / S3CLI_SECRET (test/lib.sh's s3cli sets
them); path-style addressing, region us-east-1, SigV4, no retries (a failure
is reported, not hidden).

    ls [PREFIX]        one line per object: KEY<TAB>SIZE
    get KEY FILE       download (one GET)
    head KEY           the size; exit 3 and "missing" when there is no such key
    put KEY FILE       upload (one PUT)
    rm KEY             delete
    sha256 KEY         SHA-256 of the object, streamed
"""

import argparse
import hashlib
import os
import sys

import boto3
import botocore
from botocore.config import Config


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--ca")
    p.add_argument("--bucket", default=os.environ.get("S3_BUCKET", "pgb"))
    p.add_argument("cmd")
    p.add_argument("args", nargs="*")
    a = p.parse_args()
    s3 = boto3.client(
        "s3",
        endpoint_url=a.endpoint,
        aws_access_key_id=os.environ["S3CLI_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3CLI_SECRET"],
        region_name="us-east-1",
        verify=a.ca if a.ca else True,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )
    if a.cmd == "ls":
        prefix = a.args[0] if a.args else ""
        token = None
        while True:
            kw = {"Bucket": a.bucket, "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            r = s3.list_objects_v2(**kw)
            for o in r.get("Contents", []):
                print(f"{o['Key']}\t{o['Size']}")
            if not r.get("IsTruncated"):
                break
            token = r.get("NextContinuationToken")
    elif a.cmd == "get":
        key, path = a.args
        body = s3.get_object(Bucket=a.bucket, Key=key)["Body"]
        with open(path, "wb") as f:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                f.write(chunk)
    elif a.cmd == "head":
        try:
            r = s3.head_object(Bucket=a.bucket, Key=a.args[0])
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                print("missing")
                sys.exit(3)
            raise
        print(r["ContentLength"])
    elif a.cmd == "put":
        key, path = a.args
        with open(path, "rb") as f:
            s3.put_object(Bucket=a.bucket, Key=key, Body=f)
    elif a.cmd == "rm":
        s3.delete_object(Bucket=a.bucket, Key=a.args[0])
    elif a.cmd == "sha256":
        body = s3.get_object(Bucket=a.bucket, Key=a.args[0])["Body"]
        h = hashlib.sha256()
        for chunk in iter(lambda: body.read(1 << 20), b""):
            h.update(chunk)
        print(h.hexdigest())
    else:
        p.error(f"unknown command {a.cmd}")


if __name__ == "__main__":
    main()
