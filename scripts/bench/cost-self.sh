#!/usr/bin/env bash
# What a cost-anomaly run costs on its own bill, for docs/PERFORMANCE.md (a benchmark, not a
# test: it measures and asserts nothing). For each size in SIZES, in a fresh emulator
# (scripts/local-aws.sh) that logs every request it serves (LIFEBOAT_CALL_LOG):
#   1. `cost-bench self-cost seed SIZE`: the account (demo: the demo's seeded world; N: N
#      components — RDS instances with automated, Lifeboat and manual snapshots and DR copies,
#      Aurora clusters, ElastiCache groups — and the backup and DR buckets with their inventory
#      reports and storage metrics), 28 days of history, a canned Cost Explorer answer;
#   2. four runs of cost_anomaly::run with the daily schedule's event, in-process: Cost Explorer
#      off and on, each a first run (no alert state yet: it emails) and a steady day (history
#      and alert state there, nothing changed). Each run's stdout (EMF lines, then its figures)
#      and stderr (its log lines) are kept; its requests are counted from the call log;
#   3. the release binary (target/release/cost-anomaly) under scripts/bench/fake_runtime.py:
#      BENCH_COLD_STARTS cold starts (process start -> first GET /next), and one scheduled run
#      (a first run, Cost Explorer off) under /usr/bin/time -v: peak RSS, event -> answer, its
#      requests from the call log.
# Then `cost-bench self-cost price` prices every run and the month (30 steady runs plus the
# custom metrics the EMF lines define) with list prices, into target/bench/cost-self/summary.json,
# and, unless BENCH_SKIP_ARM64=1, the arm64 Lambda zip is cross-built (cargo-lambda + zig) for
# its size.
#
#   scripts/bench/cost-self.sh [SIZES]   (default "demo 20 200")
#
# LIFEBOAT_BENCH_PROFILE=debug runs cost-bench from the debug build (its request counts and
# metrics hold, its wall times do not); the release binary's steps still need the release build.
# BENCH_SKIP_BINARY=1 skips step 3 (no release build of cost-anomaly).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
sizes=${1:-"demo 20 200"}
out="$root/target/bench/cost-self"
COLD_STARTS=${BENCH_COLD_STARTS:-10}
log() { printf '[bench cost-self] %s\n' "$*" >&2; }
rm -rf "$out"
mkdir -p "$out"

profile=${LIFEBOAT_BENCH_PROFILE:-release}
bench="$root/target/$profile/cost-bench"
fn_bin="$root/target/release/cost-anomaly"
if [ "$profile" = debug ]; then
  log "building cost-bench (debug)"
  cargo build -q -p lifeboat-tests --bin cost-bench
fi
if [ "${BENCH_SKIP_BINARY:-0}" != 1 ] || [ "$profile" != debug ]; then
  # One build for both: the dependencies are compiled once (features unified over the two
  # packages, as `sam build` unifies them over the workspace).
  log "building the release binaries (cost-anomaly and cost-bench; long from cold)"
  cargo build -q --release -p cost-anomaly -p lifeboat-tests --bin cost-anomaly --bin cost-bench
fi
if [ "${BENCH_SKIP_BINARY:-0}" != 1 ]; then
  if [ ! -x /usr/bin/time ]; then
    log "installing GNU time"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
  fi
fi
# what was measured: the commit, and any uncommitted change to the function's code
git diff HEAD -- functions shared >"$out/uncommitted.diff" || true
echo "{\"commit\": \"$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- functions shared tests Cargo.lock 2>/dev/null || echo '+uncommitted changes')\", \"date\": \"$(date -u +%FT%TZ)\", \"profile\": \"$profile\"}" >"$out/facts.json"

for size in $sizes; do
  state="$out/$size"
  mkdir -p "$state"
  # Every request moto serves, with the caller's app name and its body (scripts/moto_server.py).
  export LIFEBOAT_CALL_LOG="$state/calls"
  # The 200-component account holds about 1,100 manual snapshots a region: above moto's
  # default limit of 1,000 (and the stand-in's reported quota of 100).
  export MOTO_RDS_SNAPSHOT_LIMIT=20000 LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA=20000
  # shellcheck source=scripts/local-aws.sh
  source scripts/local-aws.sh "$state"
  set -euo pipefail
  trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT

  log "$size: seeding"
  "$bench" self-cost seed "$size" "$state" >"$state/seed.json"
  cat "$state/seed.json" >&2
  for ce in off on; do
    for run in first steady; do
      log "$size: run, Cost Explorer $ce, $run"
      "$bench" self-cost run "$state" --ce "$ce" --run "$run" \
        >"$out/$size-$ce-$run.stdout" 2>"$out/$size-$ce-$run.stderr"
      tail -n 1 "$out/$size-$ce-$run.stdout" | python3 -c 'import json, sys; f = json.load(sys.stdin); r = f["requests"]; print("  %s s, %s requests, %s metrics in %s GetMetricData, S3 %s PUT/LIST %s GET, CE %s: %s" % (f["wall_seconds"], r["requests"], r["metrics_requested"], r["get_metric_data_calls"], r["s3_put_list"], r["s3_get"], r["cost_explorer"], f["headline"]))' >&2
    done
  done

  if [ "${BENCH_SKIP_BINARY:-0}" != 1 ]; then
    log "$size: the release binary: $COLD_STARTS cold starts, then one scheduled run (first, Cost Explorer off)"
    (
      set -a
      # shellcheck disable=SC1091
      . "$state/env"
      set +a
      export AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_FUNCTION_NAME=lifeboat-cost-anomaly
      python3 scripts/bench/fake_runtime.py coldstart --runs "$COLD_STARTS" --timeout 30 \
        --out "$out/$size-coldstart.json" -- "$fn_bin"
      "$bench" self-cost reset "$state" >/dev/null
      log_file=$(ls "$state"/calls/*.jsonl)
      before=$(stat -c %s "$log_file")
      python3 scripts/bench/fake_runtime.py invoke --event "$(cat "$state/event.json")" --timeout 900 \
        --out "$out/$size-release.invoke.json" --response "$out/$size-release.response.json" \
        --stderr "$out/$size-release.stderr" -- /usr/bin/time -v -o "$out/$size-release.time" "$fn_bin"
      sleep 1
      tail -c +"$((before + 1))" "$log_file" | "$bench" self-cost tally >"$out/$size-release.requests.json"
    )
  fi
  kill "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
  trap - EXIT
done

# (each size's Lambda duration includes its measured cold start: <size>-coldstart.json)
# shellcheck disable=SC2046
"$bench" self-cost price $(ls "$out"/*-first.stdout "$out"/*-steady.stdout) >"$out/prices.json"

if [ "${BENCH_SKIP_ARM64:-0}" != 1 ]; then
  log "cross-building the arm64 Lambda zip (cargo-lambda + zig; long: fat LTO)"
  scripts/tools.sh lambda
  ZIG_DIR=$("$root/.tools/lambda/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
  t0=$(date +%s)
  if PATH="$ZIG_DIR:$root/.tools/lambda/bin:$PATH" timeout 5400 "$root/.tools/lambda/bin/cargo-lambda" lambda build \
    --release --arm64 --output-format zip --lambda-dir "$out/lambda-arm64" --bin cost-anomaly >"$out/arm64-build.log" 2>&1 &&
    [ -f "$out/lambda-arm64/cost-anomaly/bootstrap.zip" ]; then
    echo "$(($(date +%s) - t0))" >"$out/arm64-build-seconds"
  else
    log "arm64 cross-build failed (see $out/arm64-build.log)"
  fi
fi

python3 - "$out" <<'PY'
import glob, json, os, re, sys, zipfile
out = sys.argv[1]
res = {"facts": json.load(open(os.path.join(out, "facts.json"))),
       "prices": json.load(open(os.path.join(out, "prices.json")))}
for f in sorted(glob.glob(os.path.join(out, "*", "seed.json"))):
    res.setdefault("seeded", {})[os.path.basename(os.path.dirname(f))] = json.load(open(f))
for f in sorted(glob.glob(os.path.join(out, "*-coldstart.json"))):
    c = json.load(open(f))
    res.setdefault("coldstart", {})[os.path.basename(f)[:-len("-coldstart.json")]] = {
        k: c.get(k) for k in ("runs", "ready_ms_median", "ready_ms_p90", "ready_ms_min", "ready_ms_max", "rss_at_ready_kb_median")}
for f in sorted(glob.glob(os.path.join(out, "*-release.time"))):
    size = os.path.basename(f)[:-len("-release.time")]
    t = open(f).read()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
    inv = json.load(open(os.path.join(out, size + "-release.invoke.json")))
    req = json.load(open(os.path.join(out, size + "-release.requests.json")))
    res.setdefault("release_run", {})[size] = {
        "peak_rss_kb": int(rss.group(1)) if rss else None,
        "invoke": inv, "requests": req["requests"], "by_operation": req["by_operation"]}
z = os.path.join(out, "lambda-arm64", "cost-anomaly", "bootstrap.zip")
if os.path.exists(z):
    with zipfile.ZipFile(z) as zf:
        boot = zf.getinfo("bootstrap").file_size
    secs = open(os.path.join(out, "arm64-build-seconds")).read().strip()
    res["arm64"] = {"zip_bytes": os.path.getsize(z), "bootstrap_bytes": boot, "build_seconds": int(secs)}
json.dump(res, open(os.path.join(out, "summary.json"), "w"), indent=1)
print("size  CE  run     requests  metrics  S3 PUT/LIST  S3 GET  CE  wall s  USD/run   | month USD: custom metrics a full month / metered hours (their number)")
for row in res["prices"]["rows"]:
    for run, f in sorted(row["runs"].items()):
        r = f["requests"]
        print(f"{row['size']:>5} {'on ' if row['cost_explorer'] else 'off'} {run:7} {r['requests']:8} {r['metrics_requested']:8} "
              f"{r['s3_put_list']:12} {r['s3_get']:7} {r['cost_explorer']:3} {f['wall_seconds']:7} {f['usd']['total']:.6f} "
              f"| {row['month_usd']['total']:.4f} / {row['month_usd']['total_prorated']:.4f} ({row['month_usd']['custom_metrics']})")
print(f"summary: {os.path.join(out, 'summary.json')}")
PY
