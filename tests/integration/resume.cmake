# SPDX-License-Identifier: MIT
# Last-Event-ID resume with history (docs/resume.md), on the real binary:
#  - integration.test_resume: replay of 50 missed messages on one node and
#    across two nodes (real redis-server), the reset event (count and age
#    bounds, restart, unknown id, Redis down, Redis emptied), publish rules,
#    configuration errors, the in-memory byte bound (Release builds);
#  - integration.test_resume_storm: 100 streams reconnecting at once to the
#    other node while 500 messages a second are published;
#  - browser.resume: the demo page through server restarts with history in
#    memory (the page shows the reset) and in Redis (it gets every message).
sr_integration_test(test_resume)
target_compile_definitions(test_resume PRIVATE SR_TEST_SANITIZE=$<BOOL:${SR_SANITIZE}>)
sr_integration_test(test_resume_storm)

# browser.resume: tests/browser/resume.test.mjs with this build's sserooms
# (the browser.npm_ci fixture of browser.cmake installs playwright-core);
# its screenshots go to browser-resume/ in this build folder.
find_program(SR_NODE_EXECUTABLE NAMES node nodejs)
add_test(NAME browser.resume
  COMMAND ${SR_NODE_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/browser/resume.test.mjs
          $<TARGET_FILE:sserooms> ${CMAKE_BINARY_DIR}/browser-resume
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/browser)
set_tests_properties(browser.resume PROPERTIES
  LABELS browser TIMEOUT 300 RUN_SERIAL TRUE FIXTURES_REQUIRED browser_deps)
