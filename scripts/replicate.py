"""Test stand-in for S3 cross-region replication, which moto 5.2.5 does not perform (it stores
replication rules and replicates nothing): copies every object under PREFIX from SOURCE (us-east-1)
to REPLICA (us-west-2), and, with --damage N, flips a byte in N replica copies so the integrity
sweep has something to find. Used by the demo only.

Usage: python replicate.py SOURCE REPLICA PREFIX [--damage N]
"""
import os
import sys

import boto3

source, replica, prefix = sys.argv[1:4]
damage = int(sys.argv[sys.argv.index("--damage") + 1]) if "--damage" in sys.argv else 0
endpoint = os.environ["AWS_ENDPOINT_URL"]
src = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
dst = boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2")
keys = [o["Key"] for page in src.get_paginator("list_objects_v2").paginate(Bucket=source, Prefix=prefix) for o in page.get("Contents", [])]
for i, key in enumerate(sorted(keys)):
    body = bytearray(src.get_object(Bucket=source, Key=key)["Body"].read())
    if i < damage and body:
        body[len(body) // 2] ^= 0x01
        print(f"  damaged replica copy of {key}")
    dst.put_object(Bucket=replica, Key=key, Body=bytes(body), ChecksumAlgorithm="CRC32")
print(f"  replicated {len(keys)} objects from s3://{source}/{prefix} to s3://{replica}/{prefix}")
