#!/usr/bin/env bash
# `make test` (and .ci/run): format, lints, every test (unit + integration against the local
# emulator it starts itself), and the template checks. Installs what it needs; reuses what is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n== %s\n' "$*"; }

step "tools (pinned moto server, template checkers, local database servers)"
scripts/tools.sh emulator
scripts/tools.sh checks
scripts/tools.sh databases
scripts/tools.sh iam

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (unit, and integration against moto on loopback)"
# Every request the emulators serve is recorded for the permission check below.
rm -rf "$root/target/calls"
LIFEBOAT_CALL_LOG="$root/target/calls" cargo test --workspace --locked

step "IAM: every recorded call allowed by its role (scripts/iam/check.mjs)"
node --test scripts/iam/
node scripts/iam/check.mjs --calls "$root/target/calls"

step "template checks (cfn-lint, sam validate --lint, checkov)"
scripts/check-template.sh

echo
echo "make test: all checks passed"
