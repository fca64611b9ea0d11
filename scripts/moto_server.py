"""Starts the pinned moto server on loopback with a clock the tests and the demo can shift.

moto 5.2.5 has no time-travel endpoint, and RDS snapshots carry the server's time as
SnapshotCreateTime. To seed snapshots of realistic ages (a 40-day-old manual snapshot, an
automated snapshot from last week), this launcher makes moto's clock read
`now + offset`, where offset (seconds, may be negative) is read on every call from the file
named by LIFEBOAT_EMULATOR_CLOCK_FILE. With no file or an empty one the clock is the real one.

It also answers RDS DescribeAccountAttributes, which moto lacks, with a stand-in, puts the
rpcv2Cbor translator of scripts/cbor_stand_in.py in front of moto for CloudWatch, answers S3
GetBucketVersioning in S3's shape and makes conditional PutObject atomic (see below).

Usage: python moto_server.py PORT
"""
import datetime
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
moto_server.DomainDispatcherApplication = lambda create_app: CborTranslator(
    _moto_dispatcher(create_app)
)

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

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    port = sys.argv[1] if len(sys.argv) > 1 else "5000"
    sys.exit(main(["-H", "127.0.0.1", "-p", port]))
