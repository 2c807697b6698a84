#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# valgrind-suite.sh: the single-node integration tests with the server under
# valgrind's memcheck; reports valgrind errors and definite leaks (not part
# of `make test`: it takes minutes).
#
# Builds an ordinary (not sanitized) Debug tree, then runs
#   test_server_basic, test_server_errors, test_server_streams
# with SR_TEST_SERVER_BIN pointing at a wrapper that execs
#   valgrind --error-exitcode=99 --leak-check=full
#            --errors-for-leak-kinds=definite sserooms "$@"
# so every sserooms process the tests start (servers and --help/--version
# runs alike) runs under memcheck, each writing its own log; and runs
# test_library (the library in the test's own process) under memcheck
# itself. A server that ends with a valgrind error or a definite leak exits
# 99, which its test reports as a failure; the summary below counts them
# from the logs either way.
#
# Under valgrind the server is ~20x slower: a test may fail on one of its
# own timeouts without valgrind finding anything. The summary says which
# tests failed and whether valgrind reported anything; only valgrind
# errors or definite leaks make this script fail (exit 1). Exit 2: no
# valgrind finding, but some tests failed (see their output in the logs).
#
# Environment:
#   VALGRIND_BUILD  build directory (default build/valgrind)
#   VALGRIND_TESTS  which tests (default: the four above)
#   VALGRIND_TEST_TIMEOUT  seconds per test binary (default 1200)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${VALGRIND_BUILD:-$ROOT/build/valgrind}
TESTS=${VALGRIND_TESTS:-test_server_basic test_server_errors test_server_streams test_library}
TEST_TIMEOUT=${VALGRIND_TEST_TIMEOUT:-1200}
JOBS=$(nproc 2>/dev/null || echo 2)
LOGS=$BUILD/valgrind-logs
MEMCHECK=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
          --show-leak-kinds=definite --num-callers=30)

if ! command -v valgrind >/dev/null; then
    echo "valgrind-suite: valgrind is needed (apt-get install valgrind)" >&2
    exit 1
fi

echo "== building in $BUILD (Debug, no sanitizers)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DSR_SANITIZE=OFF -DSR_BENCH=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD" --target sserooms $TESTS -j "$JOBS" >/dev/null

rm -rf "$LOGS"
mkdir -p "$LOGS"
WRAPPER=$LOGS/sserooms-under-valgrind
{
    echo '#!/bin/sh'
    echo "# runs the sserooms binary under memcheck (written by $0)"
    printf 'exec'
    printf ' %q' "${MEMCHECK[@]}" "--log-file=$LOGS/server.%p.vg"
    printf ' %q "$@"\n' "$BUILD/sserooms"
} >"$WRAPPER"
chmod +x "$WRAPPER"

status=0
failed_tests=()
for t in $TESTS; do
    bin=$BUILD/tests/$t
    echo "== $t"
    start=$(date +%s)
    set +e
    if [ "$t" = test_library ]; then
        timeout "$TEST_TIMEOUT" "${MEMCHECK[@]}" --log-file="$LOGS/$t.%p.vg" "$bin" \
            >"$LOGS/$t.out" 2>&1
    else
        SR_TEST_SERVER_BIN=$WRAPPER timeout "$TEST_TIMEOUT" "$bin" >"$LOGS/$t.out" 2>&1
    fi
    rc=$?
    set -e
    secs=$(($(date +%s) - start))
    passed=$(grep -c '^\[       OK \]' "$LOGS/$t.out" || true)
    failed=$(grep '^\[  FAILED  \] test_' "$LOGS/$t.out" | sed 's/^\[  FAILED  \] //' | sort -u |
             tr '\n' ' ' || true)
    echo "   exit $rc in ${secs} s; $passed passed${failed:+; failed: $failed}"
    if [ "$rc" -eq 124 ]; then
        echo "   (killed: still running after VALGRIND_TEST_TIMEOUT=$TEST_TIMEOUT s)"
    fi
    if [ "$rc" -ne 0 ]; then
        failed_tests+=("$t")
        grep -E 'error: |Failure|timed out|server exited' "$LOGS/$t.out" | head -5 |
            sed 's/^/     /' || true
    fi
done

# every memcheck log: its error count and definitely lost bytes
runs=0 errors=0 leaked=0
bad_logs=()
for log in "$LOGS"/*.vg; do
    [ -e "$log" ] || continue
    runs=$((runs + 1))
    e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -1 | tr -d ,)
    l=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
    if [ -z "$e" ]; then
        # no summary: the process was killed (e.g. by a test's timeout) before it exited
        bad_logs+=("$log (no summary: killed before exit)")
        continue
    fi
    errors=$((errors + e))
    leaked=$((leaked + ${l:-0}))
    if [ "$e" -ne 0 ] || [ "${l:-0}" -ne 0 ]; then
        bad_logs+=("$log ($e errors, ${l:-0} bytes definitely lost)")
    fi
done

echo "== memcheck: $runs processes; $errors errors; $leaked bytes definitely lost"
for b in "${bad_logs[@]+"${bad_logs[@]}"}"; do
    echo "   $b"
done
if [ "$errors" -ne 0 ] || [ "$leaked" -ne 0 ]; then
    status=1
elif [ "${#failed_tests[@]}" -ne 0 ]; then
    echo "== tests that failed under valgrind (no memcheck finding): ${failed_tests[*]}"
    echo "   their output: $LOGS/<test>.out"
    status=2
fi
exit $status
