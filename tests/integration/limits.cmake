# SPDX-License-Identifier: MIT
# Limits (tests/integration/test_limits.c): each configurable limit hit
# against the real binary (status, JSON error, /stats "refused" and
# /metrics counters, the server still serving), connections per client
# address from several loopback source addresses, and the message size
# limit of sr_broadcast / sr_send / sr_broadcast_sequenced /
# sr_server_deliver_remote.
sr_integration_test(test_limits)
# at --threads 1 (integration.test_limits) and --threads 2 (.threads2)
sr_integration_threads(test_limits)
# with writer threads in the ThreadSanitizer round (make test-tsan)
set_property(TEST integration.test_limits.threads2 APPEND PROPERTY LABELS tsan)
