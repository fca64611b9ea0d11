#!/usr/bin/env bash
# `make package`: `sam build` of infra/template.yaml with cargo-lambda (arm64, provided.al2023),
# offline, into target/sam. Deploy with `sam deploy --guided -t target/sam/template.yaml`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/tools.sh lambda
scripts/tools.sh checks
export PATH="$root/.tools/lambda/bin:$root/.tools/sam/bin:$PATH"
export SAM_CLI_TELEMETRY=0
sam build -t infra/template.yaml --build-dir target/sam --cache-dir target/sam-cache "$@"
for f in target/sam/*/bootstrap; do
  [ -f "$f" ] && printf '%s: %s bytes\n' "$f" "$(stat -c %s "$f")"
done
