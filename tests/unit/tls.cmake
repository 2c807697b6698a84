# SPDX-License-Identifier: MIT
# The TLS engine (src/tls) without sockets, with certificates the test makes
# (tests/support/srt_tls.c).
sr_unit_test(test_tls tls)
target_sources(test_tls PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/srt_tls.c)
target_include_directories(test_tls PRIVATE ${CMAKE_SOURCE_DIR}/tests/support ${CMAKE_SOURCE_DIR}/src)
