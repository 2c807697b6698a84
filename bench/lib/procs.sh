# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# procs.sh (sourced by bench/suite.sh): every process the suite starts, free
# ports, CPU pinning and memory readings.
#
# Every background process is started through `spawn`, which records its pid;
# `stop_all` (run by suite.sh's EXIT/INT/TERM trap) stops each recorded pid
# that is still alive — SIGTERM, a bounded wait, then SIGKILL — so a failed or
# interrupted run leaves nothing behind. Only recorded pids are ever
# signalled (plus an nginx master's own workers, found by parent pid).

SPAWNED_PIDS=()

# spawn LOG CMD...: starts CMD in the background with stdout+stderr to LOG;
# sets SPAWN_PID.
spawn() {
  local log=$1; shift
  "$@" >"$log" 2>&1 </dev/null &
  SPAWN_PID=$!
  SPAWNED_PIDS+=("$SPAWN_PID")
}

# alive PID: it runs (a child that has exited but is not reaped yet — a
# zombie — counts as gone)
alive() {
  local stat state
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  state=${stat##*) }
  [ "${state%% *}" != Z ]
}

# stop_pid PID [SIGNAL] [TIMEOUT_S]: signal, wait up to TIMEOUT_S (default 5)
# for the exit, SIGKILL after; returns once it is gone. Reaps it when it is
# our child.
stop_pid() {
  local pid=$1 sig=${2:-TERM} timeout=${3:-5} i
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -s "$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 20; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then kill -s KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  local pid
  for pid in "${SPAWNED_PIDS[@]}"; do
    if alive "$pid"; then stop_pid "$pid" TERM 3; fi
  done
  SPAWNED_PIDS=()
}

# free_port: a port in 20000..32767 (below the ephemeral range, so no
# outgoing connection takes it meanwhile) with nothing listening on it now.
free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12768))
    if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# wait_for_line LOG REGEX TIMEOUT_S PID: waits until LOG has a line matching
# the sed REGEX (with one \(group\)), prints the group; fails when PID exits
# or the time is up.
wait_for_line() {
  local log=$1 re=$2 timeout=$3 pid=$4 i v
  for ((i = 0; i < timeout * 20; i++)); do
    v=$(sed -n "s/$re/\\1/p" "$log" 2>/dev/null | head -n1)
    if [ -n "$v" ]; then echo "$v"; return 0; fi
    alive "$pid" || return 1
    sleep 0.05
  done
  return 1
}

# wait_for_file FILE TIMEOUT_S PID: until FILE is non-empty; fails when PID
# exits first or the time is up.
wait_for_file() {
  local f=$1 timeout=$2 pid=$3 i
  for ((i = 0; i < timeout * 10; i++)); do
    [ -s "$f" ] && return 0
    alive "$pid" || { [ -s "$f" ] && return 0; return 1; }
    sleep 0.1
  done
  return 1
}

# rss_kib PID...: the sum of VmRSS (KiB) of the given processes.
rss_kib() {
  local total=0 pid v
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# pinning: in the same-cores mode the server runs on SERVER_CPU and the load
# generator and publisher on TOOLS_CPU; in the all-cores mode nothing is
# pinned.
pin_server() { if [ "$1" = same ] && [ "$PINNING" = 1 ]; then echo "taskset -c $SERVER_CPU"; fi; }
pin_tools() { if [ "$1" = same ] && [ "$PINNING" = 1 ]; then echo "taskset -c $TOOLS_CPU"; fi; }
