#!/usr/bin/env bash
# failover-orchestrator's figures for docs/PERFORMANCE.md (part of `make bench`; runnable alone).
# A benchmark, not a test: it measures, it asserts nothing.
#   1. release binary and zip: x86_64, and arm64 (cargo-lambda + zig, what is deployed) unless
#      BENCH_SKIP_ARM64=1, as scripts/bench.sh does for snapshot-export;
#   2. process start -> ready for the first event (scripts/bench/fake_runtime.py coldstart),
#      BENCH_COLD_STARTS cold starts of the x86_64 release binary;
#   3. the release binary executing the demo plan (region-failover of infra/policy.local.yaml)
#      against moto, through scripts/fault_proxy.py (requests by operation): one process per
#      invocation (execute, then resume until finished, as the Step Functions loop invokes it),
#      each under /usr/bin/time -v (peak RSS);
#   4. in-process runs (tests/src/bin/failover-bench.rs: the function's calls timed inside its
#      own HTTP client, AWS waits simulated there), each in a fresh emulator world:
#        overhead   BENCH_FAILOVER_REPEAT executes of the demo plan (moto: no AWS waits);
#        two        assess; promote (6 units) and restore-redis (4 units): as written (parallel)
#                   and chained (one after another, the seed script's way);
#        seed       seed 003's Phase 2 data tier: promote 5, Redis 5, DNS 2, verify 3 units,
#                   as a plan (promote and Redis in parallel) and chained (the script's order);
#        barrier    a slow call (BENCH_FAILOVER_HOLD_MS on every poll) in one branch, and the
#                   same run without it: how long the other branch's three steps take;
#      with the loop's Wait (an "in progress" answer -> the next resume) at BENCH_FAILOVER_LOOP_S
#      (1 s), and the two-branch pair again with the deployed loop's 30 s
#      (BENCH_FAILOVER_DEPLOYED_LOOP=0 skips it; 10 s per unit there).
# Results: target/bench/failover/results.json (raw inputs in target/bench/failover/raw/) and a
# table on stdout. Every loop and wait is bounded.
#
# Knobs: BENCH_FAILOVER_UNIT_S (4: seconds standing for one minute of AWS waiting),
# BENCH_FAILOVER_LOOP_S (1), BENCH_FAILOVER_REPEAT (3), BENCH_FAILOVER_HOLD_MS (2000),
# BENCH_FAILOVER_DEPLOYED_LOOP (1), BENCH_COLD_STARTS (20), BENCH_SKIP_ARM64=1,
# LIFEBOAT_BENCH_PROFILE=debug (the bench binary from the debug build: cheap when the tests are
# built; its in-process times are then a debug build's).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
UNIT=${BENCH_FAILOVER_UNIT_S:-4}
LOOP=${BENCH_FAILOVER_LOOP_S:-1}
REPEAT=${BENCH_FAILOVER_REPEAT:-3}
HOLD_MS=${BENCH_FAILOVER_HOLD_MS:-2000}
DEPLOYED=${BENCH_FAILOVER_DEPLOYED_LOOP:-1}
COLD_STARTS=${BENCH_COLD_STARTS:-20}
profile=${LIFEBOAT_BENCH_PROFILE:-release}
out="$root/target/bench/failover"
raw="$out/raw"
state="$out/state"
log() { printf '[bench-failover] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(now)"; }

rm -rf "$raw" "$state" "$out/lambda-arm64"
mkdir -p "$raw" "$state"
facts="$raw/facts.env"
: >"$facts"
fact() { printf '%s=%s\n' "$1" "$2" >>"$facts"; }
fact UNIT_S "$UNIT"
fact LOOP_S "$LOOP"
fact HOLD_MS "$HOLD_MS"
fact PROFILE "$profile"
fact GIT_COMMIT "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- functions/failover-orchestrator shared tests Cargo.toml Cargo.lock 2>/dev/null || echo '+uncommitted changes')"

# --- tools -------------------------------------------------------------------------------------
scripts/tools.sh emulator
if [ "${BENCH_SKIP_ARM64:-0}" != 1 ]; then scripts/tools.sh lambda; fi
if [ ! -x /usr/bin/time ]; then
  log "installing GNU time"
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

# --- builds and sizes --------------------------------------------------------------------------
log "building the x86_64 release binary and the bench binary ($profile)"
cargo build --release -q -p failover-orchestrator
if [ "$profile" = debug ]; then
  cargo build -q -p lifeboat-tests --bin failover-bench
else
  cargo build --release -q -p lifeboat-tests --bin failover-bench
fi
BIN="$root/target/release/failover-orchestrator"
BENCH="$root/target/$profile/failover-bench"
fact X86_BIN "$BIN"
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
  ZIG_DIR=$("$root/.tools/lambda/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
  t0=$(now)
  if PATH="$ZIG_DIR:$root/.tools/lambda/bin:$PATH" timeout 5400 "$root/.tools/lambda/bin/cargo-lambda" lambda build \
      --release --arm64 --output-format zip --lambda-dir "$out/lambda-arm64" --bin failover-orchestrator >"$raw/arm64-build.log" 2>&1 \
      && [ -f "$out/lambda-arm64/failover-orchestrator/bootstrap.zip" ]; then
    fact ARM64_ZIP "$out/lambda-arm64/failover-orchestrator/bootstrap.zip"
    fact ARM64_BUILD_S "$(since "$t0")"
    fact ARM64_BIN "$root/target/aarch64-unknown-linux-gnu/release/failover-orchestrator"
  else
    log "arm64 cross-build failed (see $raw/arm64-build.log); reporting the x86_64 zip only"
  fi
fi

# --- the release binary: cold starts, one execute of the demo plan -----------------------------
# shellcheck source=scripts/local-aws.sh
source "$root/scripts/local-aws.sh" "$state"
set -euo pipefail
PROXY_PID=
cleanup() {
  if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null || true; fi
  kill "$MOTO_PID" 2>/dev/null || true
}
trap cleanup EXIT
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
log "seeding the failover world (DR read replica with 30 s of ReplicaLag)"
"$BENCH" seed "$state" >"$raw/seed.log"
set -a
# shellcheck disable=SC1091
. "$state/env"
set +a
export AWS_LAMBDA_FUNCTION_NAME=lifeboat-failover-orchestrator AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 \
  AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/lifeboat-failover-orchestrator
log "$COLD_STARTS cold starts"
python3 scripts/bench/fake_runtime.py coldstart --runs "$COLD_STARTS" --timeout 30 --out "$raw/coldstart.json" -- "$BIN"

# The request-counting proxy between the function and moto (no rules: every request forwarded).
"$root/.tools/moto/bin/python" scripts/fault_proxy.py --port 0 --upstream "$AWS_ENDPOINT_URL" \
  --log "$raw/proxy.jsonl" >"$state/proxy.out" 2>"$state/proxy.err" &
PROXY_PID=$!
proxy=
for _ in $(seq 1 100); do
  proxy=$(sed -n 's/^listening on //p' "$state/proxy.out" 2>/dev/null | head -n 1)
  if [ -n "$proxy" ]; then break; fi
  sleep 0.1
done
[ -n "$proxy" ] || { log "the fault proxy did not start (see $state/proxy.err)"; exit 1; }
log "execute of region-failover by the release binary, one process per invocation (through $proxy)"
AWS_ENDPOINT_URL="$proxy" python3 - "$BIN" "$raw" "$LOOP" <<'EOF'
# The Step Functions loop's way: execute; while the answer is "in progress": wait, resume.
import json, os, subprocess, sys, time
binary, raw, loop_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
event = {"action": "execute", "plan": "region-failover", "confirm": "region-failover"}
runs = []
for i in range(200):
    base = os.path.join(raw, f"release-{i}")
    subprocess.run(
        [sys.executable, "scripts/bench/fake_runtime.py", "invoke", "--event", json.dumps(event), "--timeout", "900",
         "--out", base + ".invoke.json", "--response", base + ".response.json", "--stderr", base + ".stderr.log",
         "--", "/usr/bin/time", "-v", "-o", base + ".time", binary],
        check=True, stdout=subprocess.DEVNULL)
    answer = json.load(open(base + ".response.json"))
    runs.append(base)
    if "jobs" not in answer:  # a report: the run finished
        break
    time.sleep(loop_s)
    event = {"action": "resume", "run_id": answer["run_id"]}
json.dump({"invocations": runs}, open(os.path.join(raw, "release-run.json"), "w"))
print(f"release binary: {len(runs)} invocation(s); last answer: {answer.get('headline', answer)}")
EOF
kill "$PROXY_PID" 2>/dev/null || true
PROXY_PID=
kill "$MOTO_PID" 2>/dev/null || true

# --- in-process runs, each in a fresh emulator world -------------------------------------------
run() {  # NAME ARGS...
  local name=$1
  shift
  log "run $name: $*"
  "$BENCH" run --out "$raw/run-$name.json" "$@" >"$raw/run-$name.stdout" 2>"$raw/run-$name.stderr" \
    || { log "run $name failed (see $raw/run-$name.stderr)"; tail -n 5 "$raw/run-$name.stderr" >&2; exit 1; }
}
for i in $(seq 1 "$REPEAT"); do
  run "demo-$i" --plan demo --loop "$LOOP"
done
for order in parallel chained; do
  run "two-$order" --plan two --order "$order" --unit "$UNIT" --promote 6 --redis 4 --loop "$LOOP"
  run "seed-$order" --plan seed --order "$order" --unit "$UNIT" --promote 5 --redis 5 --dns 2 --verify 3 --loop "$LOOP"
done
run barrier-held --plan barrier --unit "$UNIT" --redis 10 --hold-ms "$HOLD_MS" --loop "$LOOP"
run barrier-control --plan barrier --unit "$UNIT" --redis 10 --hold-ms 0 --loop "$LOOP"
if [ "$DEPLOYED" = 1 ]; then
  for order in parallel chained; do
    run "two-$order-loop30" --plan two --order "$order" --unit 10 --promote 6 --redis 4 --loop 30
  done
fi

# --- results -----------------------------------------------------------------------------------
python3 - "$raw" "$out/results.json" <<'EOF'
import glob, json, os, re, statistics, sys, zipfile
raw, dst = sys.argv[1], sys.argv[2]
facts = dict(l.strip().split("=", 1) for l in open(os.path.join(raw, "facts.env")) if "=" in l)
def size(p):
    return os.path.getsize(p) if p and os.path.exists(p) else None
def zipped(p):
    if not p or not os.path.exists(p):
        return None
    with zipfile.ZipFile(p) as z:
        return {"zip_bytes": os.path.getsize(p), "bootstrap_bytes": sum(i.file_size for i in z.infolist())}
res = {"facts": facts, "x86_64": zipped(facts.get("X86_ZIP")), "arm64": zipped(facts.get("ARM64_ZIP"))}
if res["arm64"]:
    res["arm64"]["build_s"] = float(facts.get("ARM64_BUILD_S", "nan"))
cold = json.load(open(os.path.join(raw, "coldstart.json")))
res["coldstart"] = {k: cold[k] for k in ("runs", "ready_ms_median", "ready_ms_p90", "ready_ms_min", "ready_ms_max", "rss_at_ready_kb_median")}
# The release binary's run: per invocation, answer time, peak RSS; requests by operation (proxy).
release = []
for base in json.load(open(os.path.join(raw, "release-run.json")))["invocations"]:
    inv = json.load(open(base + ".invoke.json"))
    t = open(base + ".time").read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    release.append({"handle_s": inv["handle_s"], "process_s": inv["process_s"], "ready_ms": inv["ready_ms"],
                    "peak_rss_kb": rss, "exited_by_itself": inv["exited_by_itself"], "result": inv["result_kind"]})
proxy = [json.loads(l) for l in open(os.path.join(raw, "proxy.jsonl")) if l.strip()]
def op(r):
    o = r["operation"]
    if r["service"] == "route53":  # restXml: the proxy names it by method and path
        m, _, p = o.partition(" ")
        o = ("ChangeResourceRecordSets" if m == "POST" and "/rrset" in p else "ListResourceRecordSets" if "/rrset" in p
             else "GetChange" if "/change/" in p else o)
    return f"{r['service']} {o}"
by_op = {}
for r in proxy:
    by_op[op(r)] = by_op.get(op(r), 0) + 1
# Time in AWS calls as the proxy saw them (arrival to the answer's start; moto and the proxy hop).
iv = sorted((r["t"], r["t"] + r["ms"] / 1000) for r in proxy)
proxy_s, cur = 0.0, None
for a, b in iv:
    if cur and a <= cur[1]:
        cur = (cur[0], max(cur[1], b))
    else:
        if cur:
            proxy_s += cur[1] - cur[0]
        cur = (a, b)
if cur:
    proxy_s += cur[1] - cur[0]
last = json.load(open(base + ".response.json"))
handle = sum(r["handle_s"] for r in release)
res["release_run"] = {"invocations": release, "requests": len(proxy), "by_op": dict(sorted(by_op.items())),
                      "handle_s": handle, "in_aws_by_proxy_s": proxy_s, "outside_aws_s": handle - proxy_s,
                      "peak_rss_kb": max(r["peak_rss_kb"] for r in release),
                      "headline": last.get("headline")}
runs = {}
for p in sorted(glob.glob(os.path.join(raw, "run-*.json"))):
    runs[os.path.basename(p)[4:-5]] = json.load(open(p))
res["runs"] = runs
demo = [v for k, v in runs.items() if k.startswith("demo-")]
def med(key):
    xs = [d[key] for d in demo]
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}
res["overhead"] = {k: med(k) for k in ("invocations_wall_s", "aws_s", "engine_aws_s", "step_aws_s", "outside_aws_s",
                                       "data_checks_s", "in_process_s", "calls", "engine_calls", "step_calls",
                                       "invocation_count", "journal_saves")}
json.dump(res, open(dst, "w"), indent=2, sort_keys=True)

mb = lambda b: f"{b / 1e6:.2f} MB" if b else "n/a"
print(f"\nfailover-orchestrator ({facts.get('GIT_COMMIT')}, bench binary {facts.get('PROFILE')}); raw: {raw}")
for arch in ("arm64", "x86_64"):
    z = res[arch]
    if z:
        print(f"  zip {arch}: {mb(z['zip_bytes'])} (bootstrap {mb(z['bootstrap_bytes'])})")
c = res["coldstart"]
print(f"  start -> ready: median {c['ready_ms_median']:.1f} ms, p90 {c['ready_ms_p90']:.1f} ms ({c['runs']} runs); RSS at ready {c['rss_at_ready_kb_median'] / 1024:.1f} MB")
rr = res["release_run"]
print(f"  release run of region-failover: {len(rr['invocations'])} invocation(s), "
      f"event->answer {', '.join('%.2f s' % r['handle_s'] for r in rr['invocations'])}; peak RSS {rr['peak_rss_kb'] / 1024:.1f} MB; "
      f"{rr['requests']} requests; in AWS calls (proxy) {rr['in_aws_by_proxy_s']:.3f} s, outside {rr['outside_aws_s']:.3f} s")
o = res["overhead"]
m = lambda k: f"{o[k]['median']:.3f} s ({o[k]['min']:.3f}-{o[k]['max']:.3f})"
print(f"  demo execute, in-process, median of {len(demo)}: wall {m('invocations_wall_s')}, in AWS calls {m('aws_s')}, "
      f"outside {m('outside_aws_s')} = data checks {m('data_checks_s')} + the rest {m('in_process_s')}")
print("  run                       acting wall  critical path  expected/sequential RTO  invocations  calls  outside AWS")
for k, d in runs.items():
    print(f"  {k:<25} {d['acting_wall_s']:>9.2f} s  {d['critical_path_s']:>11.2f} s  {d['expected_rto_s'] / 60:>8.0f} / {d['sequential_rto_s'] / 60:<4.0f} min"
          f"  {d['invocation_count']:>11}  {d['calls']:>5}  {d['outside_aws_s']:>8.3f} s")
for k in ("barrier-held", "barrier-control"):
    if k in runs and runs[k]["branch_a"]:
        b = runs[k]["branch_a"]
        print(f"  {k}: promote -> secret -> dns took {b['span_s']:.2f} s; {b['held_calls_during']} held calls ({b['held_s_during']:.2f} s) in that span")
print(f"\nresults: {dst}")
EOF
