#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz.sh: builds the libFuzzer targets (tests/fuzz) with clang and runs
# each for a set time on a copy of its committed corpus; `make fuzz` calls
# it. Then the JSON scanner is compared with Node's JSON.parse over
# JSONTestSuite and everything the JSON run kept (json_differential.mjs).
#
# Fails when any target reports a crash, a leak, a timeout, running out of
# memory or a sanitizer error (the input is kept under build/fuzz/run/),
# or when the differential finds a difference. One summary line per target.
#
# Environment:
#   FUZZ_SECONDS       seconds per target (default 60)
#   FUZZ_TARGETS       which targets (default: all eight)
#   FUZZ_BUILD         build directory (default build/fuzz)
#   FUZZ_DIFFERENTIAL  0 skips the JSON.parse comparison
#   FUZZ_MERGE         1 merges inputs that add coverage into the committed
#                      corpus after a clean run (libFuzzer -merge=1)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build/fuzz}
SECS=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-fuzz_http fuzz_json fuzz_envelope fuzz_redis_url fuzz_redis_reply fuzz_jwt fuzz_proxy fuzz_sequence_key fuzz_http2}
JOBS=$(nproc 2>/dev/null || echo 2)
BIN=$BUILD/tests/fuzz
RUN=$BUILD/run

if ! command -v clang >/dev/null; then
    echo "fuzz: clang is needed (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi

echo "== building the fuzz targets in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSR_FUZZ=ON -DSR_WERROR=ON -DSR_TESTS=OFF -DSR_BENCH=OFF >/dev/null
cmake --build "$BUILD" --target fuzz_all -j "$JOBS" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The value of a libFuzzer "stat::name: value" final-stats line.
stat() {
    sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

failed=0
echo "== fuzzing each target for ${SECS}s"
for t in $TARGETS; do
    dir=$RUN/$t
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    cp -r "$ROOT/tests/fuzz/corpus/$t/." "$dir/corpus/"
    dict=()
    [ -f "$ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
    rc=0
    (cd "$dir" && TMPDIR="$dir" "$BIN/$t" -max_total_time="$SECS" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/" "${dict[@]}" corpus >log 2>&1) || rc=$?
    last=$(grep -E '^#[0-9]+' "$dir/log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    pcs=$(sed -n 's/.*PC tables (\([0-9]*\) PCs).*/\1/p' "$dir/log" | head -n 1)
    runs=$(stat number_of_executed_units "$dir/log")
    eps=$(stat average_exec_per_sec "$dir/log")
    artifacts=$(cd "$dir" && ls -1 | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
    if [ "$rc" -eq 0 ] && [ -z "$artifacts" ]; then
        status=ok
    else
        status=FAIL
        failed=1
    fi
    printf '%-17s %-4s %10s runs %7s exec/s  cov %5s/%-5s ft %6s  corpus %5s\n' \
        "$t" "$status" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${pcs:-?}" "${ft:-?}" "${corp:-?}"
    if [ "$status" = FAIL ]; then
        grep -E 'invariant failed|ERROR: |SUMMARY: |runtime error' "$dir/log" | head -n 5 | sed 's/^/    /'
        for a in $artifacts; do
            echo "    input: $dir/$a ($(head -c 64 "$dir/$a" | od -An -tx1 | tr -d ' \n')...)"
        done
        echo "    log: $dir/log (exit status $rc)"
    elif [ "${FUZZ_MERGE:-0}" = 1 ]; then
        (cd "$dir" && "$BIN/$t" -merge=1 -artifact_prefix="$dir/merge-" "$ROOT/tests/fuzz/corpus/$t" corpus \
            >merge.log 2>&1)
        echo "    merged into tests/fuzz/corpus/$t: $(ls "$ROOT/tests/fuzz/corpus/$t" | wc -l) files"
    fi
done

if [ "${FUZZ_DIFFERENTIAL:-1}" != 0 ]; then
    echo "== JSON scanner against Node's JSON.parse"
    inputs=("$ROOT/tests/data/JSONTestSuite/test_parsing")
    if [ -d "$RUN/fuzz_json/corpus" ]; then
        inputs+=("$RUN/fuzz_json/corpus")
    else
        inputs+=("$ROOT/tests/fuzz/corpus/fuzz_json")
    fi
    if ! node "$ROOT/tests/fuzz/json_differential.mjs" --driver "$BIN/json_verdict" "${inputs[@]}"; then
        failed=1
    fi
fi

if [ "$failed" != 0 ]; then
    echo "fuzz: FAILED (inputs and logs under $RUN)"
    exit 1
fi
echo "fuzz: all clean"
