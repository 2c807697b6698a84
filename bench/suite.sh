#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2034  # set here, read by the sourced lib/*.sh
# suite.sh (make bench): the benchmark suite of sserooms against its peers —
# Nchan (nginx), a Node.js better-sse server and the rawfan raw baseline —
# on this machine, in one run. See docs/benchmarks.md.
#
# For each scenario (S1 fan-out steps, S2 many rooms, S3 idle memory, S4
# cross-node through Redis, S5 churn; S1-seq: S1 with a sequential
# publisher, issue #14; S1-TLS, S1-H2 and handshake: TLS and HTTP/2,
# issue #12, with an ECDSA P-256 certificate made here), each server and
# each mode (`same`:
# one server thread pinned to SERVER_CPU, the tools pinned to TOOLS_CPU;
# `all`: the server's default threads, nothing pinned) it runs RUNS runs.
# A run starts the server(s) on free loopback ports, connects the sseload
# subscribers, drives ssepub, stops everything and keeps the tools' JSON in
# RESULTS_DIR/<scenario>/<server>-<mode>/run<N>/ with a meta.env saying how
# the run went (a server that died, a step that failed, fewer connections
# than asked: status=failed with the reason — never dropped). Then
# bench/lib/report.mjs takes the medians and writes RESULTS_MD (default
# bench/RESULTS.md) with the targets of issue #4 (and #12, #14 when their
# scenarios ran) at the top, and prints them. A run of some scenarios only
# keeps the other scenarios' sections of the RESULTS_MD it replaces, marked
# with the run they come from.
#
# Every size and duration is an environment variable (defaults below);
# usage: [VAR=value ...] bench/suite.sh
# e.g. the scenarios of issues #12 and #14 in one go (~40 min, see
# docs/benchmarks.md):
#   SCENARIOS="s1 s1-seq s1-tls s1-h2 s3 s5 handshake" bench/suite.sh
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)

# --- knobs (every one overridable from the environment) --------------------
KNOBS="BUILD SKIP_BUILD RUNS SERVERS S1_SERVERS HISTORY SCENARIOS MODES S1_CONNS S1_RATES S1_STEP_S
S1_PAUSE_S S1_SIZE P99_LIMIT_US SUSTAIN_P99_US S2_CONNS S2_ROOMS S2_RATE S2_SECONDS S3_CONNS
S3_ROOMS S3_SETTLE_S S3_MODES S3_SERVERS S4_CONNS S4_ROOMS S4_RATE S4_SECONDS S4_SERVERS
S5_CONNS S5_SECONDS S5_MODES S1_SEQ_SERVERS S1_SEQ_RATES S1_SEQ_MODES S1_TLS_SERVERS S1_H2_SERVERS
S1_TLS_CONNS S1_TLS_MODES H2_STREAMS HANDSHAKE_SERVERS HANDSHAKE_CONNS HANDSHAKE_SECONDS
PROFILE PROFILE_SECONDS CONNECT_TIMEOUT
SSELOAD_ARGS SSEPUB_ARGS RAWFAN_ARGS SERVER_CPU TOOLS_CPU NOFILE RESULTS_DIR RESULTS_MD"
# the knobs the caller set, for the "command" line of RESULTS.md
SET_KNOBS=
for k in $KNOBS; do
  if [ -n "${!k+x}" ]; then SET_KNOBS+="$k=${!k@Q} "; fi
done

BUILD=${BUILD:-$ROOT_DIR/build/release}
SKIP_BUILD=${SKIP_BUILD:-0}          # 1: use the binaries already in BUILD
RUNS=${RUNS:-3}                      # runs per scenario x server x mode
SERVERS=${SERVERS:-"sserooms nchan node rawfan"}
# S1 also runs sserooms with history on (HISTORY messages per room), for the
# cost of Last-Event-ID resume
HISTORY=${HISTORY:-1000}
S1_SERVERS=${S1_SERVERS:-"$SERVERS sserooms-history"}
SCENARIOS=${SCENARIOS:-"s1 s2 s3 s4 s5"}
SCENARIOS=${SCENARIOS,,}             # S1-TLS and s1-tls alike
MODES=${MODES:-"same all"}           # modes of S1 and S2
S1_CONNS=${S1_CONNS:-10000}
# one write per delivery reaches ~100,000 deliveries/s per core on this VM:
# with 10,000 subscribers the steps must start below 10 msg/s; above 500
# the steps grow by ~1.4x, so the peaks of servers that batch (sserooms,
# rawfan) are told apart by less than a factor of 2
S1_RATES=${S1_RATES:-"1,2,5,10,20,50,100,200,500,700,1000,1400,2000,2800,5000"}
S1_STEP_S=${S1_STEP_S:-3}
S1_PAUSE_S=${S1_PAUSE_S:-1}
S1_SIZE=${S1_SIZE:-100}
P99_LIMIT_US=${P99_LIMIT_US:-100000}      # a step with a higher p99 is not clean
SUSTAIN_P99_US=${SUSTAIN_P99_US:-1000000} # ... not sustained; S1 stops there
S2_CONNS=${S2_CONNS:-10000}
S2_ROOMS=${S2_ROOMS:-1000}
S2_RATE=${S2_RATE:-2000}
S2_SECONDS=${S2_SECONDS:-4}
S3_CONNS=${S3_CONNS:-15000}
S3_ROOMS=${S3_ROOMS:-1}
S3_SETTLE_S=${S3_SETTLE_S:-2}
S3_MODES=${S3_MODES:-same}
# S3 also measures idle streams over TLS and HTTP/2 (issue #12: at most
# 4 KiB of user space per TLS stream)
S3_SERVERS=${S3_SERVERS:-"$SERVERS sserooms-tls sserooms-h2"}
S4_CONNS=${S4_CONNS:-2000}
S4_ROOMS=${S4_ROOMS:-100}
S4_RATE=${S4_RATE:-500}
S4_SECONDS=${S4_SECONDS:-4}
S4_SERVERS=${S4_SERVERS:-"sserooms sserooms-redispub sserooms-cluster nchan node"}
S5_CONNS=${S5_CONNS:-64}
S5_SECONDS=${S5_SECONDS:-5}
S5_MODES=${S5_MODES:-same}
# S1-seq (issue #14): S1 with ssepub --inflight 1 (one request at a time on
# one keep-alive connection); its rates end where one answer per 1-10 ms is
# the ceiling
S1_SEQ_SERVERS=${S1_SEQ_SERVERS:-$SERVERS}
S1_SEQ_RATES=${S1_SEQ_RATES:-"10,20,30,50,100,200,300,500,700,1000"}
S1_SEQ_MODES=${S1_SEQ_MODES:-"same all"}
# S1-TLS / S1-H2 (issue #12): the S1 steps over TLS HTTP/1.1 and HTTP/2
# (H2_STREAMS streams per connection), same cores; plain sserooms runs
# beside them for the ratio. A TLS raw baseline is not built (rawfan is
# plain TCP).
S1_TLS_SERVERS=${S1_TLS_SERVERS:-"sserooms sserooms-tls sserooms-nginx-tls nchan-tls"}
S1_H2_SERVERS=${S1_H2_SERVERS:-"sserooms-h2 nchan-h2"}
S1_TLS_CONNS=${S1_TLS_CONNS:-$S1_CONNS}
S1_TLS_MODES=${S1_TLS_MODES:-same}
H2_STREAMS=${H2_STREAMS:-100}
# handshake (issue #12): TLS connections/s, full and resumed, one server
# thread on one CPU
HANDSHAKE_SERVERS=${HANDSHAKE_SERVERS:-"sserooms-tls nchan-tls"}
HANDSHAKE_CONNS=${HANDSHAKE_CONNS:-64}
HANDSHAKE_SECONDS=${HANDSHAKE_SECONDS:-5}
PROFILE=${PROFILE:-1}                # perf profile of sserooms at the S1 peak (and S1-seq's)
PROFILE_SECONDS=${PROFILE_SECONDS:-5}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-90}
SSELOAD_ARGS=${SSELOAD_ARGS:-}       # extra sseload options (e.g. --sources 8)
SSEPUB_ARGS=${SSEPUB_ARGS:-}         # extra ssepub options
RAWFAN_ARGS=${RAWFAN_ARGS:-}         # extra rawfan options (e.g. --uring)
SERVER_CPU=${SERVER_CPU:-1}
TOOLS_CPU=${TOOLS_CPU:-0}
NOFILE=${NOFILE:-20000}
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results/$STAMP}
RESULTS_MD=${RESULTS_MD:-$BENCH_DIR/RESULTS.md}

SSEROOMS_BIN=$BUILD/sserooms
SSELOAD_BIN=$BUILD/bench/sseload
SSEPUB_BIN=$BUILD/bench/ssepub
RAWFAN_BIN=$BUILD/bench/rawfan

# shellcheck source=bench/lib/procs.sh
. "$BENCH_DIR/lib/procs.sh"
# shellcheck source=bench/lib/servers.sh
. "$BENCH_DIR/lib/servers.sh"
# shellcheck source=bench/lib/scenarios.sh
. "$BENCH_DIR/lib/scenarios.sh"

say() { printf '[%s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sserooms-bench.XXXXXX")
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  rm -rf "$WORK_DIR"
  exit "$rc"
}
trap on_exit EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --- preparation --------------------------------------------------------------
ulimit -n "$NOFILE" 2>/dev/null || {
  hard=$(ulimit -Hn)
  ulimit -n "$hard"
  say "warning: ulimit -n $NOFILE refused; using the hard limit $hard"
}
if [ "$(nproc)" -lt 2 ]; then PINNING=0; say "one CPU: the same-cores runs are not pinned"; else PINNING=1; fi
command -v node >/dev/null || die "node is needed (the Node.js peer and the report)"

if [ "$SKIP_BUILD" != 1 ]; then
  say "building $BUILD (Release)"
  cmake -S "$ROOT_DIR" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target sserooms sseload ssepub rawfan >/dev/null
fi
for b in "$SSEROOMS_BIN" "$SSELOAD_BIN" "$SSEPUB_BIN"; do
  [ -x "$b" ] || die "$b is missing (build it, or set BUILD)"
done
[ -x "$RAWFAN_BIN" ] || say "warning: $RAWFAN_BIN is missing: the raw baseline runs will fail"

# the TLS servers' certificate: ECDSA P-256, self-signed for 127.0.0.1
# (the tools check no certificate), made fresh for every run
mkdir -p "$WORK_DIR/tls"
TLS_CERT=$WORK_DIR/tls/cert.pem TLS_KEY=$WORK_DIR/tls/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$TLS_KEY" -out "$TLS_CERT" -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || die "openssl could not make the certificate"

node_peer_install() {
  local dir=$BENCH_DIR/peers/node want
  want=$(sha256sum "$dir/package.json" "$dir/package-lock.json" | awk '{print $1}' | tr '\n' ' ')
  if [ -f "$dir/node_modules/.bench-stamp" ] && [ "$(cat "$dir/node_modules/.bench-stamp")" = "$want" ]; then
    return 0
  fi
  say "npm ci in bench/peers/node"
  (cd "$dir" && npm ci --legacy-peer-deps --no-audit --no-fund >/dev/null) || return 1
  echo "$want" >"$dir/node_modules/.bench-stamp"
}
case " $SERVERS $S4_SERVERS " in
  *" node "*) node_peer_install || die "npm ci in bench/peers/node failed" ;;
esac

mkdir -p "$RESULTS_DIR"
{
  echo "stamp=$STAMP"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit=$(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "dirty=$(git -C "$ROOT_DIR" status --porcelain 2>/dev/null | grep -qv '^??' && echo yes || echo no)"
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "kernel=$(uname -sr)"
  echo "ram_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
  echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "sserooms=$("$SSEROOMS_BIN" --version 2>&1 | head -n1)"
  echo "sserooms_threads=$("$SSEROOMS_BIN" --help 2>&1 | grep -q -- '--threads' && echo yes || echo no)"
  echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
  echo "nchan=$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')"
  echo "node=$(node --version)"
  echo "better_sse=$(node -p "require('$BENCH_DIR/peers/node/node_modules/better-sse/package.json').version" 2>/dev/null || echo '?')"
  echo "redis=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
  echo "openssl=$(openssl version | awk '{print $2}')"
  echo "nghttp2=$(pkg-config --modversion libnghttp2 2>/dev/null || echo '?')"
  echo "tls_cert=ECDSA P-256, self-signed (made by suite.sh)"
  echo "tcp_tw_reuse=$(cat /proc/sys/net/ipv4/tcp_tw_reuse 2>/dev/null || echo '?')"
  echo "port_range=$(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo '?')"
  echo "command=${SET_KNOBS}bench/suite.sh"
  for k in $KNOBS; do echo "knob_$k=${!k}"; done
} >"$RESULTS_DIR/machine.env"

say "results in $RESULTS_DIR"
started=$(date +%s)
for scenario in $SCENARIOS; do
  case $scenario in
    s1) scenario_s1 ;;
    s2) scenario_s2 ;;
    s3) scenario_s3 ;;
    s4) scenario_s4 ;;
    s5) scenario_s5 ;;
    s1-seq) scenario_s1_seq ;;
    s1-tls) scenario_s1_tls ;;
    s1-h2) scenario_s1_h2 ;;
    handshake) scenario_handshake ;;
    *) die "unknown scenario $scenario (s1..s5, s1-seq, s1-tls, s1-h2, handshake)" ;;
  esac
done
if [ "$PROFILE" = 1 ] && [[ " $SCENARIOS " == *" s1 "* ]] && [[ " $SERVERS " == *" sserooms "* ]]; then
  profile_s1_peak || say "profile failed (see $RESULTS_DIR/profile)"
fi
if [ "$PROFILE" = 1 ] && [[ " $SCENARIOS " == *" s1-seq "* ]] && [[ " $S1_SEQ_SERVERS " == *" sserooms "* ]]; then
  profile_s1_peak s1-seq profile-seq "--inflight 1" "$S1_SEQ_RATES" ||
    say "profile of the sequential publisher failed (see $RESULTS_DIR/profile-seq)"
fi
echo "elapsed_s=$(($(date +%s) - started))" >>"$RESULTS_DIR/machine.env"

say "writing $RESULTS_MD"
node "$BENCH_DIR/lib/report.mjs" "$RESULTS_DIR" "$RESULTS_MD"
