#!/usr/bin/env bash
# Installs (or reuses) everything the demo, the tests and the template checks need.
# Idempotent: a second call with everything present does nothing but check.
#
#   scripts/tools.sh emulator   Python venv with the pinned moto server
#   scripts/tools.sh lambda     cargo-lambda (+ zig for the arm64 cross-build)
#   scripts/tools.sh checks     cfn-lint, checkov, SAM CLI
#   scripts/tools.sh bench      aws CLI (for the runbook shell-loop comparison)
#   scripts/tools.sh databases  local PostgreSQL, MariaDB, Redis running (for the restore checks)
#   scripts/tools.sh iam        the permission check's Node packages (scripts/iam/package-lock.json)
#   scripts/tools.sh all
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"

# Pinned versions: change them here and nowhere else.
MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2
ZIG_VERSION=0.13.0
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
SAM_VERSION=1.170.0
AWSCLI_VERSION=1.45.11

log() { printf '[tools] %s\n' "$*" >&2; }

python() {
  if command -v python3 >/dev/null 2>&1; then echo python3; return; fi
  log "python3 missing: installing Debian's python3 + venv"
  apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  echo python3
}

# venv NAME "pkg==ver ..." : create .tools/NAME once, install the packages when the stamp differs.
venv() {
  local name=$1 pkgs=$2 dir="$tools/$1"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$pkgs" ]; then return 0; fi
  log "installing into .tools/$name: $pkgs"
  if [ ! -x "$dir/bin/python" ]; then
    "$(python)" -m venv "$dir" 2>/dev/null || {
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$(python)" -m venv "$dir"
    }
  fi
  "$dir/bin/pip" install -q --disable-pip-version-check $pkgs
  echo "$pkgs" >"$dir/.stamp"
}

emulator() {
  # awscrt + crc32c let moto compute server-side checksums (see ARCHITECTURE.md).
  venv moto "moto[server]==$MOTO_VERSION awscrt crc32c"
}

lambda() {
  venv lambda "cargo-lambda==$CARGO_LAMBDA_VERSION ziglang==$ZIG_VERSION"
}

checks() {
  venv checks "cfn-lint==$CFN_LINT_VERSION checkov==$CHECKOV_VERSION"
  venv sam "aws-sam-cli==$SAM_VERSION"
}

# The restore checks' local servers: PostgreSQL, MariaDB and Redis, started when none answers
# (installed from Debian's packages when absent).
databases() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    command -v pg_ctlcluster >/dev/null 2>&1 || { log "installing PostgreSQL"; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  fi
  if ! mysqladmin ping -h 127.0.0.1 -u root --silent >/dev/null 2>&1; then
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || { log "installing MariaDB"; apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null; }
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do mysqladmin ping -h 127.0.0.1 -u root --silent >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    command -v redis-server >/dev/null 2>&1 || { log "installing Redis"; apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
}

# The permission check (scripts/iam/check.mjs): @cloud-copilot/iam-simulate and iam-data, yaml,
# pinned by scripts/iam/package-lock.json, installed with `npm ci` into .tools/iam and linked as
# scripts/iam/node_modules (ignored by git). Reinstalled when the lock file changes.
iam() {
  local dir="$tools/iam" lock="$root/scripts/iam/package-lock.json" stamp
  command -v npm >/dev/null 2>&1 || { log "installing Node.js and npm"; apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
  stamp=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ ! -f "$dir/.stamp" ] || [ "$(cat "$dir/.stamp")" != "$stamp" ]; then
    log "installing into .tools/iam: $(grep -o '"@cloud-copilot/iam-simulate": "[^"]*"' "$root/scripts/iam/package.json")"
    mkdir -p "$dir"
    cp "$root/scripts/iam/package.json" "$lock" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$stamp" >"$dir/.stamp"
  fi
  ln -sfn "$dir/node_modules" "$root/scripts/iam/node_modules"
}

bench() {
  venv awscli "awscli==$AWSCLI_VERSION"
}

case "${1:-all}" in
  emulator) emulator ;;
  lambda) lambda ;;
  checks) checks ;;
  bench) bench ;;
  databases) databases ;;
  iam) iam ;;
  all) emulator; lambda; checks; bench; databases; iam ;;
  *) echo "usage: $0 [emulator|lambda|checks|bench|databases|iam|all]" >&2; exit 2 ;;
esac
