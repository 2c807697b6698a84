# SPDX-License-Identifier: MIT
# Tests of src/redis, linked with the module's objects (sr_redis, its pure
# URL and slot parsers sr_redis_pure, and src/tls for rediss://): src/redis
# holds nothing that needs the server (sr_server_use_redis is the module
# sr_redis_use), so no archive is needed to leave anything out. The tests
# that talk to Redis start a real redis-server through tests/support/srt_redis.c.
function(sr_redis_unit_test name)
  if(NOT EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/${name}.c)
    return()
  endif()
  sr_unit_test(${name} redis redis_pure tls loop ${ARGN})
  target_link_libraries(${name} PRIVATE PkgConfig::HIREDIS PkgConfig::UV PkgConfig::SSL
                        PkgConfig::CRYPTO)
  target_sources(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/support/srt_redis.c)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/support
                             ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
endfunction()

# the URL parser alone: pure code, no libuv
sr_unit_test(test_redis_url redis_pure common)
sr_redis_unit_test(test_redis_conn json common)
sr_redis_unit_test(test_redis_subs json common)
# The envelope needs the JSON scanner (src/json); skip these until it exists.
file(GLOB sr_redis_json_src ${CMAKE_SOURCE_DIR}/src/json/*.c)
if(sr_redis_json_src)
  sr_redis_unit_test(test_redis_envelope json common)
  sr_redis_unit_test(test_redis_adapter json common)
  # the presence ledger (src/redis/presence_ledger.c): coalescing, users, prune
  sr_redis_unit_test(test_presence_ledger json common)
else()
  message(WARNING "src/json has no sources yet: test_redis_envelope and test_redis_adapter skipped")
endif()
