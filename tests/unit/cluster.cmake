# SPDX-License-Identifier: MIT
# Redis Cluster mode: keyslots, slot maps, MOVED/ASK parsing. slot.c is
# pure code and is compiled into the test directly (this file is included
# before redis.cmake, which defines the src/redis archive).
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_slot.c)
  sr_unit_test(test_slot common)
  target_sources(test_slot PRIVATE ${CMAKE_SOURCE_DIR}/src/redis/slot.c)
  target_link_libraries(test_slot PRIVATE PkgConfig::HIREDIS)
  target_include_directories(test_slot PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
endif()
