# Single-node integration tests: the real sserooms binary on a free port,
# driven over sockets by tests/support (srt_proc, srt_http, srt_sse).
sr_integration_test(test_server_basic)
sr_integration_test(test_server_errors)
sr_integration_test(test_server_streams)
