# SPDX-License-Identifier: MIT
# Redis Cluster mode and the liveness canary: real loopback clusters built
# by tests/support/srt_cluster.c (and a classic redis-server for the
# canary's classic mode).
sr_integration_test(test_cluster)
sr_integration_test(test_cluster_canary)
# a slot range moved by the real `redis-cli --cluster reshard` under load
# (its own 3-master cluster)
sr_integration_test(test_cluster_reshard)
# /stats and /healthz list every shard (a 9-master cluster, no replicas)
sr_integration_test(test_cluster_shards)
# Presence (issue #15) on a 3-master cluster: the binary of test_presence
# (redis.cmake) running its cluster-mode group.
add_test(NAME integration.test_presence_cluster COMMAND test_presence)
set_tests_properties(integration.test_presence_cluster PROPERTIES LABELS integration TIMEOUT 600
                     RUN_SERIAL TRUE ENVIRONMENT SR_PRESENCE_CLUSTER=1)
