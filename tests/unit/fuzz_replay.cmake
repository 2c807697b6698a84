# SPDX-License-Identifier: MIT
# Each fuzz target's committed corpus (tests/fuzz/corpus/<target>) replayed
# in plain ctest: the target built with this build's compiler and flags (so
# the Release round and the ASan+UBSan round both run it) and
# tests/fuzz/replay_main.c in place of libFuzzer. `make fuzz` still does the
# fuzzing itself; this keeps every input that once mattered passing between
# fuzz runs. The targets link the static library, whose archive members
# come in only as referenced.
set(SR_FUZZ_REPLAY_TARGETS fuzz_http fuzz_json fuzz_envelope fuzz_redis_url fuzz_redis_reply fuzz_jwt
    fuzz_proxy fuzz_sequence_key fuzz_http2)
foreach(t ${SR_FUZZ_REPLAY_TARGETS})
  add_executable(${t}_replay ${CMAKE_SOURCE_DIR}/tests/fuzz/${t}.c ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_include_directories(${t}_replay PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${t}_replay PRIVATE sserooms_static m)
  add_test(NAME unit.${t}_replay COMMAND ${t}_replay ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${t})
  set_tests_properties(unit.${t}_replay PROPERTIES LABELS "unit;fuzz" TIMEOUT 300)
endforeach()
target_compile_definitions(fuzz_jwt_replay PRIVATE SR_FUZZ_KEYS_DIR="${CMAKE_SOURCE_DIR}/tests/data/auth")
