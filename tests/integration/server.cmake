# SPDX-License-Identifier: MIT
# Single-node integration tests: the real sserooms binary on a free port,
# driven over sockets by tests/support (srt_proc, srt_http, srt_sse).
sr_integration_test(test_server_basic)
sr_integration_test(test_server_errors)
sr_integration_test(test_server_streams)
# --web-root: links out of the folder and FIFOs in it (openat2 and the
# O_NOFOLLOW fallback, both through sr_static_open).
sr_integration_test(test_static_files)
# Idle streams without a libuv TCP handle (src/server/idle.c), in process,
# with and without writer threads.
sr_integration_test(test_idle_streams)
