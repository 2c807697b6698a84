# Multi-node tests: several sserooms binaries sharing rooms through a real
# redis-server started on a free port (tests/support/srt_redis, srt_nodes).
sr_integration_test(test_redis_nodes)
sr_integration_test(test_redis_churn)
sr_integration_test(test_redis_faults)
