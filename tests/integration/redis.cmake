# Multi-node tests: several sserooms binaries sharing rooms through a real
# redis-server started on a free port (tests/support/srt_redis, srt_nodes).
sr_integration_test(test_redis_nodes)
sr_integration_test(test_redis_churn)
sr_integration_test(test_redis_faults)
# What POST /publish promises about other nodes (issue #18): no publish
# answered 200 is lost on the way (Redis paused under an amplification
# flood), the publish budget (413), 503 / 202 while Redis is down, and one
# JSON nesting limit checked at publish (998 deep delivered on the other
# node, 999 refused).
sr_integration_test(test_publish_limits)
