# SPDX-License-Identifier: MIT
# Ordered event ids (src/server/sequence.c, src/redis/sequence.c).
# test_sequence: the id format and the in-memory path, on servers that do
# not listen, plus the server's side of the adapter contract (fake adapter).
sr_unit_test(test_sequence server auth rooms http http2 tls loop json sse common)
# test_sequence_redis: the Redis adapter's ids and sequenced publishes on a
# real redis-server. sr_redis_unit_test comes from redis.cmake, which the
# sorted glob in tests/CMakeLists.txt includes before this file.
sr_redis_unit_test(test_sequence_redis json common)
