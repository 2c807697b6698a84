#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make-run.sh: `make run` on a fresh build folder builds only what it runs
# and prints no make noise. It configures and builds into an empty folder
# (BUILD=...), and once the server is listening checks that
#  - stdout's first line is the server's "sserooms VERSION listening on URL";
#  - every stderr line so far is one of the server's log lines (no make,
#    cmake or compiler progress);
#  - the folder holds the sserooms command and the static library it links,
#    and no other program or library (no tests, examples, benchmarks,
#    shared library).
# Then it stops the server (SIGTERM to make's process group).
# Usage: make-run.sh SOURCE_DIR
set -u
src=${1:?usage: make-run.sh SOURCE_DIR}
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
unset MAKEFLAGS MFLAGS MAKELEVEL
build="$tmp/build"
failures=0
check() { # check NAME OK [DETAIL]
  if [ "$2" = 1 ]; then echo "ok   $1"; else echo "FAIL $1${3:+: $3}"; failures=$((failures + 1)); fi
}

cd "$src" || exit 1
setsid make run BUILD="$build" ARGS="--port 0" >"$tmp/out" 2>"$tmp/err" &
pid=$!
deadline=$((SECONDS + 540)) # a cold build on a loaded 2-core machine
while ! grep -q 'listening on' "$tmp/out"; do
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  if [ $SECONDS -gt $deadline ]; then break; fi
  sleep 0.2
done
cp "$tmp/err" "$tmp/err.at-listening"

first=$(head -n 1 "$tmp/out")
if [[ "$first" =~ ^sserooms\ [^\ ]+\ listening\ on\ http://127\.0\.0\.1:[0-9]+$ ]]; then
  check "stdout's first line is the server's ready line" 1
else
  check "stdout's first line is the server's ready line" 0 "got '${first:0:200}' ($(wc -l <"$tmp/out") lines)"
fi

noise=$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (debug|info|warn|error) ' "$tmp/err.at-listening")
check "stderr holds only the server's log lines" "$([ -z "$noise" ] && echo 1 || echo 0)" \
  "$(printf '%s\n' "$noise" | head -n 3 | tr '\n' '|')"

built=$(cd "$build" 2>/dev/null && find . -path ./CMakeFiles -prune -o -type f \
          \( -perm -u+x -o -name '*.a' -o -name '*.so*' \) -print | sed 's|^\./||' | sort | tr '\n' ' ')
check "only the sserooms command and its static library are built" \
  "$([ "$built" = "libsserooms.a sserooms " ] && echo 1 || echo 0)" "built: ${built:0:300}"

[ $failures -eq 0 ]
