#!/usr/bin/env bash
# The retention job done the way the runbooks do it: seed 003's ElastiCache cleanup script
# (list manual snapshots, parse the date out of the name, check for a safe copy with one aws
# CLI call, delete), rewritten for the RDS snapshots the benchmark seeds. One aws CLI process per
# call, as in the runbook. Used by scripts/bench.sh for the comparison; not a tool to run on AWS.
#
#   AWS_CLI=.../aws AWS_ENDPOINT_URL=... runbook-rds-cleanup.sh
#
# Proof before deleting (as Lifeboat's policy requires for orders-db): the DR copy in us-west-2
# is available AND the S3 export task is complete. RETENTION_DAYS defaults to 7, the policy's
# daily tier (the runbooks have no weekly/monthly tiers). Prints one DELETED/WARNING line per
# snapshot older than the cutoff.
set -uo pipefail

aws() { "${AWS_CLI:-aws}" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

RETENTION_DAYS=${RETENTION_DAYS:-7}
DB_INSTANCE=${DB_INSTANCE:-ecommerce-prod-db}
DR_REGION=${DR_REGION:-us-west-2}
CUTOFF_DATE=$(date -u -d "$RETENTION_DAYS days ago" +%Y-%m-%d)

SNAPSHOTS=$(aws rds describe-db-snapshots --db-instance-identifier "$DB_INSTANCE" --snapshot-type manual \
  --query "DBSnapshots[?starts_with(DBSnapshotIdentifier, 'lifeboat-')].DBSnapshotIdentifier" --output text)

for SNAPSHOT in $SNAPSHOTS; do
  STAMP=$(echo "$SNAPSHOT" | grep -oP '\d{8}(?=-\d{4}$)' | head -1)
  [ -n "$STAMP" ] || continue
  SNAPSHOT_DATE="${STAMP:0:4}-${STAMP:4:2}-${STAMP:6:2}"
  if [[ "$SNAPSHOT_DATE" < "$CUTOFF_DATE" ]]; then
    DR_STATUS=$(aws rds describe-db-snapshots --region "$DR_REGION" --db-snapshot-identifier "$SNAPSHOT" \
      --query 'DBSnapshots[0].Status' --output text 2>/dev/null)
    if [ "$DR_STATUS" = "available" ]; then
      EXPORT_STATUS=$(aws rds describe-export-tasks --export-task-identifier "$SNAPSHOT" \
        --query 'ExportTasks[0].Status' --output text 2>/dev/null)
    else
      EXPORT_STATUS=""
    fi
    if [ "${EXPORT_STATUS^^}" = "COMPLETE" ]; then
      if aws rds delete-db-snapshot --db-snapshot-identifier "$SNAPSHOT" >/dev/null; then
        echo "DELETED $SNAPSHOT"
      else
        echo "ERROR deleting $SNAPSHOT"
      fi
    else
      echo "WARNING: no available DR copy and complete export for $SNAPSHOT (DR: ${DR_STATUS:-none}, export: ${EXPORT_STATUS:-none}), skipping"
    fi
  fi
done
