# SPDX-License-Identifier: MIT
# sserooms: a thin wrapper over CMake. `make run` and `make test` install
# any missing Debian packages first (scripts/deps.sh). `make run` builds only
# the sserooms command and shows the build's output only when it fails;
# `make test` runs both rounds (release, then ASan+UBSan) whatever the first
# gives, and fails at the end when either failed. Warnings are errors in the
# test and fuzz builds (SR_WERROR), not in `make` / `make install`.
BUILD      ?= build/release
ASAN_BUILD ?= build/asan
TSAN_BUILD ?= build/tsan
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ARGS       ?=
CMAKE_FLAGS ?=

.PHONY: all deps deps-test build build-asan run test test-release test-asan test-tsan bench bench-idle fuzz format format-check install clean

all: build

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

# The tests (SR_TESTS) need cmocka, which only `scripts/deps.sh test`
# installs: a release tree configured by `make run` or `make build` leaves them
# out, and test-release turns them on.
$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DSR_TESTS=OFF $(CMAKE_FLAGS) >/dev/null

$(ASAN_BUILD)/CMakeCache.txt:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSR_SANITIZE=ON -DSR_WERROR=ON $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps-test $(ASAN_BUILD)/CMakeCache.txt
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

## Starts sserooms on 127.0.0.1:8080 (in-memory) with the demo page on /;
## pass options with ARGS="--port 9000 ..."
run: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) --target sserooms >$(BUILD)/make-run.log 2>&1 \
	  || { cat $(BUILD)/make-run.log >&2; exit 1; }
	@exec $(BUILD)/sserooms --demo $(ARGS)

## Every test: unit + integration (+ interop), then all again under
## ASan+UBSan; the second round runs even when the first failed
test: deps-test
	@failed=; \
	$(MAKE) --no-print-directory test-release || failed="$$failed release"; \
	$(MAKE) --no-print-directory test-asan || failed="$$failed asan"; \
	if [ -n "$$failed" ]; then echo "== make test: FAILED:$$failed =="; exit 1; fi; \
	echo "== make test: passed (release, asan) =="

test-release: $(BUILD)/CMakeCache.txt
	@cmake -S . -B $(BUILD) -DSR_TESTS=ON -DSR_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@echo "== tests (release build) =="
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: $(ASAN_BUILD)/CMakeCache.txt
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@echo "== tests (AddressSanitizer + UndefinedBehaviorSanitizer) =="
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

## The threaded tests (ctest label tsan: test_threads, the --threads 2
## variants, HTTP/2, TLS, metrics) under ThreadSanitizer; CI runs it after
## make test
TSAN_TESTS = test_threads test_server_basic test_server_errors test_server_streams test_limits \
             test_http2 test_tls_server test_metrics
test-tsan: deps-test
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSR_TSAN=ON -DSR_WERROR=ON \
	  -DSR_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target sserooms $(TSAN_TESTS)
	@echo "== tests (ThreadSanitizer) =="
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest -L tsan --output-on-failure -j $(JOBS)

## The benchmark suite against Nchan, Node.js and the raw baseline (~22 min;
## knobs: docs/benchmarks.md), writes bench/RESULTS.md
bench: build
	@scripts/deps.sh bench
	@BUILD=$(abspath $(BUILD)) bench/suite.sh

## The foundation's idle-streams benchmark (memory per stream, one broadcast)
bench-idle: build
	@bench/run.sh $(BUILD)

## libFuzzer targets (clang), each for FUZZ_SECONDS (default 60)
fuzz:
	@scripts/deps.sh fuzz
	@scripts/fuzz.sh

## The C sources in the style of .clang-format (clang-format 14, which
## scripts/deps.sh format installs): format rewrites the files that differ,
## format-check lists them and fails (CI runs it first; make test does not)
format:
	@scripts/deps.sh format
	@scripts/format.sh --fix

format-check:
	@scripts/deps.sh format
	@scripts/format.sh --check

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf build
