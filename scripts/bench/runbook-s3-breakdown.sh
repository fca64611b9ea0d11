#!/usr/bin/env bash
# The runbook way of cost-anomaly's S3 breakdown (seed 003's scripts: an aws CLI listing piped
# into a text tool), for the comparison in docs/PERFORMANCE.md: the objects of BUCKET grouped as
# cost-anomaly groups them (backups/<kind>/<source>, else the key's first folder, else (root)),
# against the emulator cost.sh started (AWS_ENDPOINT_URL). Two pipelines, each under
# /usr/bin/time -v:
#   ls     aws s3 ls --recursive | awk '{ $3 size, $4 key }'      objects and bytes per group.
#          `aws s3 ls` prints no storage class, so this cannot split by class.
#   s3api  aws s3api list-objects-v2 --query 'Contents[].[Key,Size,StorageClass]' --output text
#          | awk -F'\t'                                            per group and class (the
#          seed's calculate-backup-checksums.sh lists its bucket this way).
# Both read every key: one ListObjectsV2 request per 1,000 objects.
#
#   runbook-s3-breakdown.sh BUCKET OUTDIR
#     writes OUTDIR/runbook-{ls,s3api}.{tsv,time}; prints one JSON object (seconds, CPU, peak RSS
#     of the largest process in each pipeline, lines out).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export AWS_CLI="$root/.tools/awscli/bin/aws"
bucket=$1; out=$2
mkdir -p "$out"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

# cost-anomaly's group_of, in awk.
group='function group(k,  n, p, i) {
  if (k ~ /^backups\//) {
    n = split(k, p, "/")
    if (n >= 4 && p[2] != "" && p[3] != "") return "backups/" p[2] "/" p[3]
    return "backups"
  }
  i = index(k, "/")
  if (i > 1) return substr(k, 1, i - 1)
  return "(root)"
}'

# `aws s3 ls` prints "DATE TIME SIZE KEY"; like the runbooks, take $4 as the key (a key with
# spaces is cut at its first space, which keeps its group: the spaces are in the file name).
ls_pipeline="\"\$AWS_CLI\" --endpoint-url \"\$AWS_ENDPOINT_URL\" s3 ls \"s3://$bucket\" --recursive \
  | awk '$group { g = group(\$4); n[g]++; b[g] += \$3 } END { for (g in n) printf \"%s\t%d\t%.0f\n\", g, n[g], b[g] }' \
  | sort"
s3api_pipeline="\"\$AWS_CLI\" --endpoint-url \"\$AWS_ENDPOINT_URL\" s3api list-objects-v2 --bucket \"$bucket\" \
  --query 'Contents[].[Key,Size,StorageClass]' --output text \
  | awk -F'\t' '$group { k = group(\$1) \"\t\" (\$3 == \"None\" || \$3 == \"\" ? \"STANDARD\" : \$3); n[k]++; b[k] += \$2 } END { for (k in n) printf \"%s\t%d\t%.0f\n\", k, n[k], b[k] }' \
  | sort"

run() {
  local name=$1 pipeline=$2 t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$out/runbook-$name.time" bash -c "$pipeline" >"$out/runbook-$name.tsv"
  t1=$(date +%s.%N)
  python3 - "$name" "$out/runbook-$name.time" "$out/runbook-$name.tsv" "$t0" "$t1" <<'EOF'
import json, re, sys
name, tfile, tsv, t0, t1 = sys.argv[1:]
t = open(tfile).read()
get = lambda k: re.search(re.escape(k) + r": ([\d.:]+)", t).group(1)
lines = [l for l in open(tsv).read().splitlines() if l]
objects = sum(int(l.split("\t")[-2]) for l in lines)
print(json.dumps({"way": name, "seconds": round(float(t1) - float(t0), 3),
                  "cpu_seconds": round(float(get("User time (seconds)")) + float(get("System time (seconds)")), 3),
                  "peak_rss_kb": int(get("Maximum resident set size (kbytes)")),
                  "lines": len(lines), "objects": objects}))
EOF
}

ls_json=$(run ls "$ls_pipeline")
s3api_json=$(run s3api "$s3api_pipeline")
echo "{\"ls\": $ls_json, \"s3api\": $s3api_json}"
