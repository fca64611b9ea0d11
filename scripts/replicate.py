"""Test stand-in for S3 cross-region replication, which moto 5.2.5 does not perform (it stores
replication rules and replicates nothing): copies every object under PREFIX from SOURCE (us-east-1)
to REPLICA (us-west-2) that S3 replication would copy, and, with --damage N, flips a byte in N
replica copies (the first N copied, in key order) so the integrity sweep has something to find.
Used by the demo.

As strict as S3 where the checks depend on it:
  - keys are kept: a replica object has its source object's key (S3 replication never rewrites
    keys, whatever prefix a reader expects in the replica);
  - only objects an enabled rule of SOURCE's replication configuration to REPLICA covers are
    copied: the rule's prefix (`Filter.Prefix`, `Filter.And.Prefix` or the legacy `Prefix`) and
    every tag of its filter (`Filter.Tag`, `Filter.And.Tags`) on the object. An object no rule
    covers is skipped and said ("no rule covers it"). SOURCE without a replication configuration
    copies nothing. (moto answers the rules' filters through the stand-in in
    scripts/cbor_stand_in.py.)

Modes for replication canaries (both print every key they skip and why):
  --delay SECONDS  replication lag: copy only objects whose source LastModified is at least
                   SECONDS old (against this machine's UTC clock, which is moto's S3 clock: the
                   emulator's shifted clock applies to RDS only); younger ones are "in flight"
                   and not copied yet (run again later to deliver them).
  --drop REGEX     broken replication: never copy keys matching REGEX (Python `re.search`).
An object skipped by either mode leaves any replica copy already there untouched.

Usage: python replicate.py SOURCE REPLICA PREFIX [--damage N] [--delay SECONDS] [--drop REGEX]
"""
import argparse
import datetime
import os
import re

import boto3

parser = argparse.ArgumentParser(description="S3 replication stand-in (moto does not replicate)")
parser.add_argument("source")
parser.add_argument("replica")
parser.add_argument("prefix")
parser.add_argument(
    "--damage", type=int, default=0, metavar="N", help="flip a byte in N replica copies"
)
parser.add_argument(
    "--delay",
    type=float,
    default=0.0,
    metavar="SECONDS",
    help="copy only objects whose LastModified is at least SECONDS old",
)
parser.add_argument(
    "--drop", type=re.compile, default=None, metavar="REGEX", help="never copy keys matching REGEX"
)
args = parser.parse_args()

endpoint = os.environ["AWS_ENDPOINT_URL"]
src = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
dst = boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2")
objects = [
    o
    for page in src.get_paginator("list_objects_v2").paginate(
        Bucket=args.source, Prefix=args.prefix
    )
    for o in page.get("Contents", [])
]


def rules_to_replica() -> list[tuple[str, dict]]:
    """(prefix, tags) of every enabled rule of SOURCE that replicates to REPLICA."""
    try:
        config = src.get_bucket_replication(Bucket=args.source)["ReplicationConfiguration"]
    except src.exceptions.ClientError as e:
        if e.response["Error"]["Code"] == "ReplicationConfigurationNotFoundError":
            return []
        raise
    out = []
    for rule in config.get("Rules", []):
        if rule.get("Status") != "Enabled":
            continue
        if rule.get("Destination", {}).get("Bucket", "").split(":")[-1] != args.replica:
            continue
        f = rule.get("Filter") or {}
        inner = f.get("And") or {}
        prefix = f.get("Prefix", inner.get("Prefix", rule.get("Prefix", ""))) or ""
        tags = [f["Tag"]] if "Tag" in f else inner.get("Tags", [])
        out.append((prefix, {t["Key"]: t["Value"] for t in tags}))
    return out


rules = rules_to_replica()
if not rules:
    print(f"  s3://{args.source} has no enabled replication rule to {args.replica}: nothing copied")
now = datetime.datetime.now(datetime.timezone.utc)
copied = 0
skipped = 0
for obj in sorted(objects, key=lambda o: o["Key"]):
    key = obj["Key"]
    candidates = [(p, t) for p, t in rules if key.startswith(p)]
    tagged = {}
    if any(t for _, t in candidates):
        tagging = src.get_object_tagging(Bucket=args.source, Key=key)["TagSet"]
        tagged = {t["Key"]: t["Value"] for t in tagging}
    if not any(all(tagged.get(k) == v for k, v in t.items()) for _, t in candidates):
        if rules:
            print(f"  skipped {key}: no rule covers it (prefix and tags of the rule's filter)")
        skipped += 1
        continue
    if args.drop is not None and args.drop.search(key):
        print(f"  skipped {key}: replication dropped (key matches --drop '{args.drop.pattern}')")
        skipped += 1
        continue
    age = (now - obj["LastModified"]).total_seconds()
    if age < args.delay:
        print(f"  skipped {key}: in flight (modified {age:.0f} s ago, --delay {args.delay:g} s)")
        skipped += 1
        continue
    body = bytearray(src.get_object(Bucket=args.source, Key=key)["Body"].read())
    if copied < args.damage and body:
        body[len(body) // 2] ^= 0x01
        print(f"  damaged replica copy of {key}")
    dst.put_object(Bucket=args.replica, Key=key, Body=bytes(body), ChecksumAlgorithm="CRC32")
    copied += 1
summary = (
    f"  replicated {copied} objects from s3://{args.source}/{args.prefix}"
    f" to s3://{args.replica}/{args.prefix}"
)
if skipped:
    summary += f" ({skipped} skipped)"
print(summary)
