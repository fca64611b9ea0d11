#!/usr/bin/env bash
# Starts the pinned moto server on loopback for the demo and the benchmark.
#   source scripts/local-aws.sh STATE_DIR   -> exports AWS_ENDPOINT_URL, LIFEBOAT_EMULATOR_CLOCK_FILE,
#                                              MOTO_PID; stop it with `kill $MOTO_PID`.
# moto answers RDS DescribeAccountAttributes through a stand-in in scripts/moto_server.py: the
# manual-snapshot quotas with Max 100 (AWS's default), or LIFEBOAT_EMULATOR_SNAPSHOT_QUOTA when
# that is set in the environment (e.g. 1000 for a benchmark that seeds hundreds of snapshots).
# (The integration tests start their own emulators: see tests/src/lib.rs.)
set -euo pipefail
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_state=${1:?usage: source scripts/local-aws.sh STATE_DIR}
mkdir -p "$_state"
"$_root/scripts/tools.sh" emulator
_port=$("$_root/.tools/moto/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export LIFEBOAT_EMULATOR_CLOCK_FILE="$_state/emulator-clock"
rm -f "$LIFEBOAT_EMULATOR_CLOCK_FILE"
"$_root/.tools/moto/bin/python" "$_root/scripts/moto_server.py" "$_port" >"$_state/moto.log" 2>&1 &
export MOTO_PID=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$_port"
for _ in $(seq 1 150); do
  if curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null || { echo "moto server did not start (see $_state/moto.log)" >&2; return 1 2>/dev/null || exit 1; }
echo "[local-aws] moto $(cat "$_root/.tools/moto/.stamp" | cut -d' ' -f1) on $AWS_ENDPOINT_URL (pid $MOTO_PID)" >&2
