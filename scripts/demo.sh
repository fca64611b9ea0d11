#!/usr/bin/env bash
# `make demo`: every Lifeboat function against the local AWS emulator, with a seeded, realistic
# account, printing the report emails. Installs what it needs; reuses what is there.
#   preflight of each function (read-only; the account deliberately lacks the DR key alias the
#      policy names, which preflight names; then it is created and preflight passes)
#   snapshot-export: 1. dry run (the plan, nothing changed)  2. a real run (snapshots, copies,
#      exports, manifests with data fingerprints)  3. the schedule firing again (nothing new)
#   restore-verification: 4. restores that pass (orders-db, sessions-redis)  5. a restore that
#      fails on seeded corruption (catalog-aurora)  6. S3 integrity sweep: fail, repair, pass
#   replication-lag-check: 7. the first check  8. the canary proves replication  9. nothing
#      changed: no email  10. replication broken and a backup gone stale: the transitions, critical
#      first  11. repaired: "OK again"
#   failover-orchestrator (plan region-failover: promote the DR read replica of the orders
#      database, point the app's secret and the DB record at it, fence the old primary, check the
#      orders data on the new endpoint, move the backup target to the DR bucket), with the
#      production state (record, secret host, SSM target, instances) printed before and after
#      each: 12. preflight  13. readiness READY, then NOT READY when the replica lags 22 min
#      against RPO 15m, then READY again  14. plan (a dry run: state unchanged)  15. drill on
#      temporary copies, timed per step against its RTO, torn down (state unchanged)  16. execute
#      without its confirmation: refused; with it: the record and secret name the promoted
#      replica, the backup target is the DR bucket, the old primary is fenced  17. execute again:
#      refused (already failed over)  18. failback: the primary recreated as a replica, caught
#      up, switched back; the state as before
#   cost-anomaly (the account above, with what AWS would publish for yesterday: Aurora's billed
#      backup bytes, cache snapshot sizes, 60 days of exports and the backup buckets' S3 Inventory
#      reports and storage metrics; 28 days of history as its runs store them): 19. preflight
#      20. yesterday's cost: by component and storage class, the forecast, the savings  21. the
#      anomaly (12 manual snapshots of the orders database no retention governs, a lifecycle rule
#      that stopped matching), costed by the next morning's schedule: the anomaly first with its
#      contributors ranked in dollars, the savings with their commands  22. the schedule fires
#      again for the same day: nothing changed, no email
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.demo"
export DEMO_STATE="$state"
rm -rf "$state"; mkdir -p "$state"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

scripts/tools.sh emulator
scripts/tools.sh lambda
scripts/tools.sh databases
scripts/tools.sh iam
export PATH="$root/.tools/lambda/bin:$PATH"

# Every request the emulator serves is recorded; the permission check reads it at the end.
export LIFEBOAT_CALL_LOG="$state/calls"
# shellcheck source=scripts/local-aws.sh
source scripts/local-aws.sh "$state"
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || true
  kill "$MOTO_PID" 2>/dev/null || true
}
trap cleanup EXIT

say "Building (debug) and seeding the emulator"
cargo build -q -p snapshot-export -p restore-verification -p replication-lag-check -p failover-orchestrator -p cost-anomaly -p lifeboat-tests --bin snapshot-export --bin restore-verification --bin replication-lag-check --bin failover-orchestrator --bin cost-anomaly --bin lifeboat-local
LIFEBOAT_SHOP_SUFFIX=demo target/debug/lifeboat-local seed "$state"
set -a; source "$state/env"; set +a

port=$("$root/.tools/moto/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes --env-file "$state/env" >"$state/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 300); do
  if grep -qiE "invoke server|listening|ready" "$state/watch.log" 2>/dev/null || (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.2
done
kill -0 "$watch_pid" 2>/dev/null || { echo "cargo lambda watch did not start:"; cat "$state/watch.log"; exit 1; }

invoke() { # FUNCTION EVENT_FILE TITLE
  say "$3"
  echo "\$ cargo lambda invoke $1 --data-file $2"
  cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$2" \
    >"$state/last-response.json" 2>"$state/last-invoke.err" || {
      echo "invoke failed:"; cat "$state/last-invoke.err" "$state/last-response.json"; }
  python3 - "$state/last-response.json" <<'PY' || true
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    print(f"-> status {r['status']}, partial {r['partial']}: {r['headline']}")
except Exception:
    print(open(sys.argv[1]).read()[:2000])
PY
  echo; echo "Report email(s) received:"
  target/debug/lifeboat-local emails "$state"
}

# First deployment: preflight reads, read-only, what each function's runs will need. The demo's
# account deliberately lacks one thing its policy names: the DR-region copy key alias/lifeboat-dr
# (dr.kms_key_id), as an operator might forget it; preflight must name it, then it is created.
kms_dr() { # delete | create
  "$root/.tools/moto/bin/python" - "$1" <<'PY'
import boto3, os, sys, json
kms = boto3.client("kms", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-west-2")
saved = os.environ["DEMO_STATE"] + "/dr-key.json"
if sys.argv[1] == "delete":
    key = kms.describe_key(KeyId="alias/lifeboat-dr")["KeyMetadata"]["KeyId"]
    json.dump({"key": key}, open(saved, "w"))
    kms.delete_alias(AliasName="alias/lifeboat-dr")
    print("  deliberately left out: alias/lifeboat-dr in us-west-2 (the policy's dr.kms_key_id)")
else:
    kms.create_alias(AliasName="alias/lifeboat-dr", TargetKeyId=json.load(open(saved))["key"])
    print("  created: alias/lifeboat-dr in us-west-2")
PY
}
say "First deployment: the DR copy key the policy names is missing from the account"
kms_dr delete
invoke snapshot-export events/snapshot-export/manual-preflight.json "snapshot-export: preflight - names what is missing (dr.kms_key_id)"
invoke restore-verification events/restore-verification/manual-preflight.json "restore-verification: preflight - subnet groups, secrets, state reads, sweep buckets"
invoke replication-lag-check events/replication-lag-check/manual-preflight.json "replication-lag-check: preflight - pairs, replication rules, metrics, sources (moto has no AWS Backup API: that one check cannot conclude)"
say "The operator creates the missing key alias"
kms_dr create
invoke snapshot-export events/snapshot-export/manual-preflight.json "snapshot-export: preflight again - nothing missing"

invoke snapshot-export events/snapshot-export/manual-dry-run.json "snapshot-export: dry run - the plan, nothing changed"
invoke snapshot-export events/snapshot-export/manual-run.json "snapshot-export: the run - snapshots, DR copies, exports, manifests, retention"
# The daily schedule fires again in the same period (e.g. a duplicate delivery): nothing new.
python3 - "$root/events/snapshot-export/schedule.json" "$state/schedule-now.json" <<'PY'
import json, sys, datetime
ev = json.load(open(sys.argv[1]))
ev["time"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump(ev, open(sys.argv[2], "w"))
PY
invoke snapshot-export "$state/schedule-now.json" "snapshot-export: the schedule fires again in the same period - nothing new is created"

# A restore run outlasts one invocation on AWS (Step Functions loops Invoke -> Wait -> Invoke
# with the run id); this local loop does the same until the run reports done.
restore_loop() { # EVENT_FILE TITLE
  say "$2"
  local event="$1" i
  for i in $(seq 1 30); do
    echo "\$ cargo lambda invoke restore-verification --data-file $event"
    cargo lambda invoke restore-verification --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$event" \
      >"$state/last-response.json" 2>"$state/last-invoke.err" || { echo "invoke failed:"; cat "$state/last-invoke.err"; break; }
    local next
    next=$(python3 - "$state/last-response.json" "$state/resume.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("done"):
    print("done")
    if "headline" in r: print(f"-> status {r['status']}: {r['headline']}", file=sys.stderr)
else:
    json.dump({"action": "restore", "run_id": r["run_id"]}, open(sys.argv[2], "w"))
    print("again")
    print(f"-> in progress: {[ (j['component'], j['phase']) for j in r.get('jobs', []) ]}", file=sys.stderr)
PY
)
    [ "$next" = "done" ] && break
    event="$state/resume.json"; sleep 2
  done
  echo; echo "Report email(s) received:"
  target/debug/lifeboat-local emails "$state"
}
echo '{"action": "restore", "only": ["orders-db", "sessions-redis"]}' >"$state/restore-clean.json"
restore_loop "$state/restore-clean.json" "restore-verification: today's backups of orders-db (PostgreSQL) and sessions-redis restored, checked against their fingerprints, torn down - PASS"
say "Seeded corruption: the catalog's data no longer matches what its snapshot recorded"
target/debug/lifeboat-local damage "$state"
echo '{"action": "restore", "only": ["catalog-aurora"]}' >"$state/restore-damaged.json"
restore_loop "$state/restore-damaged.json" "restore-verification: the catalog-aurora backup restored and checked - FAIL, failing checks first"

say "S3 replication of the backup bucket to the DR bucket (a stand-in: moto replicates nothing), with one damaged copy"
"$root/.tools/moto/bin/python" scripts/replicate.py ecommerce-backups-prod-us-east-1 ecommerce-backups-prod-us-west-2 backups/ --damage 1
invoke restore-verification events/restore-verification/manual-sweep.json "restore-verification: integrity sweep finds the damaged replica copy"
invoke restore-verification events/restore-verification/manual-sweep-repair.json "restore-verification: armed repair re-copies it from the source of truth"
invoke restore-verification events/restore-verification/manual-sweep.json "restore-verification: the sweep passes again"

# replication-lag-check runs every 5 minutes and emails only when a state changes. Each check is
# a fresh schedule event (its own id: a new trigger, not a retried one).
check_event() { # OUT_FILE
  python3 - "$root/events/replication-lag-check/schedule.json" "$1" <<'PY'
import json, sys, datetime, uuid
ev = json.load(open(sys.argv[1]))
ev["id"] = str(uuid.uuid4())
ev["time"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump(ev, open(sys.argv[2], "w"))
PY
}
replicate() { "$root/.tools/moto/bin/python" scripts/replicate.py ecommerce-backups-prod-us-east-1 ecommerce-backups-prod-us-west-2 backups/ "$@"; }
check() { # TITLE
  target/debug/lifeboat-local metrics "$state" >/dev/null  # the seeded series stay recent
  check_event "$state/check.json"
  invoke replication-lag-check "$state/check.json" "$1"
}
check "replication-lag-check: the first check - every check once (the canary has nothing to measure yet)"
say "S3 replication carries the canary to the DR bucket (the stand-in)"
replicate
check "replication-lag-check: the canary arrived - replication proven end to end"
replicate
check "replication-lag-check: the schedule fires again, nothing changed - no email"
say "Replication breaks (its configuration is removed, canaries stop arriving) and the Kafka archive job stops (its two newest archives are gone: the newest is 2 h 20 min old, RPO 2 h)"
"$root/.tools/moto/bin/python" - <<'PY'
import boto3, os, json
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
b = "ecommerce-backups-prod-us-east-1"
cfg = s3.get_bucket_replication(Bucket=b)["ReplicationConfiguration"]
json.dump(cfg, open(os.environ["DEMO_STATE"] + "/replication.json", "w"), default=str)
s3.delete_bucket_replication(Bucket=b)
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b, Prefix="artifacts/kafka/")["Contents"])
for k in keys[-2:]:
    s3.delete_object(Bucket=b, Key=k)
    print(f"  deleted s3://{b}/{k}")
PY
replicate --drop lifeboat-canary/
check "replication-lag-check: replication broken, a backup stale - the transitions, critical first"
say "Repaired: the replication configuration is back, the archive job writes again, replication catches up"
"$root/.tools/moto/bin/python" - <<'PY'
import boto3, os, json, datetime
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
b = "ecommerce-backups-prod-us-east-1"
s3.put_bucket_replication(Bucket=b, ReplicationConfiguration=json.load(open(os.environ["DEMO_STATE"] + "/replication.json")))
key = "artifacts/kafka/orders-events/" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M") + ".avro.gz"
s3.put_object(Bucket=b, Key=key, Body=os.urandom(4096))
print(f"  wrote s3://{b}/{key}")
PY
replicate
check "replication-lag-check: OK again"

# failover-orchestrator: the DR runbook as the plan region-failover (infra/policy.local.yaml).
# A drill, execute or failback outlasts one invocation on AWS (the function starts its Step
# Functions loop, which resumes it with the run id every 30 s); this local loop does the same.
failover_loop() { # EVENT_FILE TITLE
  say "$2"
  local event="$1" i next
  for i in $(seq 1 40); do
    echo "\$ cargo lambda invoke failover-orchestrator --data-file $event"
    cargo lambda invoke failover-orchestrator --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$event" \
      >"$state/last-response.json" 2>"$state/last-invoke.err" || { echo "invoke failed:"; cat "$state/last-invoke.err"; break; }
    next=$(python3 - "$state/last-response.json" "$state/resume.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("done"):
    print("done")
    if "headline" in r: print(f"-> status {r['status']}: {r['headline']}", file=sys.stderr)
    else: print(f"-> {r.get('outcome')}: {r.get('note', '')}", file=sys.stderr)
else:
    json.dump({"action": "resume", "run_id": r["run_id"]}, open(sys.argv[2], "w"))
    print("again")
    print(f"-> in progress, run {r['run_id']}:", file=sys.stderr)
    for j in r.get("jobs", []):
        print(f"     {j['step']:<18} {j['phase']:<8} {j.get('detail', '')}", file=sys.stderr)
    for n in r.get("notes", []):
        print(f"     note: {n}", file=sys.stderr)
PY
)
    [ "$next" = "done" ] && break
    event="$state/resume.json"; sleep 2
  done
  echo; echo "Report email(s) received:"
  target/debug/lifeboat-local emails "$state"
}
failover_state() { # NAME TITLE: prints the production state and keeps it as NAME
  say "$2"
  target/debug/lifeboat-local failover-state "$state" | tee "$state/failover-state-$1.txt"
}
same_state() { # NAME1 NAME2
  if diff -u "$state/failover-state-$1.txt" "$state/failover-state-$2.txt" >"$state/failover-state.diff"; then
    echo "  (identical to the state $1)"
  else
    echo "  changed against the state $1:"; sed 's/^/    /' "$state/failover-state.diff"
  fi
}
fo=events/failover-orchestrator

say "failover-orchestrator: the DR read replica replicates 30 s behind"
target/debug/lifeboat-local failover-lag "$state" 30
invoke failover-orchestrator $fo/manual-preflight.json "failover-orchestrator: preflight - the plan's primary and replica, ReplicaLag, alarm, secret, zone and record, parameter and buckets"
failover_state before "failover-orchestrator: production before (the record and the app secret name the primary; backups go to the primary region's bucket)"
invoke failover-orchestrator $fo/manual-readiness.json "failover-orchestrator: readiness - READY"
say "The DR replica falls behind: 22 minutes of changes not yet replicated (RPO 15m)"
target/debug/lifeboat-local failover-lag "$state" 1320
invoke failover-orchestrator $fo/manual-readiness.json "failover-orchestrator: readiness - NOT READY (was READY): a failover now would lose 22 min against RPO 15m"
say "The replica catches up: 30 s behind again"
target/debug/lifeboat-local failover-lag "$state" 30
invoke failover-orchestrator $fo/manual-readiness.json "failover-orchestrator: readiness - READY again"
invoke failover-orchestrator $fo/manual-plan.json "failover-orchestrator: plan - each step's before and after, the expected RTO by the critical path, the data loss; nothing changed"
failover_state after-plan "failover-orchestrator: production after the plan"
same_state before after-plan
failover_loop $fo/manual-drill.json "failover-orchestrator: drill - every step for real on temporary copies, timed against its RTO, then torn down"
failover_state after-drill "failover-orchestrator: production after the drill (its temporaries removed)"
same_state before after-drill
say "failover-orchestrator: execute without its confirmation - refused before any AWS call"
echo "\$ cargo lambda invoke failover-orchestrator --data-file $fo/malformed-execute-without-confirm.json"
if cargo lambda invoke failover-orchestrator --invoke-address 127.0.0.1 --invoke-port "$port" --data-file $fo/malformed-execute-without-confirm.json \
    >"$state/last-response.json" 2>"$state/last-invoke.err"; then
  echo "NOT refused:"; cat "$state/last-response.json"
else
  echo "-> refused:"; sed 's/^/   /' "$state/last-invoke.err"
fi
failover_loop $fo/manual-execute.json "failover-orchestrator: execute, armed with {\"confirm\": \"region-failover\"} - the failover"
failover_state after-execute "failover-orchestrator: production after the failover (record and secret name the promoted replica, backups go to the DR bucket, the old primary fenced; moto leaves a promoted replica's source set, hence its 'replica of')"
same_state before after-execute
failover_loop $fo/manual-execute.json "failover-orchestrator: execute again - refused: already failed over"
say "The primary region is back: the failback recreates ecommerce-prod-db there as a replica of the DR writer; it is caught up"
target/debug/lifeboat-local failover-lag "$state" 0 us-east-1 ecommerce-prod-db
failover_loop $fo/manual-failback.json "failover-orchestrator: failback - back to the primary region, the record, secret and backup target put back"
failover_state after-failback "failover-orchestrator: production after the failback (record, secret and backup target as before; ecommerce-prod-db is the writer again, its 'replica of' moto's leftover; the fenced old primary is kept, never deleted; the DR side is recreated as a replica by hand, as the report says)"
same_state before after-failback

# cost-anomaly: what the backups above cost a day, from the bytes AWS bills; what changed and
# why; what to change to save. Its daily schedule costs the last whole UTC day.
cost_schedule() { # OUT_FILE DAYS_AHEAD: a schedule event (its own id) at 06:00 UTC, DAYS_AHEAD from today
  python3 - "$root/events/cost-anomaly/schedule.json" "$1" "$2" <<'PY'
import json, sys, datetime, uuid
ev = json.load(open(sys.argv[1]))
ev["id"] = str(uuid.uuid4())
t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=int(sys.argv[3]))
ev["time"] = t.strftime("%Y-%m-%dT06:00:00Z")
json.dump(ev, open(sys.argv[2], "w"))
PY
}
today=$(date -u +%F); tomorrow=$(date -u -d '+1 day' +%F)
say "cost-anomaly: the account above, with what AWS publishes for yesterday, and 28 days of history as earlier runs stored them"
target/debug/lifeboat-local cost-seed "$state"
invoke cost-anomaly events/cost-anomaly/manual-preflight.json "cost-anomaly: preflight - snapshot listings in both regions, the buckets' metrics, configurations and inventory reports, its history and state"
invoke cost-anomaly events/cost-anomaly/manual-cost.json "cost-anomaly: yesterday's cost - by component and storage class, the forecast, the savings (its first run reports every check once)"
say "An anomaly: someone snapshots the orders database by hand, and the backup bucket's lifecycle rule is edited so that it matches nothing"
echo "  (the emulator creates them now, with their creation times in the past: yesterday's record, taken above, does not hold them)"
target/debug/lifeboat-local cost-anomaly "$state"
echo "  (also new today: the DR copies snapshot-export made this morning - the seeded account's previous ones are 40 days old - whose transfer is billed on the day they are copied)"
cost_schedule "$state/cost-next-day.json" 1
invoke cost-anomaly "$state/cost-next-day.json" "cost-anomaly: the next morning's schedule ($tomorrow 06:00 UTC) costs today, $today - the anomaly first, its contributors ranked in dollars, the savings with the exact changes"
cost_schedule "$state/cost-next-day-again.json" 1
invoke cost-anomaly "$state/cost-next-day-again.json" "cost-anomaly: the schedule fires again ($tomorrow 06:00 UTC, another event) for $today - nothing changed since its last run: no email (the day is one history record, kept)"
python3 - "$state/last-response.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
for sec in r.get("sections", []):
    if sec.get("title") == "NOTES":
        for line in sec.get("lines", []):
            if line.startswith("history:") and "recorded" in line:
                print(f"  its answer (not emailed) says: {line}")
PY

say "Manifests written beside the backups"
"$root/.tools/moto/bin/python" - <<'PY'
import boto3, os, json
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ecommerce-backups-prod-us-east-1", Prefix="backups/").get("Contents", []) if o["Key"].endswith("manifest.json")]
for k in keys: print("  s3://ecommerce-backups-prod-us-east-1/" + k)
if keys:
    m = json.loads(s3.get_object(Bucket="ecommerce-backups-prod-us-east-1", Key=keys[-1])["Body"].read())
    print("\n" + json.dumps(m, indent=2))
PY
say "Permissions: every AWS call the functions made above, checked against their roles in infra/template.yaml"
node scripts/iam/check.mjs --calls "$state/calls" >"$state/iam-check.txt" 2>&1 && iam_ok=1 || iam_ok=0
sed -n '/^recorded calls per function/,$p' "$state/iam-check.txt"
[ "$iam_ok" = 1 ] || echo "(denials and the statements they need: $state/iam-check.txt)"
say "Done. Function logs: $state/watch.log"
