#!/usr/bin/env bash
# Validates the SAM template offline: cfn-lint, `sam validate --lint`, checkov, and Lifeboat's
# own IAM invariants (below).
# No AWS account, credentials or network are needed once the tools are installed
# (scripts/tools.sh checks, which this script runs first: a no-op when they are present).
#
#   scripts/check-template.sh [TEMPLATE]     default: infra/template.yaml
#
# Every tool runs even when an earlier one fails; one summary line per tool at the end.
# Exit status: 0 when all four pass, 1 otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
template=${1:-infra/template.yaml}
[ -f "$template" ] || { echo "check-template: no template at $template" >&2; exit 2; }

scripts/tools.sh checks

checks="$root/.tools/checks/bin"
sam="$root/.tools/sam/bin/sam"

# Offline. sam validate --lint only lints (no translation through the AWS API), but the CLI
# still wants a region and looks for credentials: give it dummy ones and no profile, and
# keep it from the instance metadata endpoint and from telemetry.
export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL
# checkov otherwise downloads guideline mappings from Prisma Cloud on every run.
export BC_SKIP_MAPPING=TRUE

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
summary=()
failed=0
t_all=$EPOCHREALTIME

elapsed() { # START -> "1.2s"
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'
}

# run NAME COMMAND...: runs the tool with its output shown, keeps it in $out/NAME.
run() {
  local name=$1 rc=0
  shift
  echo "== $name: $*"
  "$@" >"$out/$name" 2>&1 || rc=$?
  cat "$out/$name"
  return "$rc"
}

# cfn-lint: any error, warning or informational finding fails.
t=$EPOCHREALTIME
if run cfn-lint "$checks/cfn-lint" "$template"; then
  summary+=("cfn-lint      PASS  no findings ($(elapsed "$t"))")
else
  n=$(grep -cE '^[EWI][0-9]{4} ' "$out/cfn-lint" || true)
  summary+=("cfn-lint      FAIL  $n finding(s) ($(elapsed "$t"))")
  failed=1
fi

# sam validate --lint: SAM CLI's own cfn-lint run, with the SAM transform as the CLI sees it.
t=$EPOCHREALTIME
if run sam-validate "$sam" validate --lint -t "$template" --region us-east-1; then
  summary+=("sam validate  PASS  valid SAM template ($(elapsed "$t"))")
else
  summary+=("sam validate  FAIL  see above ($(elapsed "$t"))")
  failed=1
fi

# checkov: the cloudformation framework also covers AWS::Serverless::* resources and merges
# Globals (its "serverless" framework is the Serverless Framework's serverless.yml, not SAM).
# Skips live in each resource's Metadata (checkov: skip: id + comment).
t=$EPOCHREALTIME
rc=0
run checkov "$checks/checkov" -f "$template" --framework cloudformation --quiet --compact \
  --skip-download || rc=$?
counts=$(grep -Eo 'Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' "$out/checkov" | head -n1 || true)
passed=$(sed -nE 's/.*Passed checks: ([0-9]+).*/\1/p' <<<"$counts")
if [ "$rc" -eq 0 ] && [ "${passed:-0}" -gt 0 ]; then
  summary+=("checkov       PASS  ${counts} ($(elapsed "$t"))")
else
  # A template checkov cannot parse yields no checks at all: that is a failure too.
  summary+=("checkov       FAIL  ${counts:-no checks ran (unparsable template?)} ($(elapsed "$t"))")
  failed=1
fi

# Lifeboat's own IAM invariants (issue 15), which the three tools cannot know: deletions only
# of snapshots tagged lifeboat:managed=true; tags only with the keys the code writes (and
# restore-verification's only on lifeboat-verify-*); every KMS use through its service
# (kms:ViaService) and grants only for AWS resources; no s3:GetBucketLocation; restored caches
# encrypted in transit and at rest; each function's report-bucket keys under its own prefixes;
# s3:ListBucket wherever a key that may be absent is read (else 403, not 404); the
# restore-testing rule on RestoreTestingPlanArn's jobs only; LIFEBOAT_FINGERPRINTS "on" or
# "off: <reason>"; failover-orchestrator deletes only its drill copies (a lifeboat-drill name
# and aws:ResourceTag/lifeboat:purpose = failover-drill), sets lifeboat:purpose only on such
# names, passes no role, and starts only its own run loop, whose ARN (built from the state
# machine's Name to avoid a cycle) matches LIFEBOAT_STATE_MACHINE_ARN; cost-anomaly changes
# nothing in the account (every action a read, but for the report bucket's own keys, the report
# topic and the failure destination), grants "*" only to listings and metrics, and Cost
# Explorer only in a policy that exists when CostExplorerEnabled is "true". Parsed with
# cfn-lint's decoder (intrinsic functions as data).
t=$EPOCHREALTIME
if run invariants "$checks/python" - "$template" <<'PYEOF'
"""Security invariants of the template's IAM (issue 15), checked offline."""
import sys
from cfnlint.decode import decode

path = sys.argv[1]
t, problems = decode(path)
if problems:
    print(f"cannot read {path}: {problems[0]}")
    sys.exit(2)
res = t.get("Resources", {})
FUNCTIONS = {
    "SnapshotExportRole": "snapshot-export",
    "RestoreVerificationRole": "restore-verification",
    "ReplicationLagCheckRole": "replication-lag-check",
    "FailoverOrchestratorRole": "failover-orchestrator",
    "CostAnomalyRole": "cost-anomaly",
}
# Report-bucket keys a function owns besides reports/<fn>/, state/<fn>/ and locks/<fn>*.json.
OWN_KEYS = {"cost-anomaly": ("cost/history/",)}
# cost-anomaly reads; the only other actions it may have (report bucket, topic, failure
# destination, logs) are checked on their resources below.
COST_READS = ("rds:Describe", "elasticache:Describe", "cloudwatch:GetMetricData", "ce:GetCostAndUsage",
              "backup:ListRecoveryPointsByBackupVault", "s3:List", "s3:Get")
# Actions that may be granted on "*" (no resource-level permissions, or listings without an id).
STAR_OK = ("rds:Describe", "elasticache:Describe", "cloudwatch:GetMetricData", "ce:GetCostAndUsage")
# failover-orchestrator's run loop: the role and the function name it by this ARN, not by
# reference (the state machine invokes the function: a reference would be a cycle).
LOOP_NAME = "${AWS::StackName}-failover-orchestrator"
LOOP_ARN = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + LOOP_NAME
DRILL_DELETES = ("rds:DeleteDBInstance", "elasticache:DeleteReplicationGroup", "secretsmanager:DeleteSecret",
                 "ssm:DeleteParameter")
failures = []


def fail(role, sid, why):
    failures.append(f"{role} {sid or '(no Sid)'}: {why}")


def refs(v):
    """The parameters and resources an expression refers to."""
    if isinstance(v, dict):
        if "Ref" in v and isinstance(v["Ref"], str):
            return [v["Ref"]]
        return [r for x in v.values() for r in refs(x)]
    if isinstance(v, list):
        return [r for x in v for r in refs(x)]
    return []


def text(v):
    """A resource as text: Fn::Sub's string, ${Ref}, ${X.Arn}; lists flattened. A variable of
    Fn::Sub's list form that refers to one parameter is written ${Parameter}: a piece of it
    (the bucket or the path of an s3:// location), so that a location's listing and its reads
    name the same bucket."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for i in v for x in text(i)]
    if isinstance(v, dict):
        if "Fn::Sub" in v:
            s = v["Fn::Sub"]
            if not isinstance(s, list):
                return [s]
            out = s[0]
            for name, expr in (s[1] if len(s) > 1 else {}).items():
                r = refs(expr)
                out = out.replace("${%s}" % name, "${%s}" % r[0] if len(set(r)) == 1 else "<%s>" % name)
            return [out]
        if "Ref" in v:
            return ["${%s}" % v["Ref"]]
        if "Fn::GetAtt" in v:
            g = v["Fn::GetAtt"]
            return ["${%s}" % (".".join(g) if isinstance(g, list) else g)]
        return ["<%s>" % next(iter(v))]
    return [str(v)]


def statements(doc):
    for s in doc.get("Statement", []):
        if isinstance(s, dict) and "Fn::If" in s:
            s = s["Fn::If"][1]
        if isinstance(s, dict) and "Ref" not in s:
            yield s


roles = {name: [] for name in FUNCTIONS}
# The Condition of the AWS::IAM::Policy a statement is in (None: the role's own policies).
policy_condition = {}
for name, r in res.items():
    props = r.get("Properties", {})
    if r.get("Type") == "AWS::IAM::Role" and name in roles:
        for p in props.get("Policies", []):
            roles[name] += list(statements(p["PolicyDocument"]))
    if r.get("Type") == "AWS::IAM::Policy":
        for ref in props.get("Roles", []):
            target = ref.get("Ref") if isinstance(ref, dict) else ref
            if target in roles:
                for st in statements(props["PolicyDocument"]):
                    policy_condition[id(st)] = r.get("Condition")
                    roles[target].append(st)

for role, stmts in roles.items():
    fn = FUNCTIONS[role]
    lists, reads = set(), {}
    for s in stmts:
        if s.get("Effect") != "Allow":
            continue
        sid = s.get("Sid")
        acts = s.get("Action")
        acts = [acts] if isinstance(acts, str) else list(acts)
        rs = text(s.get("Resource", []))
        cond = s.get("Condition", {}) or {}
        for a in acts:
            if a in ("rds:DeleteDBSnapshot", "rds:DeleteDBClusterSnapshot", "elasticache:DeleteSnapshot"):
                if cond.get("StringEquals", {}).get("aws:ResourceTag/lifeboat:managed") != "true":
                    fail(role, sid, f"{a} without aws:ResourceTag/lifeboat:managed = true (the deletion proof's rule)")
            if a in ("rds:AddTagsToResource", "elasticache:AddTagsToResource"):
                keys = cond.get("ForAllValues:StringEquals", {}).get("aws:TagKeys")
                if not keys or any("*" in k for k in keys):
                    fail(role, sid, f"{a} without ForAllValues:StringEquals aws:TagKeys naming the keys written")
                if role == "RestoreVerificationRole":
                    for r in rs:
                        if ":lifeboat-verify-" not in r or ":snapshot:" in r or "cluster-snapshot:" in r:
                            fail(role, sid, f"{a} on {r}: only lifeboat-verify-* restores may be tagged")
            if a == "kms:CreateGrant":
                if cond.get("Bool", {}).get("kms:GrantIsForAWSResource") != "true":
                    fail(role, sid, "kms:CreateGrant without kms:GrantIsForAWSResource")
                if "kms:ViaService" not in cond.get("StringEquals", {}):
                    fail(role, sid, "kms:CreateGrant without kms:ViaService")
            if a.startswith(("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncrypt")):
                if "kms:ViaService" not in cond.get("StringEquals", {}):
                    fail(role, sid, f"{a} without kms:ViaService")
            if role == "FailoverOrchestratorRole":
                if a in DRILL_DELETES:
                    for r in rs:
                        if "lifeboat-drill" not in r:
                            fail(role, sid, f"{a} on {r}: only a drill's copies (named *lifeboat-drill*) may be deleted")
                    if a != "ssm:DeleteParameter" and cond.get("StringEquals", {}).get("aws:ResourceTag/lifeboat:purpose") != "failover-drill":
                        fail(role, sid, f"{a} without aws:ResourceTag/lifeboat:purpose = failover-drill")
                keys = cond.get("ForAllValues:StringEquals", {}).get("aws:TagKeys") or []
                if a.endswith(("AddTagsToResource", ":TagResource", ":CreateSecret")) and ("lifeboat:purpose" in keys or not keys):
                    for r in rs:
                        if "lifeboat-drill" not in r:
                            fail(role, sid, f"{a} may set lifeboat:purpose on {r}: only on a drill's copies (named *lifeboat-drill*), else a production resource could be made deletable")
                if a == "iam:PassRole":
                    fail(role, sid, "iam:PassRole: failover-orchestrator passes no role")
                if a.startswith("states:") and rs != [LOOP_ARN]:
                    fail(role, sid, f"{a} on {rs}: only its own run loop ({LOOP_ARN})")
            if a == "s3:GetBucketLocation":
                fail(role, sid, "s3:GetBucketLocation: no function calls it")
            if rs == ["*"] and not a.startswith(STAR_OK) and not a.startswith(("kms:", "logs:")):
                if role == "CostAnomalyRole":
                    fail(role, sid, f"{a} on \"*\": only listings and metrics ({', '.join(STAR_OK)}) may be")
            if a.startswith("ce:") and policy_condition.get(id(s)) != "CostExplorerOn":
                fail(role, sid, f"{a} outside a policy with Condition CostExplorerOn: Cost Explorer only when CostExplorerEnabled is \"true\"")
            if role == "CostAnomalyRole" and not a.startswith(COST_READS):
                own_state = a in ("s3:PutObject", "s3:DeleteObject") and all(r.startswith("${ReportBucket.Arn}/") for r in rs)
                delivery = (a == "sns:Publish" and rs == ["${ReportTopic}"]) or (a == "sqs:SendMessage" and rs == ["${DeadLetterQueue.Arn}"])
                if not (own_state or delivery or a.startswith(("logs:", "kms:"))):
                    fail(role, sid, f"{a} on {rs}: cost-anomaly changes nothing in the account (reads, and writes only its own report-bucket keys)")
            if a == "elasticache:CreateReplicationGroup" and any(":replicationgroup:" in r for r in rs):
                b = cond.get("Bool", {})
                if b.get("elasticache:TransitEncryptionEnabled") != "true" or b.get("elasticache:AtRestEncryptionEnabled") != "true":
                    fail(role, sid, "CreateReplicationGroup of a replication group not required to be encrypted in transit and at rest")
            if a.startswith("s3:"):
                for r in rs:
                    if r.startswith("${ReportBucket.Arn}/"):
                        key = r[len("${ReportBucket.Arn}/"):]
                        # locks/<function>-<name>.json: a named lease (Invocation::lease_key).
                        own = (key == "policy/policy.yaml" or f"/{fn}/" in f"/{key}" or key == f"locks/{fn}.json"
                               or key.startswith(OWN_KEYS.get(fn, ("\0",)))
                               or (key.startswith(f"locks/{fn}-") and key.endswith(".json") and "*" not in key)
                               or (a == "s3:GetObject" and key == "state/restore-verification/status.json"))
                        if not own:
                            fail(role, sid, f"{a} on report-bucket key {key}: not {fn}'s own prefix")
                    bucket = r.split("/", 1)[0]
                    if a == "s3:ListBucket" and "/" not in r and not cond:
                        lists.add(bucket)
                    if a == "s3:GetObject" and "/" in r and sid != "PolicyDocumentRead":
                        reads.setdefault(bucket, sid)
    for bucket, sid in reads.items():
        if bucket not in lists:
            fail(role, sid, f"s3:GetObject in {bucket} without s3:ListBucket on it: an absent key answers 403, not 404")

fn = res.get("RestoreVerificationFunction", {}).get("Properties", {})
rule = fn.get("Events", {}).get("RestoreTesting", {}).get("Properties", {})
plan = rule.get("Pattern", {}).get("detail", {}).get("restoreTestingPlanArn")
if plan != [{"Ref": "RestoreTestingPlanArn"}]:
    failures.append(f"RestoreVerificationFunction RestoreTesting: matches restoreTestingPlanArn {plan}, not only RestoreTestingPlanArn's jobs")
env = res.get("SnapshotExportFunction", {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
fp = env.get("LIFEBOAT_FINGERPRINTS")


def leaves(v):
    if isinstance(v, dict) and "Fn::If" in v:
        return leaves(v["Fn::If"][1]) + leaves(v["Fn::If"][2])
    return [v]


if fp is None or not all(x == "on" or (isinstance(x, str) and x.startswith("off: ")) for x in leaves(fp)):
    failures.append("SnapshotExportFunction: LIFEBOAT_FINGERPRINTS must be \"on\" or \"off: <reason>\"")

loop = res.get("FailoverOrchestratorStateMachine", {}).get("Properties", {})
if text(loop.get("Name")) != [LOOP_NAME]:
    failures.append(f"FailoverOrchestratorStateMachine: Name {text(loop.get('Name'))}, not {LOOP_NAME} (the ARN the role and the function build)")
env = res.get("FailoverOrchestratorFunction", {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
if text(env.get("LIFEBOAT_STATE_MACHINE_ARN")) != [LOOP_ARN]:
    failures.append(f"FailoverOrchestratorFunction: LIFEBOAT_STATE_MACHINE_ARN is {text(env.get('LIFEBOAT_STATE_MACHINE_ARN'))}, not {LOOP_ARN}")

for f in failures:
    print(f"FAIL {f}")
print(f"{len(failures)} invariant(s) broken" if failures else "every invariant holds")
sys.exit(1 if failures else 0)
PYEOF
then
  summary+=("invariants    PASS  $(tail -n1 "$out/invariants") ($(elapsed "$t"))")
else
  summary+=("invariants    FAIL  $(tail -n1 "$out/invariants") ($(elapsed "$t"))")
  failed=1
fi

echo
echo "== summary for $template ($(elapsed "$t_all") in all)"
printf '%s\n' "${summary[@]}"
exit "$failed"
