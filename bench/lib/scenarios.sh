# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# scenarios.sh (sourced by bench/suite.sh): one function per scenario of
# issue #4 (S1..S5), of issue #14 (s1-seq: S1 with a sequential publisher,
# ssepub --inflight 1), of issue #12 (s1-tls, s1-h2: S1 over TLS HTTP/1.1
# and over HTTP/2; handshake: TLS connections per second, full and
# resumed) and the S1-peak profiles (pipelined and sequential publisher). Each run gets its own directory
# RESULTS_DIR/<scenario>/<server>-<mode>/run<N>/ holding the tools' JSON
# (load.json from sseload, pub.json from ssepub), their output, and meta.env
# (key=value lines: what was run, status=ok|failed, the reason when failed,
# memory readings); bench/lib/report.mjs reads only these files.
# The servers of a scenario take turns run by run (run 1 of each, then run 2
# of each, ...), not all runs of one server and then the next: this machine
# drifts from minute to minute (the same build's S1-TLS figure varied by
# half between runs), and a target that divides one server's median by
# another's should see the same drift on both sides.

meta() {
  local dir=$1; shift
  local kv
  for kv in "$@"; do printf '%s\n' "${kv//$'\n'/ }" >>"$dir/meta.env"; done
}

# keep the end of a failed run's server output beside its results
keep_log_tail() {
  local dir=$1 log=$2 name=$3
  [ -f "$log" ] && tail -n 40 "$log" >"$dir/$name.tail" 2>/dev/null || true
}

# exit_status PID: sets EXIT_DESC to how a process that has gone away ended
# (it is reaped; the answer is kept, as a pid can be reaped only once). Not
# for use inside $(...): a subshell cannot wait for its parent's children.
declare -A EXIT_DESCS=()
exit_status() {
  local rc=0
  if [ -z "${EXIT_DESCS[$1]:-}" ]; then
    wait "$1" 2>/dev/null || rc=$?
    if [ "$rc" -gt 128 ]; then EXIT_DESCS[$1]="killed by signal $((rc - 128))"
    else EXIT_DESCS[$1]="exit status $rc"; fi
  fi
  EXIT_DESC=${EXIT_DESCS[$1]}
}

# check_servers DIR SLOT...: true when every slot's server still runs;
# otherwise records which one died and how (in LR_ERROR, ahead of any other
# reason) and keeps the end of its output
check_servers() {
  local dir=$1 slot pidvar logvar ok=0
  shift
  for slot in "$@"; do
    pidvar=${slot}_PID logvar=${slot}_LOG
    if ! alive "${!pidvar}"; then
      exit_status "${!pidvar}"
      case $LR_ERROR in
        *"server $slot died"*) ;;
        *) LR_ERROR="server $slot died during the run ($EXIT_DESC)${LR_ERROR:+; $LR_ERROR}"
           keep_log_tail "$dir" "${!logvar}" "server-$slot.log" ;;
      esac
      ok=1
    fi
  done
  return $ok
}

# early_stop_due LOG: true once sseload's once-a-second progress lines
#   [   4.0s] connected ... | deliveries/s N p50 X.XXms p99 Y.YYms | gaps G ...
# show a gap, or a p99 over SUSTAIN_P99_US in two seconds running (the step
# is then not sustained, and neither would the higher ones be)
early_stop_due() {
  local log=$1
  awk -v lim="$SUSTAIN_P99_US" '
    !/^\[/ { next }
    { gaps = ""; p99 = "" }
    match($0, /gaps[=: ]+[0-9]+/) { s = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); gaps = s }
    match($0, /p99[=: ]+[0-9.]+ *(us|µs|ms)?/) {
      s = substr($0, RSTART, RLENGTH); u = s; sub(/p99[=: ]+/, "", s); v = s + 0
      if (u ~ /ms/) v *= 1000
      p99 = v
    }
    gaps != "" && gaps + 0 > 0 { bad = 1 }
    p99 != "" && p99 > lim { over++ } p99 != "" && p99 <= lim { over = 0 }
    END { exit !(bad || over >= 2) }' "$log" 2>/dev/null
}

# load_run: subscribers (sseload) + publisher (ssepub) against a running
# server. Inputs: LR_DIR LR_MODE LR_SUB_URL LR_PUB_URL LR_PUB_PROTO LR_CONNS
# LR_ROOMS LR_RATES LR_STEP_S LR_PAUSE_S LR_SIZE LR_SLOTS (servers to watch)
# LR_EARLY_STOP (1: stop the publisher once a step is unclean); optional
# LR_SUB_ARGS (sseload options of the server kind, e.g. --h2) and
# LR_PUB_ARGS (ssepub options of the scenario, e.g. --inflight 1). Returns 1
# with LR_ERROR set when the run failed.
load_run() {
  local dir=$LR_DIR tools load_pid pub_pid connected=0 failed=0 nsteps deadline now
  tools=$(pin_tools "$LR_MODE")
  LR_ERROR=
  # shellcheck disable=SC2086
  spawn "$dir/sseload.log" $tools "$SSELOAD_BIN" --url "$LR_SUB_URL" --conns "$LR_CONNS" \
    --rooms "$LR_ROOMS" --duration 100000 --json "$dir/load.json" --ready-file "$dir/ready" \
    ${LR_SUB_ARGS:-} $SSELOAD_ARGS
  load_pid=$SPAWN_PID
  if ! wait_for_file "$dir/ready" "$CONNECT_TIMEOUT" "$load_pid"; then
    LR_ERROR="subscribers not all connected after ${CONNECT_TIMEOUT}s: $(tail -n 2 "$dir/sseload.log" | tr '\n' ' ')"
    stop_pid "$load_pid" INT 15
    check_servers "$dir" $LR_SLOTS || true
    return 1
  fi
  read -r _ connected failed <"$dir/ready" || true
  meta "$dir" "connected=${connected:-0}" "connect_failed=${failed:-0}" "rooms=$LR_ROOMS"
  if [ "${connected:-0}" -lt "$LR_CONNS" ]; then
    LR_ERROR="only ${connected:-0} of $LR_CONNS subscribers connected (${failed:-?} failed)"
    stop_pid "$load_pid" INT 15
    check_servers "$dir" $LR_SLOTS || true
    return 1
  fi
  sleep 1 # let the servers finish registering (and, across nodes, subscribing)
  # shellcheck disable=SC2086
  spawn "$dir/ssepub.log" $tools "$SSEPUB_BIN" --target "$LR_PUB_URL" --proto "$LR_PUB_PROTO" \
    --rooms "$LR_ROOMS" --rates "$LR_RATES" --step-seconds "$LR_STEP_S" --pause-seconds "$LR_PAUSE_S" \
    --size "$LR_SIZE" --json "$dir/pub.json" ${LR_PUB_ARGS:-} $SSEPUB_ARGS
  pub_pid=$SPAWN_PID
  nsteps=$(awk -F, '{print NF}' <<<"$LR_RATES")
  deadline=$(($(date +%s) + nsteps * (LR_STEP_S + LR_PAUSE_S) + 30))
  while alive "$pub_pid"; do
    now=$(date +%s)
    if [ "$now" -ge "$deadline" ]; then
      LR_ERROR="publisher still running past its schedule: stopped"
      break
    fi
    if ! check_servers "$dir" $LR_SLOTS; then break; fi
    if [ "${LR_EARLY_STOP:-0}" = 1 ] && early_stop_due "$dir/sseload.log"; then
      # the step under way is not sustained, nor would the higher ones be:
      # stop here (the report also counts a step the publisher did not
      # complete as neither clean nor sustained)
      meta "$dir" "early_stop=1"
      break
    fi
    sleep 0.5
  done
  if alive "$pub_pid"; then stop_pid "$pub_pid" INT 10; else
    exit_status "$pub_pid"
    [ "$EXIT_DESC" = "exit status 0" ] ||
      LR_ERROR=${LR_ERROR:-"ssepub ended with $EXIT_DESC: $(tail -n 2 "$dir/ssepub.log" | tr '\n' ' ')"}
  fi
  sleep "$(( LR_PAUSE_S > 1 ? LR_PAUSE_S : 1 ))" # deliveries still in flight
  stop_pid "$load_pid" INT 20
  [ -s "$dir/load.json" ] || LR_ERROR=${LR_ERROR:-"sseload wrote no JSON: $(tail -n 2 "$dir/sseload.log" | tr '\n' ' ')"}
  [ -s "$dir/pub.json" ] || LR_ERROR=${LR_ERROR:-"ssepub wrote no JSON: $(tail -n 2 "$dir/ssepub.log" | tr '\n' ' ')"}
  check_servers "$dir" $LR_SLOTS || true
  [ -z "$LR_ERROR" ]
}

run_dir() {
  local d="$RESULTS_DIR/$1/$2-$3/run$4"
  rm -rf "$d"; mkdir -p "$d"
  meta "$d" "scenario=$1" "server=$2" "mode=$3" "run=$4"
  echo "$d"
}

finish_run() {
  local dir=$1 ok=$2 err=$3
  if [ "$ok" = 0 ]; then meta "$dir" status=ok; else
    meta "$dir" status=failed "error=$err"
    say "  FAILED: $err"
  fi
}

# a fan-out run (S1 and its variants, or S2) against one server; FR_PUB_ARGS:
# the scenario's ssepub options (set by the caller, empty by default)
fanout_run() {
  local scen=$1 server=$2 mode=$3 run=$4 conns=$5 rooms=$6 rates=$7 step=$8 pause=$9 early=${10}
  local dir rc=0 pids
  dir=$(run_dir "$scen" "$server" "$mode" "$run")
  say "$scen $server $mode run $run: $conns subscribers, $rooms room(s), rates $rates"
  if ! start_server SRV "$server" "$mode"; then finish_run "$dir" 1 "$START_ERROR"; return 0; fi
  pids=$(server_pids "$server" "$SRV_PID" | tr '\n' ' ')
  # shellcheck disable=SC2086
  meta "$dir" "rss_idle_kib=$(rss_kib $pids)" "sub_url=$SRV_SUB_URL" "pub_url=$SRV_PUB_URL" \
    "sub_args=$SRV_SUB_ARGS" "pub_args=${FR_PUB_ARGS:-}"
  LR_SUB_ARGS=$SRV_SUB_ARGS LR_PUB_ARGS=${FR_PUB_ARGS:-}
  LR_DIR=$dir LR_MODE=$mode LR_SUB_URL=$SRV_SUB_URL LR_PUB_URL=$SRV_PUB_URL LR_PUB_PROTO=$SRV_PUB_PROTO
  LR_CONNS=$conns LR_ROOMS=$rooms LR_RATES=$rates LR_STEP_S=$step LR_PAUSE_S=$pause LR_SIZE=$S1_SIZE
  LR_SLOTS=SRV LR_EARLY_STOP=$early
  load_run || rc=1
  pids=$(server_pids "$server" "$SRV_PID" | tr '\n' ' ')
  # shellcheck disable=SC2086
  alive "$SRV_PID" && meta "$dir" "rss_end_kib=$(rss_kib $pids)"
  stop_server SRV
  if [ $rc != 0 ]; then
    keep_log_tail "$dir" "$SRV_LOG" server.log
    # nginx-based servers: their error log says why a connection was dropped
    keep_log_tail "$dir" "$(dirname "$SRV_LOG")/error.log" nginx-error.log
  fi
  finish_run "$dir" $rc "$LR_ERROR"
}

scenario_s1() {
  local mode server run
  for mode in $MODES; do for ((run = 1; run <= RUNS; run++)); do for server in $S1_SERVERS; do
    fanout_run s1 "$server" "$mode" "$run" "$S1_CONNS" 1 "$S1_RATES" "$S1_STEP_S" "$S1_PAUSE_S" 1
  done; done; done
}

# S1 with the sequential publisher (issue #14): one request at a time on one
# keep-alive connection (ssepub --inflight 1), its own rate steps; the
# report puts the publish answer p50/p99 beside the deliveries
scenario_s1_seq() {
  local mode server run
  for mode in $S1_SEQ_MODES; do for ((run = 1; run <= RUNS; run++)); do for server in $S1_SEQ_SERVERS; do
    FR_PUB_ARGS="--inflight 1" fanout_run s1-seq "$server" "$mode" "$run" "$S1_CONNS" 1 "$S1_SEQ_RATES" \
      "$S1_STEP_S" "$S1_PAUSE_S" 1
  done; done; done
}

# S1-TLS (issue #12): S1_TLS_CONNS streams over TLS HTTP/1.1 (and plain
# sserooms beside them, for the ratio)
scenario_s1_tls() {
  local mode server run
  local conns
  for mode in $S1_TLS_MODES; do for ((run = 1; run <= RUNS; run++)); do for server in $S1_TLS_SERVERS; do
    conns=$S1_TLS_CONNS
    # a proxy holds two descriptors per stream (client + upstream): one
    # nginx worker under a NOFILE limit of 20,000 cannot carry 10,000; it
    # also drops handshakes ("worker_connections are not enough") past
    # about 9,400, so it gets 9,000, as in issue #12's own measurement
    if [ "$server" = sserooms-nginx-tls ] && ((2 * conns + 2000 > NOFILE)); then
      conns=$(((NOFILE - 2000) / 2))
      say "s1-tls $server: $conns streams, not $S1_TLS_CONNS (2 descriptors per stream in one worker, NOFILE $NOFILE)"
    fi
    fanout_run s1-tls "$server" "$mode" "$run" "$conns" 1 "$S1_RATES" "$S1_STEP_S" "$S1_PAUSE_S" 1
  done; done; done
}

# S1-H2 (issue #12): S1_TLS_CONNS streams on HTTP/2 connections of
# H2_STREAMS streams each (10,000 on 100 by default)
scenario_s1_h2() {
  local mode server run
  for mode in $S1_TLS_MODES; do for ((run = 1; run <= RUNS; run++)); do for server in $S1_H2_SERVERS; do
    fanout_run s1-h2 "$server" "$mode" "$run" "$S1_TLS_CONNS" 1 "$S1_RATES" "$S1_STEP_S" "$S1_PAUSE_S" 1
  done; done; done
}

# handshake (issue #12): TLS connections per second against one server
# thread on one CPU (the tools on the other): sseload --churn over https
# with HANDSHAKE_CONNS loops (connect, handshake, GET, response head,
# close) for HANDSHAKE_SECONDS, every handshake full, then every slot
# resuming its previous session (--tls-resume). Directory:
# handshake/<server>-<full|resumed>/run<N>.
scenario_handshake() {
  local server kind run dir tools load_pid err deadline resume
  for server in $HANDSHAKE_SERVERS; do for kind in full resumed; do for ((run = 1; run <= RUNS; run++)); do
    dir=$(run_dir handshake "$server" "$kind" "$run")
    say "handshake $server $kind run $run: $HANDSHAKE_CONNS loops for ${HANDSHAKE_SECONDS}s"
    if ! start_server SRV "$server" same; then finish_run "$dir" 1 "$START_ERROR"; continue; fi
    tools=$(pin_tools same)
    resume=
    [ "$kind" = resumed ] && resume=--tls-resume
    err=
    # shellcheck disable=SC2086
    spawn "$dir/sseload.log" $tools "$SSELOAD_BIN" --churn $resume --url "$SRV_SUB_URL" \
      --conns "$HANDSHAKE_CONNS" --duration "$HANDSHAKE_SECONDS" --json "$dir/load.json" $SSELOAD_ARGS
    load_pid=$SPAWN_PID
    deadline=$(($(date +%s) + HANDSHAKE_SECONDS + 30))
    while alive "$load_pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    if alive "$load_pid"; then err="sseload --churn did not stop in time"; stop_pid "$load_pid" INT 10; else
      exit_status "$load_pid"
      [ "$EXIT_DESC" = "exit status 0" ] ||
        err="sseload --churn ended with $EXIT_DESC: $(tail -n 2 "$dir/sseload.log" | tr '\n' ' ')"
    fi
    [ -s "$dir/load.json" ] || err=${err:-"sseload wrote no JSON"}
    LR_ERROR=
    check_servers "$dir" SRV || err=${err:-$LR_ERROR}
    stop_server SRV
    finish_run "$dir" "$([ -z "$err" ] && echo 0 || echo 1)" "$err"
  done; done; done
}

scenario_s2() {
  local mode server run
  for mode in $MODES; do for ((run = 1; run <= RUNS; run++)); do for server in $SERVERS; do
    fanout_run s2 "$server" "$mode" "$run" "$S2_CONNS" "$S2_ROOMS" "$S2_RATE" "$S2_SECONDS" 1 0
  done; done; done
}

# S3: RSS with S3_CONNS idle streams minus RSS with none
scenario_s3() {
  local mode server run dir pids rss0 rss1 load_pid connected failed tools err
  for mode in $S3_MODES; do for ((run = 1; run <= RUNS; run++)); do for server in $S3_SERVERS; do
    dir=$(run_dir s3 "$server" "$mode" "$run")
    say "s3 $server $mode run $run: $S3_CONNS idle streams"
    if ! start_server SRV "$server" "$mode"; then finish_run "$dir" 1 "$START_ERROR"; continue; fi
    sleep 1
    pids=$(server_pids "$server" "$SRV_PID" | tr '\n' ' ')
    # shellcheck disable=SC2086
    rss0=$(rss_kib $pids)
    tools=$(pin_tools "$mode")
    err=
    # shellcheck disable=SC2086
    spawn "$dir/sseload.log" $tools "$SSELOAD_BIN" --url "$SRV_SUB_URL" --conns "$S3_CONNS" \
      --rooms "$S3_ROOMS" --duration 100000 --json "$dir/load.json" --ready-file "$dir/ready" \
      $SRV_SUB_ARGS $SSELOAD_ARGS
    load_pid=$SPAWN_PID
    if wait_for_file "$dir/ready" "$CONNECT_TIMEOUT" "$load_pid"; then
      read -r _ connected failed <"$dir/ready" || true
      sleep "$S3_SETTLE_S"
      pids=$(server_pids "$server" "$SRV_PID" | tr '\n' ' ')
      # shellcheck disable=SC2086
      rss1=$(rss_kib $pids)
      meta "$dir" "rss_idle_kib=$rss0" "rss_streams_kib=$rss1" "connected=${connected:-0}" "connect_failed=${failed:-0}"
      [ "${connected:-0}" -ge "$S3_CONNS" ] || err="only ${connected:-0} of $S3_CONNS streams connected"
    else
      err="streams not all connected after ${CONNECT_TIMEOUT}s: $(tail -n 2 "$dir/sseload.log" | tr '\n' ' ')"
    fi
    stop_pid "$load_pid" INT 15
    LR_ERROR=
    check_servers "$dir" SRV || err=${err:-$LR_ERROR}
    stop_server SRV
    finish_run "$dir" "$([ -z "$err" ] && echo 0 || echo 1)" "$err"
  done; done; done
}

# S4: subscribers on node B, publishes on node A, one Redis; and the same
# load on one node. Variant sserooms-redispub: ssepub PUBLISHes the reference
# envelope straight into Redis, subscribers on one sserooms node.
scenario_s4() {
  local variant kind run dir rc shape pid
  for variant in $S4_SERVERS; do
    kind=${variant%-redispub}
    kind=${kind%-cluster}
    for shape in two one; do
      # the one-node figure is the plain variant's (same server, no Redis)
      [ "$variant" != "$kind" ] && [ "$shape" = one ] && continue
      for ((run = 1; run <= RUNS; run++)); do
        dir=$(run_dir s4 "$variant" "$shape" "$run")
        say "s4 $variant $shape node(s) run $run: $S4_CONNS subscribers, $S4_ROOMS rooms, $S4_RATE msg/s"
        # shellcheck disable=SC2034  # the slots' pids, read by stop_server
        rc=0 LR_ERROR='' A_PID='' B_PID='' R_PID=''
        LR_DIR=$dir LR_MODE=all LR_CONNS=$S4_CONNS LR_ROOMS=$S4_ROOMS LR_RATES=$S4_RATE
        LR_STEP_S=$S4_SECONDS LR_PAUSE_S=1 LR_SIZE=$S1_SIZE LR_EARLY_STOP=0
        if [ "$shape" = one ]; then
          if start_server A "$kind" all; then
            LR_SUB_URL=$A_SUB_URL LR_PUB_URL=$A_PUB_URL LR_PUB_PROTO=$A_PUB_PROTO LR_SLOTS=A
            load_run || rc=1
            stop_server A
          else rc=1 LR_ERROR=$START_ERROR; fi
        elif [ "$variant" = sserooms-cluster ]; then
          # two sserooms nodes on a 3-master Redis Cluster (sharded Pub/Sub)
          if ! start_redis_cluster R; then rc=1 LR_ERROR=$START_ERROR
          elif start_server A sserooms all "$R_URL" && start_server B sserooms all "$R_URL"; then
            LR_SUB_URL=$B_SUB_URL LR_PUB_URL=$A_PUB_URL LR_PUB_PROTO=$A_PUB_PROTO LR_SLOTS="A B"
            load_run || rc=1
          else rc=1 LR_ERROR=$START_ERROR; fi
          stop_server A; stop_server B
          for pid in $R_PIDS; do stop_pid "$pid" TERM 5; done
        elif ! start_redis R; then rc=1 LR_ERROR=$START_ERROR
        elif [ "$variant" = sserooms-redispub ]; then
          if start_server B sserooms all "$R_URL"; then
            LR_SUB_URL=$B_SUB_URL LR_PUB_URL=$R_URL LR_PUB_PROTO=redis LR_SLOTS=B
            load_run || rc=1
            stop_server B
          else rc=1 LR_ERROR=$START_ERROR; fi
          stop_pid "$R_PID" TERM 5
        else
          if start_server A "$kind" all "$R_URL" && start_server B "$kind" all "$R_URL"; then
            LR_SUB_URL=$B_SUB_URL LR_PUB_URL=$A_PUB_URL LR_PUB_PROTO=$A_PUB_PROTO LR_SLOTS="A B"
            load_run || rc=1
          else rc=1 LR_ERROR=$START_ERROR; fi
          stop_server A; stop_server B
          stop_pid "$R_PID" TERM 5
        fi
        finish_run "$dir" $rc "$LR_ERROR"
      done
    done
  done
}

# S5: sseload --churn (connect, GET /sse, headers, close, again) for
# S5_SECONDS with S5_CONNS loops at once
scenario_s5() {
  local mode server run dir tools load_pid err deadline
  for mode in $S5_MODES; do for ((run = 1; run <= RUNS; run++)); do for server in $SERVERS; do
    dir=$(run_dir s5 "$server" "$mode" "$run")
    say "s5 $server $mode run $run: churn with $S5_CONNS loops for ${S5_SECONDS}s"
    if ! start_server SRV "$server" "$mode"; then finish_run "$dir" 1 "$START_ERROR"; continue; fi
    tools=$(pin_tools "$mode")
    err=
    # shellcheck disable=SC2086
    spawn "$dir/sseload.log" $tools "$SSELOAD_BIN" --churn --url "$SRV_SUB_URL" --conns "$S5_CONNS" \
      --duration "$S5_SECONDS" --json "$dir/load.json" $SSELOAD_ARGS
    load_pid=$SPAWN_PID
    deadline=$(($(date +%s) + S5_SECONDS + 30))
    while alive "$load_pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    if alive "$load_pid"; then err="sseload --churn did not stop in time"; stop_pid "$load_pid" INT 10; else
      exit_status "$load_pid"
      [ "$EXIT_DESC" = "exit status 0" ] ||
        err="sseload --churn ended with $EXIT_DESC: $(tail -n 2 "$dir/sseload.log" | tr '\n' ' ')"
    fi
    [ -s "$dir/load.json" ] || err=${err:-"sseload wrote no JSON"}
    LR_ERROR=
    check_servers "$dir" SRV || err=${err:-$LR_ERROR}
    stop_server SRV
    finish_run "$dir" "$([ -z "$err" ] && echo 0 || echo 1)" "$err"
  done; done; done
}

# The S1 peak of sserooms (same-cores mode) again, under perf: where the
# server's time goes at the highest clean publish rate. With arguments
# (profile_s1_peak s1-seq profile-seq "--inflight 1" RATES): the same for
# another S1 scenario's peak, its publisher options, into another directory.
profile_s1_peak() {
  local scen=${1:-s1} dir=$RESULTS_DIR/${2:-profile} pub_args=${3:-} rates=${4:-$S1_RATES}
  local rate tools load_pid pub_pid perf_pid
  mkdir -p "$dir"
  rate=$(node "$BENCH_DIR/lib/report.mjs" --s1-peak-rate "$RESULTS_DIR" sserooms same "$scen" 2>/dev/null || true)
  [ -n "$rate" ] || rate=${rates%%,*}
  command -v perf >/dev/null || { echo "perf not installed" >"$dir/error.txt"; return 1; }
  say "profile ($scen): sserooms (same-cores) at $rate msg/s x $S1_CONNS subscribers, perf for ${PROFILE_SECONDS}s"
  start_server SRV sserooms same || { echo "$START_ERROR" >"$dir/error.txt"; return 1; }
  tools=$(pin_tools same)
  # shellcheck disable=SC2086
  spawn "$dir/sseload.log" $tools "$SSELOAD_BIN" --url "$SRV_SUB_URL" --conns "$S1_CONNS" --rooms 1 \
    --duration 100000 --json "$dir/load.json" --ready-file "$dir/ready" $SSELOAD_ARGS
  load_pid=$SPAWN_PID
  if ! wait_for_file "$dir/ready" "$CONNECT_TIMEOUT" "$load_pid"; then
    echo "subscribers did not connect" >"$dir/error.txt"; stop_pid "$load_pid" INT 10; stop_server SRV; return 1
  fi
  sleep 1
  # shellcheck disable=SC2086
  spawn "$dir/ssepub.log" $tools "$SSEPUB_BIN" --target "$SRV_PUB_URL" --proto sserooms --rooms 1 \
    --rates "$rate" --step-seconds $((PROFILE_SECONDS + 3)) --pause-seconds 0 --size "$S1_SIZE" \
    --json "$dir/pub.json" $pub_args $SSEPUB_ARGS
  pub_pid=$SPAWN_PID
  sleep 1.5
  # cpu-clock: a software event, available in VMs without a PMU
  spawn "$dir/perf-record.log" perf record -e cpu-clock -g -p "$SRV_PID" -o "$WORK_DIR/perf.data" \
    -- sleep "$PROFILE_SECONDS"
  perf_pid=$SPAWN_PID
  wait "$perf_pid" 2>/dev/null || true
  stop_pid "$pub_pid" INT 10
  sleep 1
  stop_pid "$load_pid" INT 15
  stop_server SRV
  echo "$rate" >"$dir/rate.txt"
  [ -s "$WORK_DIR/perf.data" ] || { echo "perf recorded nothing: $(tail -n 3 "$dir/perf-record.log")" >"$dir/error.txt"; return 1; }
  perf report -i "$WORK_DIR/perf.data" --no-children --sort dso,sym -g none --percent-limit 0.5 --stdio \
    2>/dev/null | grep -v '^$' | head -n 60 >"$dir/top-symbols.txt" || true
  perf report -i "$WORK_DIR/perf.data" --no-children --sort dso -g none --stdio \
    2>/dev/null | grep -v '^$' | head -n 30 >"$dir/by-dso.txt" || true
  perf report -i "$WORK_DIR/perf.data" --no-children --sort sym -g caller --percent-limit 3 --stdio \
    2>/dev/null | head -n 200 >"$dir/callers.txt" || true
  rm -f "$WORK_DIR/perf.data"
  [ -s "$dir/by-dso.txt" ] || { echo "perf report printed nothing" >"$dir/error.txt"; return 1; }
}
