#!/usr/bin/env bash
# Validates the SAM template offline: cfn-lint, `sam validate --lint` and checkov.
# No AWS account, credentials or network are needed once the tools are installed
# (scripts/tools.sh checks, which this script runs first: a no-op when they are present).
#
#   scripts/check-template.sh [TEMPLATE]     default: infra/template.yaml
#
# Every tool runs even when an earlier one fails; one summary line per tool at the end.
# Exit status: 0 when all three pass, 1 otherwise.
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

echo
echo "== summary for $template ($(elapsed "$t_all") in all)"
printf '%s\n' "${summary[@]}"
exit "$failed"
