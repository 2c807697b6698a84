# SPDX-License-Identifier: MIT
# What a newcomer meets first, checked (tests/setup, scripts/spdx.sh):
#  - setup.node_engines: every npm package pinned for the Node.js tests
#    (tests/browser, tests/interop) runs on the Node.js floor their
#    package.json declares (Debian 12's), whatever Node runs the check;
#  - setup.make_test_rounds: `make test` runs the ASan round even when the
#    release round failed, and fails when either did (cmake and ctest
#    replaced by stand-ins);
#  - setup.make_run: `make run` on an empty build folder builds only the
#    sserooms command and prints nothing but the server's own output;
#  - setup.install_packaging: `cmake --install` of this build installs the
#    systemd unit (pointed at the installed command), the example config
#    and nginx site, and the license (named by the pkg-config file, the man
#    page and README.md);
#  - setup.spdx_script: scripts/spdx.sh --check and --fix on a tree of
#    their own;
#  - setup.spdx: every source file of this tree carries the SPDX license
#    identifier (scripts/spdx.sh --check).
#  - setup.format_script: scripts/format.sh --check and --fix with this
#    tree's .clang-format on a tree of their own; skipped when clang-format
#    14 is not installed (make test does not need it; CI's make
#    format-check installs it and checks this tree itself).
set(SR_SETUP_DIR ${CMAKE_SOURCE_DIR}/tests/setup)
find_program(SR_NODE_EXECUTABLE NAMES node nodejs)
find_program(SR_BASH_EXECUTABLE bash REQUIRED)

add_test(NAME setup.node_engines
  COMMAND ${SR_NODE_EXECUTABLE} ${SR_SETUP_DIR}/node-engines.mjs
          ${CMAKE_SOURCE_DIR}/tests/browser ${CMAKE_SOURCE_DIR}/tests/interop)
add_test(NAME setup.make_test_rounds
  COMMAND ${SR_BASH_EXECUTABLE} ${SR_SETUP_DIR}/make-test-rounds.sh ${CMAKE_SOURCE_DIR})
add_test(NAME setup.make_run
  COMMAND ${SR_BASH_EXECUTABLE} ${SR_SETUP_DIR}/make-run.sh ${CMAKE_SOURCE_DIR})
add_test(NAME setup.install_packaging
  COMMAND ${SR_BASH_EXECUTABLE} ${SR_SETUP_DIR}/install-packaging.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
add_test(NAME setup.spdx_script
  COMMAND ${SR_BASH_EXECUTABLE} ${SR_SETUP_DIR}/spdx-script.sh ${CMAKE_SOURCE_DIR})
add_test(NAME setup.spdx COMMAND ${SR_BASH_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/spdx.sh --check)
add_test(NAME setup.format_script
  COMMAND ${SR_BASH_EXECUTABLE} ${SR_SETUP_DIR}/format-script.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(setup.node_engines setup.make_test_rounds setup.install_packaging
  setup.spdx_script setup.spdx setup.format_script PROPERTIES LABELS setup TIMEOUT 300)
set_tests_properties(setup.format_script PROPERTIES SKIP_RETURN_CODE 77)
# a cold Release build of the server: alone, so it does not starve the others
set_tests_properties(setup.make_run PROPERTIES LABELS setup TIMEOUT 600 RUN_SERIAL TRUE)
