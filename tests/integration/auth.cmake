# SPDX-License-Identifier: MIT
# JWT authorization of the real binary (tests/integration/test_auth_http.c):
# streams, publishing, tickets, counters and startup checks. Tokens are
# signed in the test with the helpers of the unit tests (test_auth_tokens.c)
# and the keys of tests/data/auth/.
sr_integration_test(test_auth_http)
target_sources(test_auth_http PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_tokens.c)
target_include_directories(test_auth_http PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)

# Streams ended by the server (src/server/revoke.c): at the token's exp after
# the expiry event, and POST /disconnect across two nodes through a real
# redis-server.
sr_integration_test(test_auth_revoke)
target_sources(test_auth_revoke PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_tokens.c)
target_include_directories(test_auth_revoke PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)

# Signed tickets single-use on every node (issue #17): the claim in Redis
# (SET NX) refuses a replay on the other node, and a ticket is refused 503
# while Redis is down (fails closed); two nodes, one real redis-server.
sr_integration_test(test_ticket_replay)
target_sources(test_ticket_replay PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_tokens.c)
target_include_directories(test_ticket_replay PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
