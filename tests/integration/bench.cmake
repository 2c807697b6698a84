# SPDX-License-Identifier: MIT
# The benchmark tools over TLS and HTTP/2 (tests/integration/test_bench_tools.c):
# bench/sseload and bench/ssepub, as bench/suite.sh's S1-TLS, S1-H2, S1-seq
# and handshake scenarios run them, against the real binary with
# --tls-cert: every message over TLS HTTP/1.1 and HTTP/2, the sequential
# publisher's answer times, TLS churn with and without resumption, and a
# shutdown right after HTTP/2 load on a writer thread.
# bench/ is added after tests/: SR_BENCH says whether its targets exist
if(SR_BENCH)
  sr_integration_test(test_bench_tools)
  add_dependencies(test_bench_tools sseload ssepub)
  target_compile_definitions(test_bench_tools PRIVATE
    SR_TEST_SSELOAD="$<TARGET_FILE:sseload>"
    SR_TEST_SSEPUB="$<TARGET_FILE:ssepub>")
endif()
