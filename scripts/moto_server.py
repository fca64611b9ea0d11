"""Starts the pinned moto server on loopback with a clock the tests and the demo can shift.

moto 5.2.5 has no time-travel endpoint, and RDS snapshots carry the server's time as
SnapshotCreateTime. To seed snapshots of realistic ages (a 40-day-old manual snapshot, an
automated snapshot from last week), this launcher makes moto's clock read
`now + offset`, where offset (seconds, may be negative) is read on every call from the file
named by LIFEBOAT_EMULATOR_CLOCK_FILE. With no file or an empty one the clock is the real one.

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

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    port = sys.argv[1] if len(sys.argv) > 1 else "5000"
    sys.exit(main(["-H", "127.0.0.1", "-p", port]))
