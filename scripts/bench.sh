#!/usr/bin/env bash
# Lifeboat benchmark (`make bench`). Not part of the tests: it measures, it does not assert.
#
#   scripts/bench.sh
#
# Measures, for snapshot-export:
#   1. release zip size: arm64 (cargo-lambda + zig, what gets deployed) and x86_64;
#   2. process start -> ready for the first event (first GET /next on a fake Lambda Runtime API),
#      over BENCH_COLD_STARTS cold starts of the x86_64 release binary;
#   3. one real run ({"action":"run"}) over BENCH_HISTORY_DAYS seeded daily snapshots: wall time,
#      peak RSS (/usr/bin/time -v), API calls (requests in the emulator's access log);
#   4. in the same emulator, on the same seeded state (reset + reseed), the same retention job the
#      way the runbooks do it: an aws CLI shell loop (scripts/bench/runbook-rds-cleanup.sh), timed.
# Raw results go to target/bench/results.json (inputs under target/bench/raw/); a table is printed.
# Then failover-orchestrator's figures: scripts/bench/failover.sh (runnable alone; its own
# emulator; target/bench/failover/results.json), and cost-anomaly's own bill:
# scripts/bench/cost-self.sh (runnable alone; an emulator per size; target/bench/cost-self/).
# Everything runs on loopback; every loop and wait is bounded.
#
# Knobs (environment): BENCH_HISTORY_DAYS (500), BENCH_COLD_STARTS (20), BENCH_RETENTION_DAYS (7,
# the runbook's cutoff = the policy's daily tier), BENCH_SKIP_ARM64=1 (no cross-build),
# BENCH_SKIP_FAILOVER=1 (no failover-orchestrator figures; its own knobs: scripts/bench/failover.sh),
# BENCH_SKIP_COST_SELF=1 (no cost-anomaly figures; its own knobs: scripts/bench/cost-self.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

HISTORY_DAYS=${BENCH_HISTORY_DAYS:-500}
COLD_STARTS=${BENCH_COLD_STARTS:-20}
RETENTION_DAYS=${BENCH_RETENTION_DAYS:-7}
out="$root/target/bench"
raw="$out/raw"
state="$out/state"
log() { printf '[bench] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(now)"; }

rm -rf "$raw" "$state" "$out/lambda-arm64"
mkdir -p "$raw" "$state"
facts="$raw/facts.env"
: >"$facts"
fact() { printf '%s=%s\n' "$1" "$2" >>"$facts"; }
fact HISTORY_DAYS "$HISTORY_DAYS"
fact RETENTION_DAYS "$RETENTION_DAYS"

# --- tools ---------------------------------------------------------------------------------
scripts/tools.sh lambda
scripts/tools.sh bench
scripts/tools.sh emulator
if [ ! -x /usr/bin/time ]; then
  log "installing GNU time"
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
AWS_CLI="$root/.tools/awscli/bin/aws"
ZIG_DIR=$("$root/.tools/lambda/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')

# --- builds and sizes ----------------------------------------------------------------------
log "building the x86_64 release binary and the seeding helper"
cargo build --release -q -p snapshot-export
cargo build -q -p lifeboat-tests --bin lifeboat-local
BIN="$root/target/release/snapshot-export"
SEEDER="$root/target/debug/lifeboat-local"
fact X86_BIN "$BIN"
fact GIT_COMMIT "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- functions shared tests Cargo.toml Cargo.lock 2>/dev/null || echo '+uncommitted changes')"
python3 - "$BIN" "$raw/x86_64/bootstrap.zip" <<'EOF'
# The same packaging cargo-lambda does: one deflated entry named bootstrap, mode 0755.
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(dst), exist_ok=True)
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with zipfile.ZipFile(dst, "w") as z, open(src, "rb") as f:
    z.writestr(info, f.read())
EOF
fact X86_ZIP "$raw/x86_64/bootstrap.zip"

if [ "${BENCH_SKIP_ARM64:-0}" != 1 ]; then
  log "cross-building the arm64 Lambda zip (cargo-lambda + zig)"
  t0=$(now)
  if PATH="$ZIG_DIR:$root/.tools/lambda/bin:$PATH" timeout 3600 "$root/.tools/lambda/bin/cargo-lambda" lambda build \
      --release --arm64 --output-format zip --lambda-dir "$out/lambda-arm64" --bin snapshot-export >"$raw/arm64-build.log" 2>&1 \
      && [ -f "$out/lambda-arm64/snapshot-export/bootstrap.zip" ]; then
    fact ARM64_ZIP "$out/lambda-arm64/snapshot-export/bootstrap.zip"
    fact ARM64_BUILD_S "$(since "$t0")"
    fact ARM64_BIN "$root/target/aarch64-unknown-linux-gnu/release/snapshot-export"
  else
    log "arm64 cross-build failed (see $raw/arm64-build.log); reporting the x86_64 zip only"
  fi
fi

# --- emulator and seeding --------------------------------------------------------------------
# The benchmark seeds ~500 manual snapshots: raise the emulator's stand-in quota above them.
export LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA=${LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA:-1000}
# shellcheck source=local-aws.sh
source "$root/scripts/local-aws.sh" "$state"
set -euo pipefail
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

request_lines() { grep -aP '\] "(\x1b\[[0-9;]*m)*(GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) \S+ HTTP/' "$state/moto.log" || true; }
request_count() { request_lines | wc -l; }
moto_cpu() { awk '{print $14 + $15}' "/proc/$MOTO_PID/stat"; }  # clock ticks
settle_log() { sleep 1; }  # werkzeug logs a request just after answering it

seed() {
  local t0
  t0=$(now)
  "$SEEDER" seed "$state" --history-days "$HISTORY_DAYS" >"$raw/seed-$1.log"
  fact "SEED_${1}_S" "$(since "$t0")"
}
list_snapshots() {  # $1 label: primary manual snapshots of the DB, and every manual DR snapshot
  "$AWS_CLI" --endpoint-url "$AWS_ENDPOINT_URL" rds describe-db-snapshots --db-instance-identifier ecommerce-prod-db \
    --snapshot-type manual --query 'DBSnapshots[].DBSnapshotIdentifier' --output text | tr '\t' '\n' | sed '/^$/d' | sort >"$raw/$1-primary.txt"
  "$AWS_CLI" --endpoint-url "$AWS_ENDPOINT_URL" --region us-west-2 rds describe-db-snapshots \
    --snapshot-type manual --query 'DBSnapshots[].DBSnapshotIdentifier' --output text | tr '\t' '\n' | sed '/^$/d' | sort >"$raw/$1-dr.txt"
}

log "seeding $HISTORY_DAYS days of history (run A: the runbook shell loop)"
seed A
set -a
# shellcheck disable=SC1091
. "$state/env"
set +a

# --- cold starts (the seeded function environment; no AWS call happens before /next) --------
log "$COLD_STARTS cold starts"
python3 scripts/bench/fake_runtime.py coldstart --runs "$COLD_STARTS" --timeout 30 --out "$raw/coldstart.json" -- "$BIN"

# --- job A: the runbook's aws CLI shell loop -------------------------------------------------
list_snapshots a-before
log "job A: runbook shell loop over $(grep -c '^lifeboat-' "$raw/a-before-primary.txt") Lifeboat snapshots (one aws CLI process per call; this takes minutes)"
settle_log
req0=$(request_count); cpu0=$(moto_cpu)
/usr/bin/time -f '%e %U %S %M' -o "$raw/runbook.time" \
  env AWS_CLI="$AWS_CLI" RETENTION_DAYS="$RETENTION_DAYS" timeout 7200 bash scripts/bench/runbook-rds-cleanup.sh >"$raw/runbook.out" 2>"$raw/runbook.err"
settle_log
req1=$(request_count); cpu1=$(moto_cpu)
request_lines | sed -n "$((req0 + 1)),${req1}p" >"$raw/a-requests.log"
fact A_REQUESTS $((req1 - req0))
fact A_MOTO_CPU_TICKS $((cpu1 - cpu0))
list_snapshots a-after

# --- reset, reseed: the same state for job B ---------------------------------------------------
log "resetting the emulator and seeding the same history again (run B: Lifeboat)"
curl -fsS -X POST "$AWS_ENDPOINT_URL/moto-api/reset" >/dev/null
seed B
list_snapshots b-before

# --- job B: Lifeboat, one real run ----------------------------------------------------------
log "job B: snapshot-export {\"action\":\"run\"} under /usr/bin/time -v"
settle_log
req0=$(request_count); cpu0=$(moto_cpu)
python3 scripts/bench/fake_runtime.py invoke --event '{"action":"run"}' --timeout 900 \
  --out "$raw/lifeboat-invoke.json" --response "$raw/lifeboat-report.json" --stderr "$raw/lifeboat-stderr.log" \
  -- /usr/bin/time -v -o "$raw/lifeboat.time" "$BIN"
settle_log
req1=$(request_count); cpu1=$(moto_cpu)
request_lines | sed -n "$((req0 + 1)),${req1}p" >"$raw/b-requests.log"
fact B_REQUESTS $((req1 - req0))
fact B_MOTO_CPU_TICKS $((cpu1 - cpu0))
fact CLK_TCK "$(getconf CLK_TCK)"
list_snapshots b-after
# The report as archived in S3 (written before the email is sent, so it exists even when the
# invocation returned an error after archiving).
"$AWS_CLI" --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --recursive --quiet \
  "s3://$LIFEBOAT_REPORT_BUCKET/reports/" "$raw/archived-reports/" || log "no archived report found"

# --- results ------------------------------------------------------------------------------
python3 scripts/bench/summarize.py "$raw" "$out/results.json"

# --- failover-orchestrator ------------------------------------------------------------------
if [ "${BENCH_SKIP_FAILOVER:-0}" != 1 ]; then
  kill "$MOTO_PID" 2>/dev/null || true
  # Its own emulator, seeded world and function environment: none of this run's.
  env -u AWS_ENDPOINT_URL -u LIFEBOAT_POLICY -u LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA scripts/bench/failover.sh
fi

# --- cost-anomaly: what a run costs ---------------------------------------------------------
if [ "${BENCH_SKIP_COST_SELF:-0}" != 1 ]; then
  kill "$MOTO_PID" 2>/dev/null || true
  # Its own emulators and seeded worlds: none of this run's.
  env -u AWS_ENDPOINT_URL -u LIFEBOAT_POLICY -u LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA scripts/bench/cost-self.sh
fi
