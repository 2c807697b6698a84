# SPDX-License-Identifier: MIT
# HTTP/2 (tests/integration/test_http2.c): --h2c with curl and an nghttp2
# client (tests/support/srt_h2.c): byte-identical frames, 12 streams on one
# connection with --threads 1 and 2, slow consumers, protocol violations,
# GOAWAY on shutdown.
sr_integration_test(test_http2)
# the cases that name no --threads: at 1 (the main loop writes HTTP/2) and
# at 2 (a writer thread owns the connection), both in the ThreadSanitizer
# round (make test-tsan)
sr_integration_threads(test_http2)
set_property(TEST integration.test_http2 APPEND PROPERTY LABELS tsan)
set_property(TEST integration.test_http2.threads2 APPEND PROPERTY LABELS tsan)

# browser.h2: tests/browser/h2.test.mjs with this build's sserooms over TLS
# (a self-signed certificate the test makes): 12 EventSources to 12 rooms
# in one chromium page, all on one HTTP/2 connection (nextHopProtocol h2);
# the browser.npm_ci fixture of browser.cmake installs playwright-core.
find_program(SR_NODE_EXECUTABLE NAMES node nodejs)
add_test(NAME browser.h2
  COMMAND ${SR_NODE_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/browser/h2.test.mjs
          $<TARGET_FILE:sserooms> ${CMAKE_BINARY_DIR}/browser-h2
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/browser)
set_tests_properties(browser.h2 PROPERTIES
  LABELS browser TIMEOUT 300 RUN_SERIAL TRUE FIXTURES_REQUIRED browser_deps)
