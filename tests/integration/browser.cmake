# SPDX-License-Identifier: MIT
# The demo page (web/) in a real browser: Debian's chromium driven by
# playwright-core (tests/browser).
#  - browser.npm_ci installs the pinned playwright-core from the committed
#    tests/browser/package-lock.json (skipped when node_modules matches it);
#  - browser.demo starts this build's sserooms (an ASan build in the ASan
#    tree) with --demo, drives two pages through a server restart and saves
#    page 2 as browser-demo.png in this build folder.
# chromium comes from Debian (scripts/deps.sh test installs it).
find_program(SR_NODE_EXECUTABLE NAMES node nodejs)
if(NOT SR_NODE_EXECUTABLE)
  message(WARNING "browser tests: node not found; browser.* will fail (run scripts/deps.sh test)")
endif()

set(SR_BROWSER_DIR ${CMAKE_SOURCE_DIR}/tests/browser)

add_test(NAME browser.npm_ci
  COMMAND ${SR_NODE_EXECUTABLE} ${SR_BROWSER_DIR}/ensure-deps.mjs
  WORKING_DIRECTORY ${SR_BROWSER_DIR})
set_tests_properties(browser.npm_ci PROPERTIES
  LABELS browser TIMEOUT 300 FIXTURES_SETUP browser_deps)

add_test(NAME browser.demo
  COMMAND ${SR_NODE_EXECUTABLE} ${SR_BROWSER_DIR}/demo.test.mjs
          $<TARGET_FILE:sserooms> ${CMAKE_BINARY_DIR}/browser-demo.png
  WORKING_DIRECTORY ${SR_BROWSER_DIR})
set_tests_properties(browser.demo PROPERTIES
  LABELS browser TIMEOUT 300 RUN_SERIAL TRUE FIXTURES_REQUIRED browser_deps)

# Browser auth across nodes and reconnects (issue #17): two nodes with HS256
# auth and Redis behind nginx (the shipped snippet, round robin); a page on
# another origin gets a ticket, opens EventSource withCredentials, the node
# serving it restarts, and it reconnects with the session cookie: no 401.
add_test(NAME browser.tickets
  COMMAND ${SR_NODE_EXECUTABLE} ${SR_BROWSER_DIR}/tickets.test.mjs $<TARGET_FILE:sserooms>
  WORKING_DIRECTORY ${SR_BROWSER_DIR})
set_tests_properties(browser.tickets PROPERTIES
  LABELS browser TIMEOUT 300 RUN_SERIAL TRUE FIXTURES_REQUIRED browser_deps
  ENVIRONMENT "PATH=/usr/sbin:/usr/bin:/bin")
