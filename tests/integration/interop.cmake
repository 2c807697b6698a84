# SPDX-License-Identifier: MIT
# Interop with the Node.js reference (tests/interop/): the real npm package
# @opinionated-machine/sse-rooms-redis@2.0.0 and sserooms nodes share one
# redis-server, checked byte for byte in both directions.
#  - interop.npm_ci installs tests/interop/node_modules from the committed
#    lockfile (skipped when already installed from the same lockfile);
#  - interop.reference runs tests/interop/interop.mjs with this build's
#    sserooms binary (an ASan build in the ASan tree) and redis-server.
find_program(SR_NODE_EXECUTABLE NAMES node nodejs)
find_program(SR_NPM_EXECUTABLE npm)
# keep the redis-server name: Debian's is a symlink whose name selects the mode
find_program(SR_REDIS_SERVER_EXECUTABLE redis-server PATHS /usr/bin /usr/sbin /usr/local/bin)
foreach(tool SR_NODE_EXECUTABLE SR_NPM_EXECUTABLE SR_REDIS_SERVER_EXECUTABLE)
  if(NOT ${tool})
    message(WARNING "interop tests: ${tool} not found; interop.* will fail (run scripts/deps.sh test)")
  endif()
endforeach()

set(SR_INTEROP_DIR ${CMAKE_SOURCE_DIR}/tests/interop)

add_test(NAME interop.npm_ci
  COMMAND ${CMAKE_COMMAND} -DNPM=${SR_NPM_EXECUTABLE} -DINTEROP_DIR=${SR_INTEROP_DIR}
          -P ${SR_INTEROP_DIR}/npm_ci.cmake)
set_tests_properties(interop.npm_ci PROPERTIES
  LABELS interop TIMEOUT 900 FIXTURES_SETUP interop_deps)

add_test(NAME interop.reference
  COMMAND ${SR_NODE_EXECUTABLE} ${SR_INTEROP_DIR}/interop.mjs
          --sserooms $<TARGET_FILE:sserooms>
          --redis-server ${SR_REDIS_SERVER_EXECUTABLE}
  WORKING_DIRECTORY ${SR_INTEROP_DIR})
set_tests_properties(interop.reference PROPERTIES
  LABELS interop TIMEOUT 300 RUN_SERIAL TRUE FIXTURES_REQUIRED interop_deps)
