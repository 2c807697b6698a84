#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make-test-rounds.sh: `make test` runs its second round (ASan+UBSan) even
# when the first (release) failed, and fails at the end when either failed,
# so a newcomer sees both. The real Makefile runs with `cmake` and `ctest`
# replaced (first on PATH) by stand-ins: cmake succeeds doing nothing, ctest
# notes which build folder it ran in and fails there when told to.
# Usage: make-test-rounds.sh SOURCE_DIR
set -u
src=${1:?usage: make-test-rounds.sh SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/release" "$tmp/asan"
touch "$tmp/release/CMakeCache.txt" "$tmp/asan/CMakeCache.txt"
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/cmake"
cat >"$tmp/bin/ctest" <<'STANDIN'
#!/bin/sh
round=$(basename "$PWD")
echo "$round" >>"$ROUNDS_LOG"
case " $FAIL_ROUNDS " in *" $round "*) exit 8 ;; esac
exit 0
STANDIN
chmod +x "$tmp/bin/cmake" "$tmp/bin/ctest"
# not the flags of a make this test may run under (jobserver, variables)
unset MAKEFLAGS MFLAGS MAKELEVEL

failures=0
# case NAME FAIL_ROUNDS WANT_STATUS(0|nonzero) WANT_LINE
case_() {
  local name=$1 fail=$2 want=$3 line=$4 out rc ran
  : >"$tmp/rounds.log"
  out=$(cd "$src" && PATH="$tmp/bin:$PATH" ROUNDS_LOG="$tmp/rounds.log" FAIL_ROUNDS="$fail" \
        make --no-print-directory test BUILD="$tmp/release" ASAN_BUILD="$tmp/asan" JOBS=1 2>&1)
  rc=$?
  ran=$(tr '\n' ' ' <"$tmp/rounds.log")
  local ok=1
  [ "$ran" = "release asan " ] || ok=0
  if [ "$want" = 0 ]; then [ $rc -eq 0 ] || ok=0; else [ $rc -ne 0 ] || ok=0; fi
  printf '%s\n' "$out" | grep -qxF "$line" || ok=0
  if [ $ok = 1 ]; then
    echo "ok   $name"
  else
    echo "FAIL $name: rounds run: '${ran}' (want 'release asan '), exit status $rc (want $want), last lines:"
    printf '%s\n' "$out" | tail -n 5 | sed 's/^/       /'
    failures=$((failures + 1))
  fi
}

case_ "both rounds pass: status 0" "" 0 "== make test: passed (release, asan) =="
case_ "release fails: asan still runs, status non-zero" "release" nonzero "== make test: FAILED: release =="
case_ "asan fails: status non-zero" "asan" nonzero "== make test: FAILED: asan =="
case_ "both fail: both named" "release asan" nonzero "== make test: FAILED: release asan =="
[ $failures -eq 0 ]
