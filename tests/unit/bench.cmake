# SPDX-License-Identifier: MIT
# The benchmark tools' pure parts (bench/): the streaming HTTP + SSE parser,
# the benchmark payload scanner, the latency histogram and sseload's
# per-event accounting (gaps, reorders, steps). They are not in src/, so the
# test compiles their sources itself instead of linking an sr_<module>
# object library.
add_executable(test_sseparse ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sseparse.c
  ${CMAKE_SOURCE_DIR}/bench/sseparse.c ${CMAKE_SOURCE_DIR}/bench/benchdata.c
  ${CMAKE_SOURCE_DIR}/bench/hist.c ${CMAKE_SOURCE_DIR}/bench/sseload_report.c)
target_include_directories(test_sseparse PRIVATE ${CMAKE_SOURCE_DIR}/bench)
target_link_libraries(test_sseparse PRIVATE PkgConfig::CMOCKA m)
add_test(NAME unit.test_sseparse COMMAND test_sseparse)
set_tests_properties(unit.test_sseparse PROPERTIES LABELS unit TIMEOUT 300)


# The bench tools' TLS client context (bench/benchtls.c): what a full
# handshake costs the client (issue #12's handshake rate), against a plain
# OpenSSL server over a socketpair, with a certificate the test makes.
# bench/ is added after tests/: SR_BENCH says whether bench_common exists.
if(SR_BENCH)
  add_executable(test_benchtls ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_benchtls.c
    ${CMAKE_SOURCE_DIR}/tests/support/srt_tls.c)
  target_include_directories(test_benchtls PRIVATE ${CMAKE_SOURCE_DIR}/tests/support)
  target_link_libraries(test_benchtls PRIVATE bench_common PkgConfig::CMOCKA)
  add_test(NAME unit.test_benchtls COMMAND test_benchtls)
  set_tests_properties(unit.test_benchtls PROPERTIES LABELS unit TIMEOUT 300)

  # The bench's minimal TLS 1.3 client (bench/benchtls13.c, sseload --churn's
  # full handshakes) against a plain OpenSSL server, and through a relay that
  # flips a bit in the server's CertificateVerify or Finished.
  add_executable(test_benchtls13 ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_benchtls13.c
    ${CMAKE_SOURCE_DIR}/tests/support/srt_tls.c)
  target_include_directories(test_benchtls13 PRIVATE ${CMAKE_SOURCE_DIR}/tests/support)
  target_link_libraries(test_benchtls13 PRIVATE bench_common PkgConfig::CMOCKA)
  add_test(NAME unit.test_benchtls13 COMMAND test_benchtls13)
  set_tests_properties(unit.test_benchtls13 PROPERTIES LABELS unit TIMEOUT 300)
endif()
