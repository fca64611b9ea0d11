"""Starts the pinned moto server on loopback with a clock the tests and the demo can shift.

moto 5.2.5 has no time-travel endpoint, and RDS snapshots carry the server's time as
SnapshotCreateTime. To seed snapshots of realistic ages (a 40-day-old manual snapshot, an
automated snapshot from last week), this launcher makes moto's clock read
`now + offset`, where offset (seconds, may be negative) is read on every call from the file
named by LIFEBOAT_EMULATOR_CLOCK_FILE. With no file or an empty one the clock is the real one.

With LIFEBOAT_CALL_LOG set (a directory) it records every request moto serves (see "Call log"
below), for scripts/iam/check.mjs.

It also answers RDS DescribeAccountAttributes, which moto lacks, with a stand-in, puts the
rpcv2Cbor translator of scripts/cbor_stand_in.py in front of moto for CloudWatch, answers S3
GetBucketVersioning in S3's shape, makes conditional PutObject atomic, and lets a test give
ElastiCache snapshots the sizes AWS reports in NodeSnapshots (see below).

Usage: python moto_server.py PORT
"""
import datetime
import io
import os
import sys

import moto.core.utils as core_utils

_real_utcnow = core_utils.utcnow
_clock_file = os.environ.get("LIFEBOAT_EMULATOR_CLOCK_FILE")


def _shifted_utcnow():
    offset = 0.0
    if _clock_file:
        try:
            with open(_clock_file) as f:
                offset = float(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            offset = 0.0
    return _real_utcnow() + datetime.timedelta(seconds=offset)


core_utils.utcnow = _shifted_utcnow
import moto.rds.models as rds_models  # noqa: E402  (imports utcnow by name)

rds_models.utcnow = _shifted_utcnow

# --- Stand-in: RDS DescribeAccountAttributes -------------------------------------------------
# moto 5.2.5 does not implement RDS DescribeAccountAttributes (it answers HTTP 500), so every
# local snapshot-export report carried a "quota cannot be read" WARNING that hid real warnings.
# This is a stand-in, not moto's: it answers with the two quotas Lifeboat reads, in the shape
# AWS uses (moto serialises the result with the RDS Query protocol model:
# <DescribeAccountAttributesResponse><DescribeAccountAttributesResult><AccountQuotas>
# <AccountQuota><AccountQuotaName>ManualSnapshots</AccountQuotaName><Used>N</Used><Max>100</Max>
# ...). Max is AWS's default quota, 100, or LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA (an account whose
# quota was raised: the benchmark seeds 500 snapshots); Used is the number of manual snapshots
# moto holds in the request's region. The quota is only reported: moto itself refuses creates
# past MOTO_RDS_SNAPSHOT_LIMIT (default 1000), whatever this says.
from moto.core.responses import ActionResult  # noqa: E402
from moto.rds.responses import RDSResponse  # noqa: E402

STAND_IN_MANUAL_SNAPSHOT_QUOTA = int(os.environ.get("LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA") or 100)


def _stand_in_describe_account_attributes(self):
    def manual(snapshots):
        return sum(1 for s in snapshots.values() if s.snapshot_type == "manual")

    quotas = [
        ("ManualSnapshots", manual(self.backend.database_snapshots)),
        ("ManualClusterSnapshots", manual(self.backend.cluster_snapshots)),
    ]
    return ActionResult(
        {
            "AccountQuotas": [
                {"AccountQuotaName": name, "Used": used, "Max": STAND_IN_MANUAL_SNAPSHOT_QUOTA}
                for name, used in quotas
            ]
        }
    )


RDSResponse.describe_account_attributes = _stand_in_describe_account_attributes

# --- Stand-in: CloudWatch over Smithy rpcv2Cbor --------------------------------------------
# moto 5.2.5 does not speak rpcv2Cbor (it answers 404), the only protocol the Rust SDK's
# CloudWatch client speaks. scripts/cbor_stand_in.py (a test stand-in, not moto's) translates
# those requests to awsJson 1.0 for moto and moto's answers back to CBOR; see its docstring for
# what it covers. It wraps the WSGI application moto's main() builds; other requests pass through.
import moto.server as moto_server  # noqa: E402

_write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no scripts/__pycache__
from cbor_stand_in import CborTranslator  # noqa: E402  (beside this file, on sys.path)

sys.dont_write_bytecode = _write_bytecode

_moto_dispatcher = moto_server.DomainDispatcherApplication

# --- Stand-ins: S3 GetBucketVersioning's shape, atomic conditional PutObject --------------------
# moto 5.2.5 answers GetBucketVersioning with the root element GetBucketVersioningResponse; S3
# answers <VersioningConfiguration>, and the Rust SDK refuses anything else. This stand-in
# answers in S3's shape, from moto's own versioning state.
# moto's PutObject checks If-None-Match / If-Match and then writes, without a lock: two
# conditional writes arriving at the same instant can both succeed, where S3's are atomic. This
# stand-in serialises moto's PutObject handler, so a lease (If-None-Match: *) is taken once.
import threading  # noqa: E402

from moto.s3.responses import S3Response  # noqa: E402


def _stand_in_get_bucket_versioning(self):
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{inner}</VersioningConfiguration>"
    )
    return 200, {"Content-Type": "application/xml"}, body


S3Response.get_bucket_versioning = _stand_in_get_bucket_versioning

_put_object_lock = threading.Lock()
_moto_put_object = S3Response.put_object


def _stand_in_atomic_put_object(self):
    with _put_object_lock:
        return _moto_put_object(self)


S3Response.put_object = _stand_in_atomic_put_object

# --- Stand-in: ElastiCache snapshot sizes (DescribeSnapshots NodeSnapshots) --------------------
# On AWS, DescribeSnapshots lists each snapshot's NodeSnapshots, one per shard (node group):
# CacheClusterId, NodeGroupId, CacheNodeId, CacheSize (a string such as "6 MB") and
# SnapshotCreateTime. cost-anomaly costs a cache snapshot from CacheSize. moto 5.2.5's Snapshot
# model has no NodeSnapshots at all, so locally every cache snapshot's size, and its cost, would
# be "no data". This stand-in (not moto's) lets a test or the demo say how large a snapshot is:
#   POST /lifeboat-stand-in/elasticache/snapshot-sizes
#   {"region": "us-east-1", "snapshots": {"<SnapshotName>": ["2.5 GB", ...]}}
# one CacheSize per shard (a list of one for a replication group without cluster mode). From then
# on DescribeSnapshots lists NodeSnapshots for those snapshots: node 0001 of each shard, its
# CacheClusterId <group>-001 (cluster mode: <group>-000N-001) as AWS names them, the CacheSize
# given and SnapshotCreateTime the time moto created the snapshot (the shifted clock above).
# Snapshots never sized keep moto's answer (no NodeSnapshots), so every other test sees moto
# unchanged. Answers 200 {"sized": [names]}, or 404 naming a snapshot moto does not hold.
import json  # noqa: E402

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.elasticache.models import ElastiCacheBackend, elasticache_backends  # noqa: E402

STAND_IN_SNAPSHOT_SIZES_PATH = "/lifeboat-stand-in/elasticache/snapshot-sizes"
_moto_create_cache_snapshot = ElastiCacheBackend.create_snapshot


def _stand_in_create_cache_snapshot(self, *args, **kwargs):
    snapshot = _moto_create_cache_snapshot(self, *args, **kwargs)
    snapshot.lifeboat_created_at = _shifted_utcnow()
    return snapshot


ElastiCacheBackend.create_snapshot = _stand_in_create_cache_snapshot


def _stand_in_size_cache_snapshots(doc: dict):
    """(status, answer) of a snapshot-sizes request: NodeSnapshots set on moto's snapshots."""
    region = doc.get("region")
    sizes = doc.get("snapshots")
    if not isinstance(region, str) or not isinstance(sizes, dict) or not sizes:
        return 400, {"error": 'expected {"region": "...", "snapshots": {"name": ["6 MB", ...]}}'}
    backend = elasticache_backends[doc.get("account_id") or DEFAULT_ACCOUNT_ID][region]
    for name, shards in sizes.items():
        if name not in backend.snapshots:
            return 404, {"error": f"no ElastiCache snapshot {name} in {region}"}
        if not isinstance(shards, list) or not shards or not all(isinstance(x, str) for x in shards):
            return 400, {"error": f"{name}: a list of CacheSize strings, one per shard"}
    for name, shards in sizes.items():
        snapshot = backend.snapshots[name]
        group = snapshot.replication_group_id or snapshot.cache_cluster_id or name
        created = getattr(snapshot, "lifeboat_created_at", None) or _shifted_utcnow()
        snapshot.node_snapshots = [
            {
                "CacheClusterId": (
                    snapshot.cache_cluster_id
                    or (f"{group}-001" if len(shards) == 1 else f"{group}-{i + 1:04d}-001")
                ),
                "NodeGroupId": f"{i + 1:04d}",
                "CacheNodeId": "0001",
                "CacheSize": size,
                "SnapshotCreateTime": created,
            }
            for i, size in enumerate(shards)
        ]
    return 200, {"sized": sorted(sizes)}


class SnapshotSizes:
    """WSGI middleware answering the stand-in's own POST; everything else passes through."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response):
        if (
            environ.get("PATH_INFO") != STAND_IN_SNAPSHOT_SIZES_PATH
            or environ.get("REQUEST_METHOD") != "POST"
        ):
            return self.app(environ, start_response)
        length = environ.get("CONTENT_LENGTH")
        raw = environ["wsgi.input"].read(int(length)) if length else b""
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            doc = None
        status, answer = (
            _stand_in_size_cache_snapshots(doc)
            if isinstance(doc, dict)
            else (400, {"error": "the body is not a JSON object"})
        )
        body = json.dumps(answer).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


# --- Call log: every request, for the permission check (scripts/iam/check.mjs) ------------------
# With LIFEBOAT_CALL_LOG set to a directory (relative: to the repository root), each request
# moto serves is appended as one JSON line to <dir>/<pid>.jsonl, written when moto has answered:
#   app       the User-Agent's `app/<name>` (Lifeboat's functions set app/lifeboat-<function>
#             through Aws::for_function; the tests' own seeding has none), or null
#   service, region   the SigV4 credential scope of the Authorization header
#   method, host, path (unquoted), query (raw), headers (x-amz-target, x-amz-copy-source,
#             x-amz-tagging, content-type), body (query and JSON protocols only, first 64 KiB;
#             never S3 object contents), status (moto's HTTP status)
#             (route53: its XML body as well, for the ChangeResourceRecordSets condition keys)
#   tags      for RDS, ElastiCache, Secrets Manager and SSM (parameter) requests naming a
#             resource: {arn: {key: value}} of the tags moto held on it *before* the request
#             (aws:ResourceTag/* for the check)
#   secrets   for Secrets Manager requests: {given SecretId: full secret ARN} of the secret the
#             request names, as moto held it before the request (a name or partial ARN has no
#             6-character suffix), and, for CreateSecret, {Name: ARN} of the secret it created
#   kms_keys  for requests naming a KmsKeyId / KeyId: {given: {arn, aliases}} (moto's key ids
#             are random, so the check names a key by its alias)
#   zones     for Route 53 requests naming a hosted zone (/2013-04-01/hostedzone/<id>...), the
#             tests' own included: {id: zone name} as moto held it before the request (moto's
#             zone ids are random, so the check finds a test's zone by its name: fromCalls in
#             scripts/iam/test-parameters.json)
# It sits between the CloudWatch CBOR stand-in and moto, so CloudWatch calls are logged as the
# awsJson requests the stand-in makes (X-Amz-Target, JSON body) with the caller's User-Agent and
# Authorization. Not logged: requests the stand-in answers itself (an unknown CBOR operation) and
# requests scripts/fault_proxy.py faults "before" forwarding (AWS never saw them either); a fault
# "after" reached moto and is logged with moto's status.
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402

_CALL_LOG = os.environ.get("LIFEBOAT_CALL_LOG")
_APP = re.compile(r"(?:^|\s)app/(\S+)")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_LOGGED_HEADERS = ("x-amz-target", "x-amz-copy-source", "x-amz-tagging", "content-type")
_BODY_LIMIT = 64 * 1024
# RDS / ElastiCache request parameters naming a resource, and its ARN's resource type.
_TAGGED_PARAMS = {
    "rds": {
        "DBInstanceIdentifier": "db",
        "DBClusterIdentifier": "cluster",
        "DBSnapshotIdentifier": "snapshot",
        "DBClusterSnapshotIdentifier": "cluster-snapshot",
        "SourceDBSnapshotIdentifier": "snapshot",
        "SourceDBClusterSnapshotIdentifier": "cluster-snapshot",
        "SourceDBInstanceIdentifier": "db",
        "SourceDBClusterIdentifier": "cluster",
        "TargetDbClusterIdentifier": "cluster",
        "ResourceName": None,
    },
    "elasticache": {
        "ReplicationGroupId": "replicationgroup",
        "SnapshotName": "snapshot",
        "SourceSnapshotName": "snapshot",
        "ResourceName": None,
    },
}


def _tags_before(service: str, region: str, form: dict) -> dict:
    """{arn: {key: value}} of the resources the request names, as moto holds them now."""
    params = _TAGGED_PARAMS.get(service)
    if not params or not region:
        return {}
    out = {}
    for name, kind in params.items():
        for value in form.get(name, []):
            arn = value if value.startswith("arn:") else (
                f"arn:aws:{service}:{region}:{DEFAULT_ACCOUNT_ID}:{kind}:{value}" if kind else None
            )
            if not arn:
                continue
            arn_region = arn.split(":")[3]
            try:
                if service == "rds":
                    from moto.rds.models import rds_backends

                    tags = rds_backends[DEFAULT_ACCOUNT_ID][arn_region].list_tags_for_resource(arn)
                else:
                    from moto.elasticache.models import elasticache_backends

                    backend = elasticache_backends[DEFAULT_ACCOUNT_ID][arn_region]
                    tags = backend.list_tags_for_resource(arn).get("Tags", [])
                out[arn] = {t["Key"]: t.get("Value", "") for t in tags or []}
            except Exception:  # not there (yet): no tags to report
                continue
    return out


def _secret(region: str, given: str):
    """moto's secret named by `given` (name, full or partial ARN) in its region, or None."""
    from moto.secretsmanager.models import secretsmanager_backends

    if not isinstance(given, str) or not given:
        return None
    secret_region = given.split(":")[3] if given.startswith("arn:") else region
    try:
        return secretsmanager_backends[DEFAULT_ACCOUNT_ID][secret_region].secrets.get(given)
    except Exception:  # not a secret moto knows
        return None


def _json_resources(service: str, region: str, target: str, doc: dict) -> dict:
    """{"tags": {arn: {key: value}}, "secrets": {given: arn}} of the Secrets Manager secret or
    SSM parameter a JSON-protocol request names, as moto holds it now."""
    out: dict = {}
    if service == "secretsmanager":
        given = doc.get("SecretId")
        secret = _secret(region, given)
        if secret is not None:
            out["secrets"] = {given: secret.arn}
            out["tags"] = {secret.arn: {t["Key"]: t.get("Value", "") for t in secret.tags or []}}
    elif service == "ssm":
        name = doc.get("Name")
        if target.endswith((".AddTagsToResource", ".RemoveTagsFromResource", ".ListTagsForResource")):
            name = doc.get("ResourceId") if doc.get("ResourceType") == "Parameter" else None
        if not isinstance(name, str) or not name or not region:
            return out
        from moto.ssm.models import ssm_backends

        param_region = name.split(":")[3] if name.startswith("arn:") else region
        try:
            backend = ssm_backends[DEFAULT_ACCOUNT_ID][param_region]
            parameter = backend.get_parameter(name)
            if parameter is None:
                return out
            tags = backend.list_tags_for_resource("Parameter", parameter.name)
        except Exception:  # not a parameter moto knows
            return out
        bare = parameter.name.lstrip("/")
        arn = f"arn:aws:ssm:{param_region}:{DEFAULT_ACCOUNT_ID}:parameter/{bare}"
        out["tags"] = {arn: dict(tags or {})}
    return out


def _kms_keys(region: str, values: list) -> dict:
    """{given key id, alias or ARN: {"arn": key ARN, "aliases": [alias names]}} for the KMS keys
    a request names (moto's key ids are random: the check names a key by its alias)."""
    from moto.kms.models import kms_backends

    out = {}
    for given in values:
        if not isinstance(given, str) or not given:
            continue
        key_region = given.split(":")[3] if given.startswith("arn:") else region
        try:
            backend = kms_backends[DEFAULT_ACCOUNT_ID][key_region]
            key = backend.describe_key(given)
            out[given] = {"arn": key.arn, "aliases": sorted(getattr(key, "aliases", {}))}
        except Exception:  # not a key moto knows
            continue
    return out


_ZONE_PATH = re.compile(r"^/2013-04-01/hostedzone/([^/]+)")


def _hosted_zone(path: str) -> dict:
    """{id: name} of the hosted zone a Route 53 request's path names, as moto holds it now."""
    m = _ZONE_PATH.match(path or "")
    if not m:
        return {}
    from moto.route53.models import route53_backends

    try:
        zone = route53_backends[DEFAULT_ACCOUNT_ID]["aws"].get_hosted_zone(m.group(1))
    except Exception:  # not a zone moto knows
        return {}
    return {m.group(1): zone.name}


class CallLog:
    """WSGI middleware recording each request and moto's status (see above)."""

    def __init__(self, app, directory: str) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.app = app
        self.directory = os.path.join(root, directory)
        os.makedirs(self.directory, exist_ok=True)
        self.path = os.path.join(self.directory, f"{os.getpid()}.jsonl")
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response):
        ua = environ.get("HTTP_USER_AGENT", "")
        app = _APP.search(ua)
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        headers = {
            h: environ[k]
            for h in _LOGGED_HEADERS
            for k in ("HTTP_" + h.upper().replace("-", "_"), h.upper().replace("-", "_"))
            if k in environ
        }
        body = None
        ctype = environ.get("CONTENT_TYPE", "")
        is_s3 = scope is not None and scope.group(2) == "s3"
        is_route53 = scope is not None and scope.group(2) == "route53"
        if not is_s3 and ("x-www-form-urlencoded" in ctype or "json" in ctype or is_route53):
            length = environ.get("CONTENT_LENGTH")
            raw = environ["wsgi.input"].read(int(length)) if length else b""
            environ["wsgi.input"] = io.BytesIO(raw)
            body = raw[:_BODY_LIMIT].decode("utf-8", "replace")
        entry = {
            "time": time.time(),
            "app": app.group(1) if app else None,
            "service": scope.group(2) if scope else None,
            "region": scope.group(1) if scope else None,
            "method": environ.get("REQUEST_METHOD"),
            "host": environ.get("HTTP_HOST"),
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "headers": headers,
            "body": body,
        }
        if is_route53:
            zones = _hosted_zone(entry["path"])
            if zones:
                entry["zones"] = zones
        created_name = None
        if app and body and "x-www-form-urlencoded" in ctype:
            form = urllib.parse.parse_qs(body + "&" + entry["query"])
            entry["tags"] = _tags_before(entry["service"], entry["region"], form)
            keys = [v for k in ("KmsKeyId", "KeyId") for v in form.get(k, [])]
            if keys:
                entry["kms_keys"] = _kms_keys(entry["region"], keys)
        elif app and body and "json" in ctype:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                keys = [doc.get(k) for k in ("KmsKeyId", "KeyId") if doc.get(k)]
                if keys:
                    entry["kms_keys"] = _kms_keys(entry["region"], keys)
                entry.update(
                    _json_resources(
                        entry["service"], entry["region"], headers.get("x-amz-target", ""), doc
                    )
                )
                if headers.get("x-amz-target", "").endswith(".CreateSecret"):
                    created_name = doc.get("Name")
        status = {}

        def recording_start_response(line, hdrs, exc_info=None):
            status["code"] = int(line.split(" ", 1)[0])
            return start_response(line, hdrs, exc_info) if exc_info else start_response(line, hdrs)

        try:
            return self.app(environ, recording_start_response)
        except Exception:  # moto failed (e.g. an operation it lacks): the server answers 500
            status.setdefault("code", 500)
            raise
        finally:
            entry["status"] = status.get("code")
            if created_name:  # the ARN (random suffix) of the secret CreateSecret made
                created = _secret(entry["region"], created_name)
                if created is not None:
                    entry.setdefault("secrets", {})[created_name] = created.arn
            line = json.dumps(entry, separators=(",", ":")) + "\n"
            with self.lock, open(self.path, "a") as f:
                f.write(line)


def _dispatcher(create_app):
    app = _moto_dispatcher(create_app)
    if _CALL_LOG:
        app = CallLog(app, _CALL_LOG)
    return CborTranslator(SnapshotSizes(app))


moto_server.DomainDispatcherApplication = _dispatcher

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    port = sys.argv[1] if len(sys.argv) > 1 else "5000"
    sys.exit(main(["-H", "127.0.0.1", "-p", port]))
