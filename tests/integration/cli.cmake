# SPDX-License-Identifier: MIT
# The sserooms command's configuration, logs and packaging
# (tests/integration/test_cli_config.c), and the Node.js client snippet:
#  - integration.test_cli_config: config file / environment / flags,
#    --check-config, bad files, secrets, log formats, --help + man page +
#    README, and `cmake --install` of this build into a temporary DESTDIR
#    with examples/embed.c built through pkg-config against it;
#  - integration.test_cli_env: environment variables: one naming rule for
#    every setting, the SSEROOMS_REDIS_URL alias, unknown SSEROOMS_*
#    variables warned about at start and refused by --check-config;
#  - integration.clients_node_publish: examples/clients/node-publish.mjs
#    publishes through the reference adapter (from tests/interop's
#    node_modules, hence the interop_deps fixture) into a sserooms node.
sr_integration_test(test_cli_config)
sr_integration_test(test_cli_env)
# `cmake --install` needs every installed target built
add_dependencies(test_cli_config sserooms_static sserooms_shared)

find_program(SR_GROFF_EXECUTABLE groff)
find_program(SR_NODE_EXECUTABLE NAMES node nodejs)
target_compile_definitions(test_cli_config PRIVATE
  SR_TEST_CMAKE="${CMAKE_COMMAND}"
  SR_TEST_CC="${CMAKE_C_COMPILER}"
  SR_TEST_PKG_CONFIG="${PKG_CONFIG_EXECUTABLE}"
  SR_TEST_INSTALL_PREFIX="${CMAKE_INSTALL_PREFIX}"
  SR_TEST_INSTALL_LIBDIR="${CMAKE_INSTALL_LIBDIR}"
  SR_TEST_INSTALL_MANDIR="${CMAKE_INSTALL_MANDIR}"
  SR_TEST_SANITIZE=$<BOOL:${SR_SANITIZE}>)
if(SR_GROFF_EXECUTABLE)
  target_compile_definitions(test_cli_config PRIVATE SR_TEST_GROFF="${SR_GROFF_EXECUTABLE}")
endif()

add_test(NAME integration.clients_node_publish COMMAND test_cli_config clients)
set_tests_properties(integration.clients_node_publish PROPERTIES
  LABELS integration TIMEOUT 300 RUN_SERIAL TRUE FIXTURES_REQUIRED interop_deps
  ENVIRONMENT "SR_TEST_NODE=${SR_NODE_EXECUTABLE}")
