# SPDX-License-Identifier: MIT
# Single-node integration tests: the real sserooms binary on a free port,
# driven over sockets by tests/support (srt_proc, srt_http, srt_sse).
sr_integration_test(test_server_basic)
sr_integration_test(test_server_errors)
sr_integration_test(test_server_streams)
# --web-root: links out of the folder and FIFOs in it (openat2 and the
# O_NOFOLLOW fallback, both through sr_static_open).
sr_integration_test(test_static_files)
# each at --threads 1 (integration.<name>) and --threads 2 (<name>.threads2)
foreach(t test_server_basic test_server_errors test_server_streams)
  sr_integration_threads(${t})
endforeach()
# with writer threads in the ThreadSanitizer round (make test-tsan)
foreach(t test_server_basic test_server_errors test_server_streams)
  set_property(TEST integration.${t}.threads2 APPEND PROPERTY LABELS tsan)
endforeach()
# Idle streams without a libuv TCP handle (src/server/idle.c), in process,
# with and without writer threads.
sr_integration_test(test_idle_streams)
