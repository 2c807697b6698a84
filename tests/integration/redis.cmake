# SPDX-License-Identifier: MIT
# Multi-node tests: several sserooms binaries sharing rooms through a real
# redis-server started on a free port (tests/support/srt_redis, srt_nodes).
sr_integration_test(test_redis_nodes)
sr_integration_test(test_redis_churn)
sr_integration_test(test_redis_faults)
# Streams that stay connected while their node loses Redis (docs/resume.md,
# "Streams that stay connected"): readiness until Redis confirmed the
# resubscribe (/healthz, /readyz, /livez, HEAD), and a node frozen through a
# Redis restart: reset (no persistence), fill (AOF) or gap event (history off).
sr_integration_test(test_gap)
# The chaos of issue #19 (kill -9 + restart of Redis three times, SIGSTOP
# 3 s, a node kill -9, cluster masters killed) with 60 clients checking every
# message: no silent gap, history on and off, classic and cluster.
sr_integration_test(test_gap_chaos)
# What POST /publish promises about other nodes (issue #18): no publish
# answered 200 is lost on the way (Redis paused under an amplification
# flood), the publish budget (413), 503 / 202 while Redis is down, and one
# JSON nesting limit checked at publish (998 deep delivered on the other
# node, 999 refused).
sr_integration_test(test_publish_limits)
# Failures that speak (#17 point 4): Redis transitions in the JSON log once
# each (restart, canary timeout, wrong password), EMFILE counted and logged
# once per window, listen errors naming their cause; in cluster mode each
# shard's transitions once, naming the shard (a 3-master cluster).
sr_integration_test(test_redis_logs)
# Presence across nodes (issue #15): exact under churn, a killed node drops
# out within its liveness TTL, a Redis restart, bad input.
sr_integration_test(test_presence)
target_sources(test_presence PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_tokens.c)
target_include_directories(test_presence PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
