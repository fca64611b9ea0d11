#!/usr/bin/env bash
# replication-lag-check's figures for docs/PERFORMANCE.md (a benchmark, not a test): seeds
# COMPONENTS RDS components, PAIRS replicated bucket pairs and RULES metric rules in a fresh
# emulator, runs the function twice (the first check, then a quiet one) through the
# request-counting proxy, and writes target/bench/lag-<C>-<P>-<R>.json; then the same reads the
# runbook way (scripts/bench/runbook-lag.sh), into target/bench/lag-runbook-<C>-<P>-<R>.json.
#   scripts/bench/lag.sh [COMPONENTS PAIRS RULES]   (default 200 50 20)
# LIFEBOAT_BENCH_PROFILE=debug uses the debug build (no release build: cheap when the tests are
# built): requests, metric counts and costs hold, wall times do not.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
c=${1:-200}; p=${2:-50}; r=${3:-20}
state="$root/target/bench/lag-state"
rm -rf "$state"; mkdir -p "$state"
# shellcheck source=scripts/local-aws.sh
source scripts/local-aws.sh "$state"
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
profile=${LIFEBOAT_BENCH_PROFILE:-release}
if [ "$profile" = debug ]; then
  cargo build -q -p lifeboat-tests --bin lifeboat-local
else
  cargo build -q --release -p lifeboat-tests --bin lifeboat-local
fi
out="$root/target/bench/lag-$c-$p-$r.json"
# The function's EMF lines share stdout: the figures are the last line.
"$root/target/$profile/lifeboat-local" lag-bench "$c" "$p" "$r" | tail -n 1 >"$out"
echo "[bench] $out" >&2
cat "$out"
# The same checks the runbook way, on the same seeded emulator.
echo "[bench] the runbook way (an aws CLI call per source and per metric)" >&2
scripts/tools.sh bench >/dev/null
scripts/bench/runbook-lag.sh "$c" "$p" "$r" | tee "$root/target/bench/lag-runbook-$c-$p-$r.json"
