# SPDX-License-Identifier: MIT
# Tests of src/redis. The module is linked as a static archive so that only
# the members a test references are pulled in: use.c (sr_server_use_redis)
# needs the server module and is left out of these unit tests. The tests
# that talk to Redis start a real redis-server through tests/support/srt_redis.c.
add_library(sr_redis_archive STATIC $<TARGET_OBJECTS:sr_redis> $<TARGET_OBJECTS:sr_tls>)
target_link_libraries(sr_redis_archive PUBLIC PkgConfig::HIREDIS PkgConfig::UV PkgConfig::SSL PkgConfig::CRYPTO)

function(sr_redis_unit_test name)
  if(NOT EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/${name}.c)
    return()
  endif()
  sr_unit_test(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE sr_redis_archive PkgConfig::HIREDIS PkgConfig::UV)
  target_sources(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/srt_redis.c)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/support
                             ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
endfunction()

sr_redis_unit_test(test_redis_url common)
sr_redis_unit_test(test_redis_conn common)
sr_redis_unit_test(test_redis_subs common)
# The envelope needs the JSON scanner (src/json); skip these until it exists.
file(GLOB sr_redis_json_src ${CMAKE_SOURCE_DIR}/src/json/*.c)
if(sr_redis_json_src)
  sr_redis_unit_test(test_redis_envelope json common)
  sr_redis_unit_test(test_redis_adapter json common)
  # the presence ledger (src/redis/presence.c): coalescing, users, prune
  sr_redis_unit_test(test_presence_ledger json common)
else()
  message(WARNING "src/json has no sources yet: test_redis_envelope and test_redis_adapter skipped")
endif()
