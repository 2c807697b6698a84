#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/presence.sh: the figures of issue #15 (presence across nodes), on
# this machine, with a Release build and a real redis-server:
#
#  1. churn (S5: `sseload --churn`, PRESENCE_CONNS loops for
#     PRESENCE_SECONDS, all in one room as S5) against one sserooms node on
#     Redis with presence off (--presence-ttl-ms 0) and on: streams
#     opened+closed per second, and the ratio on/off (target >= 0.90);
#  2. with presence on, the Redis commands the node sent for presence per
#     join or leave (Redis's INFO commandstats, eval + set + pexpire + del,
#     over the node's sserooms_redis_presence_changes_total; target <= 0.1;
#     pexpire also counts the room index script's own, an upper bound);
#  3. a presence read in a room of 100,000 members on 10 simulated nodes
#     (10 liveness keys and 10 x 10,000 in the room's hashes, 100,000 users,
#     written straight into Redis), GET /presence?room=big over one
#     keep-alive connection PRESENCE_READS times: p50, p99, max
#     (target p99 <= 2 ms; the time includes the HTTP round trip).
#
# Prints a Markdown section for bench/RESULTS.md. Usage:
#   bench/presence.sh [BUILD_DIR]      (default build/release)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/release}
CONNS=${PRESENCE_CONNS:-64}
SECONDS_RUN=${PRESENCE_SECONDS:-5}
READS=${PRESENCE_READS:-5000}
RUNS=${PRESENCE_RUNS:-3}
# shellcheck source=bench/lib/procs.sh
. "$ROOT/bench/lib/procs.sh"

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target sserooms sseload >/dev/null
SSEROOMS=$BUILD/sserooms
SSELOAD=$BUILD/bench/sseload
ulimit -n 20000 2>/dev/null || true

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

RPORT=$(free_port)
redis-server --port "$RPORT" --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
rcli() { redis-cli -p "$RPORT" "$@"; }
calls() { rcli info commandstats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\).*/\1/p" | tr -d '\r' | head -n1; }

# start_node TTL: a node on Redis; sets NODE_PORT and NODE_PID
start_node() {
  NODE_PORT=$(free_port)
  "$SSEROOMS" --port "$NODE_PORT" --redis "redis://127.0.0.1:$RPORT" --node-id "bench-$1" \
    --presence-ttl-ms "$1" --heartbeat-ms 0 --max-connections 0 --max-connections-per-addr 0 \
    --threads 1 --log-level warn >"$WORK/node-$1.log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$NODE_PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "node did not start" >&2; return 1
}
metric() { curl -s "http://127.0.0.1:$NODE_PORT/metrics" | sed -n "s/^$1 \([0-9.]*\)$/\1/p"; }
json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$2" | head -n1; }

# churn TTL RUN: one S5 run; prints cycles/s
churn() {
  start_node "$1"
  local eval0 set0 pexpire0 del0
  eval0=$(calls eval); set0=$(calls set); pexpire0=$(calls pexpire); del0=$(calls del)
  "$SSELOAD" --churn --url "http://127.0.0.1:$NODE_PORT/sse?room={room}" --conns "$CONNS" \
    --duration "$SECONDS_RUN" --json "$WORK/churn-$1-$2.json" --quiet >"$WORK/sseload-$1-$2.log" 2>&1
  sleep 0.2 # the last coalesced write (20 ms) and its reply
  CYCLES=$(json_num cycles_per_s "$WORK/churn-$1-$2.json")
  EVALS=$(( $(calls eval) - ${eval0:-0} ))
  SETS=$(( $(calls set) - ${set0:-0} ))
  PEXPIRES=$(( $(calls pexpire) - ${pexpire0:-0} ))
  DELS=$(( $(calls del) - ${del0:-0} ))
  CHANGES=$(metric sserooms_redis_presence_changes_total)
  WRITES=$(metric sserooms_redis_presence_writes_total)
  kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
}

declare -a OFF ON CMDS
for ((r = 1; r <= RUNS; r++)); do
  churn 0 "$r"; OFF+=("$CYCLES")
  churn 10000 "$r"; ON+=("$CYCLES")
  CMDS+=("$(awk -v e="$EVALS" -v s="$SETS" -v x="$PEXPIRES" -v d="$DELS" -v c="$CHANGES" \
    'BEGIN { printf "%.4f", (c > 0 ? (e + s + x + d) / c : 0) }')")
  LAST_DETAIL="eval $EVALS + set $SETS + pexpire $PEXPIRES + del $DELS for $CHANGES joins/leaves (node: $WRITES presence writes)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
OFF_M=$(median "${OFF[@]}"); ON_M=$(median "${ON[@]}"); CMD_M=$(median "${CMDS[@]}")
RATIO=$(awk -v a="$ON_M" -v b="$OFF_M" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')

# --- a presence read in a 100,000-member room on 10 simulated nodes ---------
start_node 10000
{
  for n in $(seq 0 9); do
    printf 'SET sse:room:presence:node:{sim-%d} inc%d PX 600000\r\n' "$n" "$n"
    printf 'HSET sse:room:{big}:presence sim-%d 10000:inc%d\r\n' "$n" "$n"
  done
  for u in $(seq 0 99999); do
    printf 'HSET sse:room:{big}:presence:users user%d 1\r\n' "$u"
    printf 'HSET sse:room:{big}:presence:users:sim-%d user%d 1\r\n' $((u % 10)) "$u"
  done
} | rcli --pipe >/dev/null
python3 - "$NODE_PORT" "$READS" >"$WORK/read.txt" <<'EOF'
import http.client, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
lat = []
for i in range(n + 200):
    t = time.perf_counter()
    c.request("GET", "/presence?room=big")
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    assert r.status == 200 and b'"connections":100000,"users":100000,"nodes":10' in body, body
    if i >= 200:
        lat.append(dt * 1000)
lat.sort()
print("%.3f %.3f %.3f %d" % (lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], lat[-1], len(lat)))
EOF
read -r P50 P99 PMAX NREAD <"$WORK/read.txt"

cat <<EOF
## Presence (issue #15)

\`bench/presence.sh\` ($(nproc) CPUs, Release build, redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'),
$RUNS runs, medians; $(date -u +%Y-%m-%d)). One node on one Redis, \`--threads 1\`.

| figure | value | target |
|---|---|---|
| S5 churn, presence off (\`--presence-ttl-ms 0\`) | $OFF_M cycles/s (runs: ${OFF[*]}) | |
| S5 churn, presence on | $ON_M cycles/s (runs: ${ON[*]}) | |
| on / off | $RATIO | >= 0.90 |
| Redis commands per join or leave (presence on, S5) | $CMD_M (runs: ${CMDS[*]}; last: $LAST_DETAIL) | <= 0.1 |
| GET /presence, 100,000 members on 10 simulated nodes | p50 $P50 ms, p99 $P99 ms, max $PMAX ms ($NREAD reads, one keep-alive connection, Python client) | p99 <= 2 ms |

S5: \`sseload --churn\` with $CONNS loops for ${SECONDS_RUN}s, all in one room (as S5), each opening a stream and closing it
as soon as the head arrived. Commands counted by Redis (\`INFO commandstats\`: eval + set + pexpire + del) over the node's
\`sserooms_redis_presence_changes_total\`. The read: 10 liveness keys and the room's hashes written
straight into Redis; each read is one script (HGETALL of 10 fields + HLEN) and, sent with it in one
round trip, the GETs of the liveness keys of the 10 nodes (known from the warm-up reads).
EOF
