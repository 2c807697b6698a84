# SPDX-License-Identifier: MIT
# Redis Cluster mode: keyslots, slot maps, MOVED/ASK parsing. slot.c is
# pure code (the module sr_redis_pure, with the URL parser): the test links
# that alone, without libuv.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_slot.c)
  sr_unit_test(test_slot redis_pure common)
  target_link_libraries(test_slot PRIVATE PkgConfig::HIREDIS)
  target_include_directories(test_slot PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
endif()
