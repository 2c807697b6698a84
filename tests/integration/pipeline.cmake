# SPDX-License-Identifier: MIT
# Pipelining (tests/integration/test_pipeline_flood.c): 10,000 publishes
# pipelined on one keep-alive connection by a client that pauses reading,
# all answered 200 in order and delivered to every subscriber; and a client
# that never reads is held back by TCP backpressure, then closed and
# counted as a stalled reader. ~5 s in a release build.
sr_integration_test(test_pipeline_flood)
set_tests_properties(integration.test_pipeline_flood PROPERTIES TIMEOUT 300
                     LABELS "integration;pipeline")
# at --threads 1 (integration.test_pipeline_flood) and --threads 2 (.threads2)
sr_integration_threads(test_pipeline_flood)
