# SPDX-License-Identifier: MIT
# The benchmark tools' pure parts (bench/): the streaming HTTP + SSE parser,
# the benchmark payload scanner and the latency histogram. They are not in
# src/, so the test compiles their sources itself instead of linking an
# sr_<module> object library.
add_executable(test_sseparse ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sseparse.c
  ${CMAKE_SOURCE_DIR}/bench/sseparse.c ${CMAKE_SOURCE_DIR}/bench/benchdata.c
  ${CMAKE_SOURCE_DIR}/bench/hist.c)
target_include_directories(test_sseparse PRIVATE ${CMAKE_SOURCE_DIR}/bench)
target_link_libraries(test_sseparse PRIVATE PkgConfig::CMOCKA m)
add_test(NAME unit.test_sseparse COMMAND test_sseparse)
set_tests_properties(unit.test_sseparse PROPERTIES LABELS unit TIMEOUT 300)
