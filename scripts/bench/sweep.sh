#!/usr/bin/env bash
# Integrity-sweep benchmark (part of `make bench`; runnable alone). Measures, not asserts:
#   1. Lifeboat's sweep as deployed by default (compare: listing) over BENCH_SWEEP_OBJECTS objects
#      whose source and replica both carry CRC64NVME checksums: objects/s, API calls per object,
#      bytes read;
#   2. in the same run, on the same two buckets, `rclone check` at the same concurrency
#      (--checkers), its time and its requests (from the emulator's access log);
#   3. the same buckets with compare: checksum (HeadObject on both sides of every object);
#   4. the hashing path: compare: checksum against a replica whose checksums are SHA256, so both
#      bodies are streamed through CRC64NVME: bytes hashed per second;
#   5. single-core CRC64NVME: one-shot over a buffer vs the sweep's 64 KiB streaming digest.
# Results: target/bench/sweep/results.json and a table on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
N=${BENCH_SWEEP_OBJECTS:-2000}
KIB=${BENCH_SWEEP_KIB:-16}
CONC=${BENCH_SWEEP_CONCURRENCY:-16}
out="$root/target/bench/sweep"
rm -rf "$out"; mkdir -p "$out"
log() { printf '[bench-sweep] %s\n' "$*" >&2; }

scripts/tools.sh emulator
if ! command -v rclone >/dev/null; then
  log "installing rclone (Debian package)"
  apt-get update -qq && apt-get install -y -qq rclone >/dev/null
fi
log "building lifeboat-local (release)"
cargo build --release -q -p lifeboat-tests --bin lifeboat-local
LOCAL="$root/target/release/lifeboat-local"

# shellcheck source=scripts/local-aws.sh
source scripts/local-aws.sh "$out/state"
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

log "seeding $N objects of $KIB KiB: source and CRC64NVME replica, and a SHA256 replica"
"$root/.tools/moto/bin/python" - "$N" "$KIB" <<'PY'
import os, sys, boto3, concurrent.futures as cf
n, kib = int(sys.argv[1]), int(sys.argv[2])
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
for b in ("bench-src", "bench-rep-crc", "bench-rep-sha"):
    s3.create_bucket(Bucket=b)
def put(i):
    body = os.urandom(kib * 1024)
    key = f"backups/rds-instance/db-{i % 20}/part-{i:06d}.parquet"
    s3.put_object(Bucket="bench-src", Key=key, Body=body, ChecksumAlgorithm="CRC64NVME")
    s3.put_object(Bucket="bench-rep-crc", Key=key, Body=body, ChecksumAlgorithm="CRC64NVME")
    s3.put_object(Bucket="bench-rep-sha", Key=key, Body=body, ChecksumAlgorithm="SHA256")
with cf.ThreadPoolExecutor(16) as ex:
    list(ex.map(put, range(n)))
PY

requests() { grep -acP '\] "(\x1b\[[0-9;]*m)*(GET|POST|PUT|DELETE|HEAD) \S+ HTTP/' "$out/state/moto.log" || true; }

log "Lifeboat sweep, compare: listing (the default), concurrency $CONC"
sleep 1; l0=$(requests)
w0=$(date +%s.%N)
"$LOCAL" sweep-bench bench-src bench-rep-crc "$CONC" listing >"$out/lifeboat-listing.json"
w1=$(date +%s.%N)
sleep 1; l1=$(requests)

log "Lifeboat sweep, compare: checksum (stored checksums), concurrency $CONC"
sleep 1; r0=$(requests)
"$LOCAL" sweep-bench bench-src bench-rep-crc "$CONC" checksum >"$out/lifeboat-checksums.json"
sleep 1; r1=$(requests)

log "rclone check, --checkers $CONC"
export RCLONE_CONFIG_MOTO_TYPE=s3 RCLONE_CONFIG_MOTO_PROVIDER=Other RCLONE_CONFIG_MOTO_ENV_AUTH=false
export RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=testing RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=testing
export RCLONE_CONFIG_MOTO_ENDPOINT="$AWS_ENDPOINT_URL" RCLONE_CONFIG_MOTO_REGION=us-east-1
export RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE=true
t0=$(date +%s.%N)
env -u AWS_CA_BUNDLE rclone check moto:bench-src/backups moto:bench-rep-crc/backups --checkers "$CONC" \
  >"$out/rclone.log" 2>&1 || true
t1=$(date +%s.%N)
sleep 1; r2=$(requests)

log "Lifeboat sweep, hashing path (SHA256 replica)"
"$LOCAL" sweep-bench bench-src bench-rep-sha "$CONC" checksum >"$out/lifeboat-hashing.json"
sleep 1; r3=$(requests)

log "CRC64NVME single core"
"$LOCAL" crc-bench 256 >"$out/crc.json"

python3 - "$out" "$N" "$KIB" "$CONC" "$r0" "$r1" "$r2" "$r3" "$t0" "$t1" "$l0" "$l1" "$w0" "$w1" <<'PY'
import json, sys, re
out, n, kib, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r0, r1, r2, r3 = map(int, sys.argv[5:9]); t0, t1 = float(sys.argv[9]), float(sys.argv[10])
l0, l1 = map(int, sys.argv[11:13]); w0, w1 = float(sys.argv[13]), float(sys.argv[14])
ll = json.load(open(f"{out}/lifeboat-listing.json"))
lc = json.load(open(f"{out}/lifeboat-checksums.json"))
lh = json.load(open(f"{out}/lifeboat-hashing.json"))
crc = json.load(open(f"{out}/crc.json"))
rlog = open(f"{out}/rclone.log").read()
m = re.search(r"(\d+) matching files", rlog)
rclone = {"seconds": round(t1 - t0, 3), "requests": r2 - r1, "matching": int(m.group(1)) if m else None,
          "differences": "0 differences found" in rlog}
res = {
    "objects": n, "object_kib": kib, "concurrency": conc,
    "lifeboat_listing": {**ll, "requests_seen_by_emulator": l1 - l0,
                         "process_seconds": round(w1 - w0, 3),
                         "objects_per_s": round(ll["objects"] / ll["seconds"], 1),
                         "api_calls_per_object": round(ll["api_calls"] / max(ll["objects"], 1), 4)},
    "lifeboat_checksums": {**lc, "requests_seen_by_emulator": r1 - r0,
                           "objects_per_s": round(lc["objects"] / lc["seconds"], 1),
                           "api_calls_per_object": round(lc["api_calls"] / max(lc["objects"], 1), 3)},
    "rclone_check": {**rclone, "objects_per_s": round(n / rclone["seconds"], 1) if rclone["seconds"] else None},
    "lifeboat_hashing": {**lh, "requests_seen_by_emulator": r3 - r2,
                         "mb_hashed_per_s": round(lh["bytes_hashed"] / lh["seconds"] / 1e6, 1)},
    "crc64nvme": crc,
}
# Process to process: both wall times include start-up and connection set-up.
res["lifeboat_vs_rclone_speed"] = round(rclone["seconds"] / (w1 - w0), 2)
res["lifeboat_checksum_vs_rclone_speed"] = round(rclone["seconds"] / lc["seconds"], 2)
json.dump(res, open(f"{out}/results.json", "w"), indent=2)
print(json.dumps(res, indent=2))
PY
