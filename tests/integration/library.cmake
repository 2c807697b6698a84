# SPDX-License-Identifier: MIT
sr_integration_test(test_library)

# "Old header, new library" (tests/abi): a program compiled against a header
# whose sr_config, sr_adapter, sr_stats and sr_redis_options have the
# smaller layout of 0.1.0, linked with the current shared library; under
# the ASan build a library that touched past the old structs fails it
# (stack-buffer-overflow). It sees only tests/abi, never include/.
add_executable(abi_old_program ${CMAKE_SOURCE_DIR}/tests/abi/old_program.c)
target_include_directories(abi_old_program PRIVATE ${CMAKE_SOURCE_DIR}/tests/abi)
target_link_libraries(abi_old_program PRIVATE $<TARGET_FILE:sserooms_shared> PkgConfig::UV)
add_dependencies(abi_old_program sserooms_shared)
add_test(NAME integration.abi_old_header COMMAND abi_old_program)
set_tests_properties(integration.abi_old_header PROPERTIES LABELS integration TIMEOUT 60)
