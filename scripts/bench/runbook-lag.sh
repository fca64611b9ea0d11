#!/usr/bin/env bash
# The runbook way of replication-lag-check's checks (seed 003: each alarm's metric looked at by
# hand), for the comparison in docs/PERFORMANCE.md: one aws CLI call per source's snapshots and
# per metric of each pair and rule, against the emulator lag.sh seeded (AWS_ENDPOINT_URL). It
# only reads: it decides nothing, keeps no state and writes no canary.
#   runbook-lag.sh COMPONENTS PAIRS RULES  -> prints calls and seconds as JSON
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
aws="$root/.tools/awscli/bin/aws"
c=$1; p=$2; r=$3
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
end=$(date -u +%Y-%m-%dT%H:%M:%SZ); start=$(date -u -d '-15 min' +%Y-%m-%dT%H:%M:%SZ)
calls=0; t0=$(date +%s.%N)
for i in $(seq 0 $((c - 1))); do
  "$aws" --endpoint-url "$AWS_ENDPOINT_URL" rds describe-db-snapshots --db-instance-identifier "lag-db-$i" \
    --query 'DBSnapshots[].SnapshotCreateTime' --output text >/dev/null
  calls=$((calls + 1))
done
for i in $(seq 0 $((p - 1))); do
  for m in ReplicationLatency OperationsPendingReplication BytesPendingReplication OperationsFailedReplication; do
    "$aws" --endpoint-url "$AWS_ENDPOINT_URL" cloudwatch get-metric-statistics --namespace AWS/S3 --metric-name "$m" \
      --dimensions "Name=SourceBucket,Value=lag-src-$i" "Name=DestinationBucket,Value=lag-dst-$i" Name=RuleId,Value=to-dr \
      --start-time "$start" --end-time "$end" --period 60 --statistics Maximum >/dev/null
    calls=$((calls + 1))
  done
done
for i in $(seq 0 $((r - 1))); do
  for m in "fail-$i" "total-$i"; do
    "$aws" --endpoint-url "$AWS_ENDPOINT_URL" cloudwatch get-metric-statistics --namespace Bench --metric-name "$m" \
      --start-time "$start" --end-time "$end" --period 60 --statistics Sum >/dev/null
    calls=$((calls + 1))
  done
done
secs=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
echo "{\"calls\": $calls, \"seconds\": $secs}"
