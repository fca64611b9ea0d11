#!/usr/bin/env bash
# docs/RELIABILITY.md from the fault-injection suite (tests/tests/faults.rs): runs it in full mode
# (the 20% scenarios too) through scripts/fault_proxy.py, collects the figures every scenario
# records (requests, faults injected, invocations, outcomes, emails), and writes the document.
# Not part of `make test`, which runs the quick part of the same suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/tools.sh emulator
scripts/tools.sh databases
mkdir -p target
figures="target/reliability.jsonl"
: >"$figures"
start=$(date +%s)
LIFEBOAT_FAULTS=full LIFEBOAT_RELIABILITY_OUT="$root/$figures" \
  cargo test -p lifeboat-tests --test integration --locked -- faults:: fault_proxy:: \
  2>&1 | tee target/reliability.log
seconds=$(( $(date +%s) - start ))
.tools/moto/bin/python - "$figures" "$seconds" "$(git rev-parse --short HEAD)" "$(nproc)" target/reliability.log <<'PY' >docs/RELIABILITY.md
import json, re, sys, datetime
path, seconds, commit, cores, log = sys.argv[1:6]
rows = [json.loads(l) for l in open(path) if l.strip()]
# Tests marked #[ignore = "defect: ..."]: defects the suite found and shows, not yet fixed.
defects = sorted(set(re.findall(r"^test (\S+) \.\.\. ignored, defect: (.*)$", open(log).read(), re.M)))
rows.sort(key=lambda r: r["scenario"])
tot = lambda k: sum(r[k] for r in rows)
print("# Reliability under faults\n")
print("Produced by `scripts/reliability.sh` (do not edit by hand): the fault-injection suite")
print("(`tests/tests/faults.rs`) in full mode, the functions running through")
print("`scripts/fault_proxy.py` — a test stand-in that injects AWS faults in front of the pinned")
print("moto emulator: 500s, 503s and each service's throttling error in its own wire shape, and")
print("connection resets, either *before* forwarding (AWS never saw the call) or *after* (the call")
print("happened, its answer was lost, the SDK retried). `make test` runs the quick part (5%).")
print("failover-orchestrator talks through `AsAws` (tests/src/faults.rs) in front of the proxy: where")
print("moto accepts a repeated write that AWS refuses, the retry gets AWS's answer (a second")
print("PromoteReadReplica: InvalidDBInstanceState \"DB Instance is not a read replica.\"; a second")
print("CreateDBInstanceReadReplica of one id: DBInstanceAlreadyExists).\n")
print(f"Run {datetime.date.today()} at commit {commit}, {cores} cores, {seconds} s for the suite.\n")
print(f"**{len(rows)} scenarios, {tot('invocations')} invocations, {tot('requests')} AWS requests, "
      f"{tot('faults')} faults injected ({tot('faults_after_forwarding')} after forwarding); "
      f"{tot('answered')} invocations answered with a report, {tot('errors')} ended in an error "
      f"(each with its FAILED email unless SNS itself was faulted), 0 silent.**\n")
print("| Scenario | Requests | Faults (after) | Invocations | Answered | Errors | Emails | Checked |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    print(f"| {r['scenario']} | {r['requests']} | {r['faults']} ({r['faults_after_forwarding']}) | "
          f"{r['invocations']} | {r['answered']} | {r['errors']} | {r['emails']} | {r['verdict']} |")
print("""
What every scenario checks (the test fails otherwise):

- **Accounted for**: every invocation answers with a report (finished, in progress, or skipped
  with its reason), or fails with an error that a FAILED email explains — one email per run, not
  one per retry.
- **Safe**: no deletion without proof, no second snapshot or restore for one period or run, no
  temporary database left running after the janitor. For snapshot-export this is checked by
  convergence: after the faulty runs, one clean run must reach exactly the state the same runs
  reach on a world without faults (snapshots in both regions, export tasks, every object and
  manifest in the backup bucket). A deletion the fault-free runs would not make cannot be undone,
  so it would show as a difference.
- **No false verdict**: a sound backup that could not be verified because of a fault is
  INCONCLUSIVE and stays due, never FAILED.

Lost answers with their exact outcome (`snapshot_export_lost_answers_each_end_as_they_should`,
`restore_verification_lost_answers_on_lease_journal_and_status`):

| Lost answer of | Outcome |
|---|---|
| the run lease (PutObject If-None-Match) | the retry gets 412, the lease is recognised as this invocation's own: the run proceeds |
| a journal or status save (PutObject If-Match) | the retry gets 412, the stored object is this run's own write: the run proceeds |
| CreateDBSnapshot | the retry gets DBSnapshotAlreadyExists: "already done", one snapshot, and it still gets its data fingerprint |
| DeleteDBSnapshot | the retry gets DBSnapshotNotFound: "already done"; the manifest says deleted |
| the deletion intent, a manifest (PutObject) | rewritten by the retry; every intent settled |
| SNS Publish | the email arrives twice: SNS standard topics have no de-duplication and email subscriptions cannot use FIFO topics, so Lifeboat sends at least once rather than at most once |

failover-orchestrator, each write refused once before AWS saw it, then carried out with its answer
lost, so the SDK's third attempt meets its own earlier write (`failover_execute_lost_answers`,
`failover_drill_faults`, `failover_restores_lost_answers`), compared with a fault-free execute's
production (the DB record, the secret's host, the backup target, every instance):

| Lost answer of | Outcome |
|---|---|
| PromoteReadReplica | the retry hears "DB Instance is not a read replica." (AWS's answer): done, not failed; one promotion |
| PutSecretValue | the retry carries the same client token and value: no second version |
| ChangeResourceRecordSets (UPSERT), PutParameter (Overwrite) | the same value written again |
| the fence's AddTagsToResource | the same tag again |
| the journal's creation and saves | 412 on the retry, the stored journal is this run's own: the run goes on |
| CreateDBInstanceReadReplica, RestoreDBInstanceFromDBSnapshot, CreateReplicationGroup | the retry is refused as existing; the resource carries this run's tag and is adopted |
| a drill's DeleteDBInstance, DeleteSecret, DeleteParameter, record DELETE | not found on the retry: gone |

An execute stopped after every round (`failover_stop_at_every_boundary`: the journal save after
each round refused on every attempt, before S3 stored it or after) is finished by the next
invocations: a round whose journal was lost is done again (its writes recognise themselves),
no step is undone, production ends as after an uninterrupted execute.

Known limits: when S3 itself is down, a retried failure cannot see that its FAILED email was
already sent, and each retry emails again (better twice than never). A run that dies holding its
lease (S3 failing mid-run) blocks the next trigger until the lease expires (16 minutes).
""")
if defects:
    print("Defects the suite shows (tests marked `#[ignore = \"defect: ...\"]`, run with `--ignored`;")
    print("each fails until the function is fixed):\n")
    for name, what in defects:
        print(f"- `{name.split('::')[-1]}`: {what}")
PY
echo "docs/RELIABILITY.md written (${seconds}s)"
