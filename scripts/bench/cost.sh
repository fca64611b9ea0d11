#!/usr/bin/env bash
# cost-anomaly's S3 breakdown figures for docs/PERFORMANCE.md (a benchmark, not a test: nothing
# fails when a target is missed). In a fresh emulator (scripts/local-aws.sh):
#   1. For each size in SIZES: an S3 Inventory report of a versioned backup bucket of that many
#      objects, generated as AWS writes one (CSV gzip, data files of 100,000 rows, manifest.json),
#      uploaded, then read by the release cost-bench binary through
#      cost_anomaly::s3_objects::inventory, under /usr/bin/time -v: seconds, CPU, peak RSS (its
#      own VmHWM and time's), rows, groups, totals -> target/bench/cost/inventory-<N>.json.
#   2. For each size in RUNBOOK_SIZES, the same breakdown three ways over the same objects,
#      really put into an emulator bucket (cost-bench seed, sizes capped at 2 KiB so the
#      emulator holds them): the inventory report of exactly those objects, cost-anomaly's
#      ListObjectsV2 listing, and the runbook way (scripts/bench/runbook-s3-breakdown.sh:
#      `aws s3 ls --recursive | awk` and `aws s3api list-objects-v2 --query ... | awk`), each
#      timed, their group/class tallies compared, the LIST requests counted in the emulator's
#      access log.
# Summary: target/bench/cost/summary.json.
#
#   scripts/bench/cost.sh [SIZES] [RUNBOOK_SIZES]   (default "100000 1000000" and "10000 50000")
#
# Seeding real objects is the emulator's cost, not the runbook's: moto takes about 190 PutObject
# a second here whatever the client's concurrency, and each of its ListObjectsV2 pages sorts the
# whole bucket, so the runbook way at 1,000,000 objects would take hours in moto (see
# docs/PERFORMANCE.md). LIFEBOAT_BENCH_PROFILE=debug uses the debug build (wall times and memory
# then mean little).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
sizes=${1:-"100000 1000000"}
small=${2:-"10000 50000"}
state="$root/target/bench/cost-state"
out="$root/target/bench/cost"
rm -rf "$state" "$out"; mkdir -p "$state" "$out"
# shellcheck source=scripts/local-aws.sh
source scripts/local-aws.sh "$state"
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
scripts/tools.sh bench >/dev/null
profile=${LIFEBOAT_BENCH_PROFILE:-release}
if [ "$profile" = debug ]; then
  cargo build -q -p lifeboat-tests --bin cost-bench
else
  cargo build -q --release -p lifeboat-tests --bin cost-bench
fi
bin="$root/target/$profile/cost-bench"
today=$(date -u +%F)
log() { printf '[bench cost] %s\n' "$*" >&2; }
# ListObjectsV2 requests on a bucket so far, from the emulator's access log.
lists() { grep -cE "GET /$1/?\\?[^ ]*list-type=2" "$state/moto.log" || true; }

# 1. The inventory way at each size.
for n in $sizes; do
  log "inventory report of $n objects (versioned): generate and upload"
  "$bin" generate --objects "$n" --versions --today "$today" --dir "$state/report-$n" \
    --bucket "bench-inventory-$n" --source lifeboat-backups >"$out/generate-$n.json"
  cat "$out/generate-$n.json" >&2
  rm -rf "$state/report-$n"
  log "inventory report of $n objects: read"
  /usr/bin/time -v -o "$out/inventory-$n.time" \
    "$bin" read --bucket "bench-inventory-$n" --source lifeboat-backups >"$out/inventory-$n.json"
done

# 2. The same objects three ways, at each size in RUNBOOK_SIZES.
for n in $small; do
  src="bench-src-$n"
  log "$n objects put into bucket $src (sizes <= 2 KiB)"
  "$bin" seed --objects "$n" --max-size 2048 --today "$today" --bucket "$src" >"$out/seed-$n.json"
  cat "$out/seed-$n.json" >&2
  "$bin" generate --objects "$n" --max-size 2048 --today "$today" --dir "$state/report-same-$n" \
    --bucket "bench-inventory-same-$n" --source "$src" >"$out/generate-same-$n.json"
  log "the same $n: inventory"
  /usr/bin/time -v -o "$out/same-inventory-$n.time" \
    "$bin" read --bucket "bench-inventory-same-$n" --source "$src" >"$out/same-inventory-$n.json"
  log "the same $n: cost-anomaly's listing"
  before=$(lists "$src")
  /usr/bin/time -v -o "$out/same-listing-$n.time" "$bin" list --bucket "$src" >"$out/same-listing-$n.json"
  echo "$(($(lists "$src") - before))" >"$out/same-listing-$n.lists"
  log "the same $n: the runbook way"
  before=$(lists "$src")
  scripts/bench/runbook-s3-breakdown.sh "$src" "$out/runbook-$n" >"$out/runbook-$n.json"
  echo "$(($(lists "$src") - before))" >"$out/runbook-$n.lists"
  cat "$out/runbook-$n.json" >&2
done

python3 - "$out" "$sizes" "$small" <<'EOF' | tee "$out/summary.json"
import json, re, sys
out, sizes, small = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
load = lambda n: json.load(open(f"{out}/{n}.json"))
def time_rss(n):
    t = open(f"{out}/{n}.time").read()
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
def flat(b):
    return {(g, c): (t["objects"], t["bytes"]) for g, cs in b.items() for c, t in cs.items()}
def tsv(path, cols):
    rows = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        rows[tuple(f[:cols])] = (int(f[cols]), int(f[cols + 1]))
    return rows
summary = {"inventory": {}, "same_objects": {}}
for n in sizes:
    r, g = load(f"inventory-{n}"), load(f"generate-{n}")
    r.pop("breakdown")
    r["time_v_peak_rss_kb"] = time_rss(f"inventory-{n}")
    r["report"] = g
    summary["inventory"][n] = r
for n in small:
    inv, lst, rb = load(f"same-inventory-{n}"), load(f"same-listing-{n}"), load(f"runbook-{n}")
    ways = {"inventory": flat(inv["breakdown"]), "listing": flat(lst["breakdown"]),
            "runbook s3api": tsv(f"{out}/runbook-{n}/runbook-s3api.tsv", 2)}
    by_group = {}
    for (g, _), (k, b) in ways["inventory"].items():
        k0, b0 = by_group.get((g,), (0, 0))
        by_group[(g,)] = (k0 + k, b0 + b)
    agree = {w: f == ways["inventory"] for w, f in ways.items() if w != "inventory"}
    agree["runbook ls (by group only)"] = tsv(f"{out}/runbook-{n}/runbook-ls.tsv", 1) == by_group
    for r, name in ((inv, f"same-inventory-{n}"), (lst, f"same-listing-{n}")):
        r.pop("breakdown")
        r["time_v_peak_rss_kb"] = time_rss(name)
    lst["list_requests_in_emulator_log"] = int(open(f"{out}/same-listing-{n}.lists").read())
    rb["list_requests_in_emulator_log_both_pipelines"] = int(open(f"{out}/runbook-{n}.lists").read())
    summary["same_objects"][n] = {
        "seed": load(f"seed-{n}"), "inventory": inv, "listing": lst, "runbook": rb,
        "tallies_agree_with_inventory": agree,
    }
print(json.dumps(summary, indent=1))
EOF
