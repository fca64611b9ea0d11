#!/usr/bin/env bash
# Integrity-sweep benchmark (part of `make bench`; runnable alone). Measures, not asserts:
#   1. Lifeboat's sweep as deployed by default (compare: listing) over BENCH_SWEEP_OBJECTS objects
#      whose source and replica both carry CRC64NVME checksums: objects/s, API calls per object,
#      bytes read;
#   2. in the same run, on the same two buckets, `rclone check` at the same concurrency
#      (--checkers) and `rclone check --fast-list`: times and requests (from the emulator's access
#      log), all three timed process to process. Two layouts of the same number of objects:
#      "flat" (20 directories of 100 objects) and "exports" (what snapshot-export leaves: per
#      snapshot a manifest, RDS's export_info and one parquet part per table, each table in its
#      own directory, as RDS snapshot export writes them);
#   3. the flat buckets with compare: checksum (HeadObject on both sides of every object);
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

log "seeding $N objects of $KIB KiB per bucket: flat source, CRC64NVME and SHA256 replicas; exports source and replica"
"$root/.tools/moto/bin/python" - "$N" "$KIB" <<'PY'
import os, sys, boto3, concurrent.futures as cf
n, kib = int(sys.argv[1]), int(sys.argv[2])
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
for b in ("bench-src", "bench-rep-crc", "bench-rep-sha", "bench-exp-src", "bench-exp-rep"):
    s3.create_bucket(Bucket=b)
TABLES = 18
def export_key(i):
    # 20 objects per snapshot: manifest, export_info, 18 tables; 4 databases, one snapshot a day.
    snap, j = divmod(i, TABLES + 2)
    db, day = snap % 4, snap // 4
    base = f"backups/rds-instance/shop-{db}/lifeboat-shop-{db}-d{day:04d}/"
    task = f"lifeboat-shop-{db}-d{day:04d}-export"
    if j == 0:
        return base + "manifest.json"
    if j == 1:
        return f"{base}{task}/export_info_{task}.json"
    return f"{base}{task}/shop/public.table_{j - 2:02d}/1/part-00000-{i:08x}.gz.parquet"
def put(i):
    body = os.urandom(kib * 1024)
    key = f"backups/rds-instance/db-{i % 20}/part-{i:06d}.parquet"
    s3.put_object(Bucket="bench-src", Key=key, Body=body, ChecksumAlgorithm="CRC64NVME")
    s3.put_object(Bucket="bench-rep-crc", Key=key, Body=body, ChecksumAlgorithm="CRC64NVME")
    s3.put_object(Bucket="bench-rep-sha", Key=key, Body=body, ChecksumAlgorithm="SHA256")
    for b in ("bench-exp-src", "bench-exp-rep"):
        s3.put_object(Bucket=b, Key=export_key(i), Body=body, ChecksumAlgorithm="CRC64NVME")
with cf.ThreadPoolExecutor(16) as ex:
    list(ex.map(put, range(n)))
PY

requests() { grep -acP '\] "(\x1b\[[0-9;]*m)*(GET|POST|PUT|DELETE|HEAD) \S+ HTTP/' "$out/state/moto.log" || true; }
now() { date +%s.%N; }
export RCLONE_CONFIG_MOTO_TYPE=s3 RCLONE_CONFIG_MOTO_PROVIDER=Other RCLONE_CONFIG_MOTO_ENV_AUTH=false
export RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=testing RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=testing
export RCLONE_CONFIG_MOTO_ENDPOINT="$AWS_ENDPOINT_URL" RCLONE_CONFIG_MOTO_REGION=us-east-1
export RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE=true

# versus LAYOUT SRC REPLICA: Lifeboat (compare: listing), rclone check, rclone check --fast-list,
# one after the other on the same buckets, each timed process to process; writes
# $out/versus-LAYOUT.json.
versus() {
  local layout=$1 src=$2 rep=$3 a b q0 q1 q2 q3 t0 t1 t2 t3
  log "[$layout] Lifeboat sweep, compare: listing (the default), concurrency $CONC"
  sleep 1; q0=$(requests); t0=$(now)
  "$LOCAL" sweep-bench "$src" "$rep" "$CONC" listing >"$out/lifeboat-$layout.json"
  t1=$(now); sleep 1; q1=$(requests)
  log "[$layout] rclone check --checkers $CONC"
  a=$(now)
  env -u AWS_CA_BUNDLE rclone check "moto:$src/backups" "moto:$rep/backups" --checkers "$CONC" \
    >"$out/rclone-$layout.log" 2>&1 || true
  t2=$(now); sleep 1; q2=$(requests)
  log "[$layout] rclone check --fast-list --checkers $CONC"
  b=$(now)
  env -u AWS_CA_BUNDLE rclone check "moto:$src/backups" "moto:$rep/backups" --checkers "$CONC" \
    --fast-list >"$out/rclone-fast-list-$layout.log" 2>&1 || true
  t3=$(now); sleep 1; q3=$(requests)
  python3 "$root/scripts/bench/versus.py" "$out" "$layout" "$t0" "$t1" "$q0" "$q1" "$a" "$t2" "$q2" "$b" "$t3" "$q3"
}

versus flat bench-src bench-rep-crc
versus exports bench-exp-src bench-exp-rep

log "Lifeboat sweep, compare: checksum (stored checksums), concurrency $CONC"
sleep 1; r0=$(requests)
"$LOCAL" sweep-bench bench-src bench-rep-crc "$CONC" checksum >"$out/lifeboat-checksums.json"
sleep 1; r1=$(requests)

log "Lifeboat sweep, hashing path (SHA256 replica)"
"$LOCAL" sweep-bench bench-src bench-rep-sha "$CONC" checksum >"$out/lifeboat-hashing.json"
sleep 1; r2=$(requests)

log "CRC64NVME single core"
"$LOCAL" crc-bench 256 >"$out/crc.json"

python3 - "$out" "$N" "$KIB" "$CONC" "$r0" "$r1" "$r2" <<'PY'
import json, sys
out, n, kib, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r0, r1, r2 = map(int, sys.argv[5:8])
lc = json.load(open(f"{out}/lifeboat-checksums.json"))
lh = json.load(open(f"{out}/lifeboat-hashing.json"))
res = {
    "objects": n, "object_kib": kib, "concurrency": conc,
    "versus_flat": json.load(open(f"{out}/versus-flat.json")),
    "versus_exports": json.load(open(f"{out}/versus-exports.json")),
    "lifeboat_checksums": {**lc, "requests_seen_by_emulator": r1 - r0,
                           "objects_per_s": round(lc["objects"] / lc["seconds"], 1),
                           "api_calls_per_object": round(lc["api_calls"] / max(lc["objects"], 1), 3)},
    "lifeboat_hashing": {**lh, "requests_seen_by_emulator": r2 - r1,
                         "mb_hashed_per_s": round(lh["bytes_hashed"] / lh["seconds"] / 1e6, 1)},
    "crc64nvme": json.load(open(f"{out}/crc.json")),
}
json.dump(res, open(f"{out}/results.json", "w"), indent=2)
print(json.dumps(res, indent=2))
PY
