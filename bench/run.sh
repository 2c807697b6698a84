#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make bench: starts a release sserooms on a free port, opens 10,000 idle
# streams from a separate process, and reports the server's memory per
# stream and the time one broadcast takes to reach all of them.
# Usage: bench/run.sh BUILD_DIR [CONNS] [ROUNDS]
set -euo pipefail
build=${1:-build/release}
conns=${2:-10000}
rounds=${3:-5}
ulimit -n 20000 2>/dev/null || true
log=$(mktemp)
"$build/sserooms" --port 0 --heartbeat-ms 0 --max-connections-per-addr 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "server did not start"; cat "$log"; exit 1; }
echo "sserooms $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) cores, $(date -u +%F)"
echo "command: $build/bench/fanout --port $port --pid $pid --conns $conns --rounds $rounds"
"$build/bench/fanout" --port "$port" --pid "$pid" --conns "$conns" --rounds "$rounds"
