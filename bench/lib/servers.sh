# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# servers.sh (sourced by bench/suite.sh): starts and stops the servers under
# test — sserooms, Nchan (nginx), the Node.js better-sse peer, the rawfan raw
# baseline (and rawfan-nobatch, one write per delivery) — and redis-server
# for the cross-node runs, each on a free loopback port, and says how the
# load generator and publisher reach it. The TLS kinds (issue #12) use the
# ECDSA P-256 certificate suite.sh makes (TLS_CERT, TLS_KEY):
# sserooms-tls and sserooms-h2 (sserooms --tls-cert: its subscribers over
# HTTP/1.1, or HTTP/2 with H2_STREAMS streams per connection), sserooms-nginx-tls
# (nginx terminating TLS in front of plain sserooms with the settings of
# packaging/nginx-sserooms.conf; both processes on the server's CPU),
# nchan-tls and nchan-h2 (Nchan behind `listen ... ssl http2`).
#
# start_server SLOT KIND MODE [REDIS_URL] sets, for the caller,
#   <SLOT>_PID       the process to stop (nginx: the master)
#   <SLOT>_PORT      its port
#   <SLOT>_LOG       its output
#   <SLOT>_SUB_URL   sseload --url ({room} is replaced by sseload)
#   <SLOT>_PUB_URL   ssepub --target
#   <SLOT>_PUB_PROTO ssepub --proto
#   <SLOT>_SUB_ARGS  extra sseload options (--h2 ...), often empty
#   <SLOT>_PID2      a second process to stop (sserooms behind nginx), often empty
# or returns 1 with START_ERROR set. MODE is `same` (one thread / one worker,
# pinned to SERVER_CPU) or `all` (the server's default threads, no pinning).
# A server that loses a race for its port is retried on another one.

# the thread option of sserooms and rawfan for a mode: one thread in the
# same-cores mode; in the all-cores mode sserooms keeps its default (one per
# core) and rawfan gets one per CPU. Empty when the binary has no --threads
# option (it then runs its one loop).
threads_arg() {
  local bin=$1 mode=$2
  "$bin" --help 2>&1 | grep -q -- '--threads' || return 0
  if [ "$mode" = same ]; then echo "--threads 1"
  elif [ "$bin" = "$RAWFAN_BIN" ]; then echo "--threads $(nproc)"
  fi
}

# sserooms's Redis options: --redis URL, or --redis-cluster SEEDS for a
# "cluster:SEEDS" value from start_redis_cluster
redis_args() {
  local redis=$1 node_id=$2
  [ -n "$redis" ] || return 0
  case $redis in
    cluster:*) echo "--redis-cluster ${redis#cluster:} --node-id $node_id" ;;
    *) echo "--redis $redis --node-id $node_id" ;;
  esac
}

# server_pids KIND PID: the processes whose memory is the server's
server_pids() {
  local kind=$1 pid=$2
  echo "$pid"
  case $kind in nchan*|sserooms-nginx*) pgrep -P "$pid" 2>/dev/null || true ;; esac
}

# start_nginx DIR TEMPLATE MODE PIN SED_ARGS...: nginx from a template of
# bench/peers (the common @PREFIX@ @WORKERS@ @NOFILE@ @PORT@ @CERT@ @KEY@
# fields, and the caller's sed expressions) on a free port, retried on
# another one when it loses the race; sets NGINX_PID and NGINX_PORT, or
# START_ERROR
start_nginx() {
  local dir=$1 template=$2 mode=$3 pin=$4 workers port pid i up
  shift 4
  if [ "$mode" = same ]; then workers=1; else workers=auto; fi
  NGINX_PID='' NGINX_PORT=''
  for _ in 1 2 3 4 5; do
    port=$(free_port) || { START_ERROR="no free port"; return 1; }
    sed -e "s|@PREFIX@|$dir|g" -e "s|@WORKERS@|$workers|" -e "s|@NOFILE@|$NOFILE|" \
      -e "s|@PORT@|$port|" -e "s|@CERT@|${TLS_CERT:-}|" -e "s|@KEY@|${TLS_KEY:-}|" "$@" \
      "$template" >"$dir/nginx.conf"
    : >"$dir/error.log"
    # shellcheck disable=SC2086
    spawn "$dir/server.log" $pin nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;'
    pid=$SPAWN_PID
    # nginx prints nothing when it is up: wait for its port to listen
    up=0
    for ((i = 0; i < 100; i++)); do
      if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then up=1; break; fi
      alive "$pid" || break
      sleep 0.05
    done
    if [ $up = 1 ] && alive "$pid"; then START_ERROR='' NGINX_PID=$pid NGINX_PORT=$port; return 0; fi
    START_ERROR="nginx did not start: $(tail -n 3 "$dir/error.log" "$dir/server.log" 2>/dev/null | tr '\n' ' ')"
    stop_pid "$pid" TERM 2
  done
  return 1
}

start_redis() {
  local slot=$1 dir port
  dir=$(mktemp -d "$WORK_DIR/redis.XXXX")
  for _ in 1 2 3 4 5; do
    port=$(free_port) || break
    spawn "$dir/redis.log" redis-server --port "$port" --bind 127.0.0.1 --save '' \
      --appendonly no --dir "$dir" --daemonize no --maxclients 20000
    if wait_for_line "$dir/redis.log" '.*\(Ready to accept connections\).*' 10 "$SPAWN_PID" >/dev/null; then
      printf -v "${slot}_PID" %s "$SPAWN_PID"
      printf -v "${slot}_PORT" %s "$port"
      printf -v "${slot}_URL" %s "redis://127.0.0.1:$port"
      return 0
    fi
    stop_pid "$SPAWN_PID" KILL 1
  done
  START_ERROR="redis-server did not start: $(tail -n 3 "$dir/redis.log" 2>/dev/null | tr '\n' ' ')"
  return 1
}

# start_redis_cluster SLOT: three cluster-enabled redis-servers (masters, no
# replicas) joined with `redis-cli --cluster create`; sets <SLOT>_PIDS and
# <SLOT>_URL ("cluster:redis://...,redis://...,redis://...", which
# start_server turns into sserooms --redis-cluster).
start_redis_cluster() {
  local try pid pids_var="${1}_PIDS"
  # a port (or its cluster bus port, +10000) lost to a race: start over
  for try in 1 2 3; do
    start_redis_cluster_once "$@" && return 0
    for pid in ${!pids_var}; do stop_pid "$pid" KILL 1; done
  done
  return 1
}

start_redis_cluster_once() {
  local slot=$1 dir port i pids='' urls='' addrs='' ok=1
  dir=$(mktemp -d "$WORK_DIR/cluster.XXXX")
  for i in 1 2 3; do
    port=$(free_port) || { ok=0; break; }
    mkdir -p "$dir/$i"
    spawn "$dir/$i/redis.log" redis-server --port "$port" --bind 127.0.0.1 --save '' \
      --appendonly no --dir "$dir/$i" --daemonize no --maxclients 20000 \
      --cluster-enabled yes --cluster-config-file "$dir/$i/nodes.conf" --cluster-node-timeout 2000
    pids="$pids $SPAWN_PID"
    if ! wait_for_line "$dir/$i/redis.log" '.*\(Ready to accept connections\).*' 10 "$SPAWN_PID" >/dev/null; then
      ok=0; break
    fi
    urls="$urls${urls:+,}redis://127.0.0.1:$port"
    addrs="$addrs 127.0.0.1:$port"
  done
  printf -v "${slot}_PIDS" %s "$pids"
  # shellcheck disable=SC2086
  if [ $ok = 1 ] && redis-cli --cluster create $addrs --cluster-yes >"$dir/create.log" 2>&1; then
    for ((i = 0; i < 100; i++)); do
      if redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
        printf -v "${slot}_URL" %s "cluster:$urls"
        return 0
      fi
      sleep 0.1
    done
  fi
  START_ERROR="the redis cluster did not form: $(tail -q -n 2 "$dir"/*/redis.log "$dir/create.log" 2>/dev/null | tr '\n' ' ')"
  return 1
}

# tls_sub_args SLOT KIND: the sseload options of a TLS kind: HTTP/2 for the
# -h2 kinds; and a 30 s handshake + head timeout (sseload's default is 5 s):
# 10,000 handshakes queue up at the server's one core, and a loaded machine
# does a few hundred per second
tls_sub_args() {
  local args="--timeout 30"
  case $2 in *-h2) args+=" --h2 --streams-per-conn $H2_STREAMS" ;; esac
  # a proxy's worker counts handshakes in progress beside its two
  # descriptors per stream: few at a time, or it drops some near NOFILE
  case $2 in sserooms-nginx-tls) args+=" --max-pending 64" ;; esac
  printf -v "${1}_SUB_ARGS" %s "$args"
}

start_server() {
  local slot=$1 kind=$2 mode=$3 redis=${4:-} dir log port pid pin node_id
  dir=$(mktemp -d "$WORK_DIR/$kind.XXXX")
  log=$dir/server.log
  pin=$(pin_server "$mode")
  node_id="bench-$slot-$$"
  START_ERROR=
  printf -v "${slot}_SUB_ARGS" %s ''
  printf -v "${slot}_PID2" %s ''
  case $kind in
    sserooms-tls|sserooms-h2)
      # sserooms terminating TLS itself (ALPN h2 and http/1.1): the same
      # server for both; sserooms-h2's subscribers speak HTTP/2
      local h2max=
      [ "$H2_STREAMS" -gt 128 ] && h2max="--h2-max-streams $H2_STREAMS"
      # shellcheck disable=SC2046,SC2086
      spawn "$log" $pin "$SSEROOMS_BIN" --host 127.0.0.1 --port 0 --heartbeat-ms 0 \
        --max-connections 0 --max-connections-per-addr 0 --log-level warn \
        --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY" $h2max \
        $(threads_arg "$SSEROOMS_BIN" "$mode")
      pid=$SPAWN_PID
      port=$(wait_for_line "$log" '^sserooms [^ ]* listening on https:\/\/127\.0\.0\.1:\([0-9]*\).*' 20 "$pid") ||
        START_ERROR="sserooms (TLS) did not start: $(tail -n 3 "$log" | tr '\n' ' ')"
      printf -v "${slot}_SUB_URL" %s "https://127.0.0.1:$port/sse?room={room}"
      printf -v "${slot}_PUB_URL" %s "https://127.0.0.1:$port/publish"
      printf -v "${slot}_PUB_PROTO" %s sserooms
      tls_sub_args "$slot" "$kind"
      ;;
    sserooms-nginx-tls)
      # the shipped deployment: plain sserooms behind nginx terminating TLS
      # (packaging/nginx-sserooms.conf's locations), sserooms trusting
      # nginx's X-Forwarded-For; publishes go through nginx too
      local up_port
      # shellcheck disable=SC2046,SC2086
      spawn "$dir/sserooms.log" $pin "$SSEROOMS_BIN" --host 127.0.0.1 --port 0 --heartbeat-ms 0 \
        --max-connections 0 --max-connections-per-addr 0 --log-level warn \
        --trusted-proxy 127.0.0.1/32 $(threads_arg "$SSEROOMS_BIN" "$mode")
      printf -v "${slot}_PID2" %s "$SPAWN_PID"
      if up_port=$(wait_for_line "$dir/sserooms.log" '^sserooms [^ ]* listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*' 20 "$SPAWN_PID"); then
        start_nginx "$dir" "$BENCH_DIR/peers/nginx-tls/nginx.conf.in" "$mode" "$pin" -e "s|@UPSTREAM_PORT@|$up_port|"
        pid=$NGINX_PID port=$NGINX_PORT
      else
        START_ERROR="sserooms (behind nginx) did not start: $(tail -n 3 "$dir/sserooms.log" | tr '\n' ' ')"
      fi
      printf -v "${slot}_SUB_URL" %s "https://127.0.0.1:$port/sse?room={room}"
      printf -v "${slot}_PUB_URL" %s "https://127.0.0.1:$port/publish"
      printf -v "${slot}_PUB_PROTO" %s sserooms
      tls_sub_args "$slot" "$kind"
      ;;
    nchan-tls|nchan-h2)
      # Nchan behind `listen ... ssl http2` (one nginx for both); nchan-h2's
      # subscribers speak HTTP/2, its publisher HTTP/1.1 over TLS
      start_nginx "$dir" "$BENCH_DIR/peers/nchan/nginx.conf.in" "$mode" "$pin" \
        -e "s|@LISTEN_OPTS@| ssl http2|" -e "s|@TLS_CONF@|ssl_certificate $TLS_CERT; ssl_certificate_key $TLS_KEY; ssl_protocols TLSv1.2 TLSv1.3;|" \
        -e "s|@REDIS_UPSTREAM@||" -e "s|@REDIS_PASS@||"
      pid=$NGINX_PID port=$NGINX_PORT
      printf -v "${slot}_SUB_URL" %s "https://127.0.0.1:$port/sub/{room}"
      printf -v "${slot}_PUB_URL" %s "https://127.0.0.1:$port/pub/{room}"
      printf -v "${slot}_PUB_PROTO" %s nchan
      tls_sub_args "$slot" "$kind"
      ;;
    sserooms|sserooms-history)
      # sserooms-history: the same with Last-Event-ID history on (HISTORY
      # messages kept per room, ids assigned by the server), for its cost
      local history=
      [ "$kind" = sserooms-history ] && history="--history $HISTORY"
      # shellcheck disable=SC2046,SC2086
      spawn "$log" $pin "$SSEROOMS_BIN" --host 127.0.0.1 --port 0 --heartbeat-ms 0 \
        --max-connections 0 --max-connections-per-addr 0 --log-level warn $history \
        $(threads_arg "$SSEROOMS_BIN" "$mode") \
        $(redis_args "$redis" "$node_id")
      pid=$SPAWN_PID
      port=$(wait_for_line "$log" '^sserooms [^ ]* listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*' 20 "$pid") ||
        START_ERROR="sserooms did not start: $(tail -n 3 "$log" | tr '\n' ' ')"
      printf -v "${slot}_SUB_URL" %s "http://127.0.0.1:$port/sse?room={room}"
      printf -v "${slot}_PUB_URL" %s "http://127.0.0.1:$port/publish"
      printf -v "${slot}_PUB_PROTO" %s sserooms
      ;;
    rawfan|rawfan-nobatch)
      # rawfan: with --batch when it has it (one write per member per loop
      # turn carrying every frame of the turn, as sserooms coalesces under
      # load: the ceiling); rawfan-nobatch: one write per delivery
      local batch=
      if [ "$kind" = rawfan ] && "$RAWFAN_BIN" --help 2>&1 | grep -q -- '--batch'; then batch=--batch; fi
      # shellcheck disable=SC2046
      spawn "$log" $pin "$RAWFAN_BIN" --port 0 $(threads_arg "$RAWFAN_BIN" "$mode") $batch $RAWFAN_ARGS
      pid=$SPAWN_PID
      port=$(wait_for_line "$log" '^rawfan listening on http:\/\/[^:]*:\([0-9]*\).*' 20 "$pid") ||
        START_ERROR="rawfan did not start: $(tail -n 3 "$log" | tr '\n' ' ')"
      printf -v "${slot}_SUB_URL" %s "http://127.0.0.1:$port/sse?room={room}"
      printf -v "${slot}_PUB_URL" %s "http://127.0.0.1:$port/publish"
      printf -v "${slot}_PUB_PROTO" %s sserooms
      ;;
    node)
      spawn "$log" $pin node "$BENCH_DIR/peers/node/server.mjs" --port 0 \
        ${redis:+--redis "$redis" --node-id "$node_id"}
      pid=$SPAWN_PID
      port=$(wait_for_line "$log" '^node-better-sse listening on http:\/\/[^:]*:\([0-9]*\).*' 30 "$pid") ||
        START_ERROR="node peer did not start: $(tail -n 3 "$log" | tr '\n' ' ')"
      printf -v "${slot}_SUB_URL" %s "http://127.0.0.1:$port/sse?room={room}"
      printf -v "${slot}_PUB_URL" %s "http://127.0.0.1:$port/publish"
      printf -v "${slot}_PUB_PROTO" %s sserooms
      ;;
    nchan)
      local upstream='' pass=''
      if [ -n "$redis" ]; then
        upstream="upstream nchan_redis { nchan_redis_server $redis; }"
        pass="nchan_redis_pass nchan_redis;"
      fi
      start_nginx "$dir" "$BENCH_DIR/peers/nchan/nginx.conf.in" "$mode" "$pin" \
        -e "s|@LISTEN_OPTS@||" -e "s|@TLS_CONF@||" \
        -e "s|@REDIS_UPSTREAM@|$upstream|" -e "s|@REDIS_PASS@|$pass|"
      pid=$NGINX_PID port=$NGINX_PORT
      printf -v "${slot}_SUB_URL" %s "http://127.0.0.1:$port/sub/{room}"
      printf -v "${slot}_PUB_URL" %s "http://127.0.0.1:$port/pub/{room}"
      printf -v "${slot}_PUB_PROTO" %s nchan
      ;;
    *) START_ERROR="unknown server kind $kind" ;;
  esac
  printf -v "${slot}_PID" %s "$pid"
  printf -v "${slot}_PORT" %s "$port"
  printf -v "${slot}_LOG" %s "$log"
  printf -v "${slot}_KIND" %s "$kind"
  printf -v "${slot}_DIR" %s "$dir"
  if [ -n "$START_ERROR" ] || [ -z "$port" ]; then
    START_ERROR=${START_ERROR:-"$kind did not start"}
    stop_pid "$pid" TERM 2
    local pid2var="${slot}_PID2"
    stop_pid "${!pid2var:-}" TERM 2
    return 1
  fi
  return 0
}

# stop_server SLOT: stops it (SIGTERM, then SIGKILL after 5 s); nginx's
# master takes its workers along on SIGTERM (its "fast shutdown").
stop_server() {
  local slot=$1 pidvar="${1}_PID" pid2var="${1}_PID2"
  stop_pid "${!pidvar:-}" TERM 5
  stop_pid "${!pid2var:-}" TERM 5
}

# server_died SLOT: true when its process is gone (crash, OOM, ...)
server_died() {
  local pidvar="${1}_PID"
  ! alive "${!pidvar:-}"
}
