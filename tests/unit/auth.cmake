# SPDX-License-Identifier: MIT
# Tests of src/auth: JWT verification (test_auth: signatures, algorithm
# pinning, framing; test_auth_claims: time claims, iss/aud, configuration),
# and base64url, room grants and subscribe tickets (test_auth_grants).
# The JWT tests share the token builders of test_auth_tokens.c.
sr_unit_test(test_auth auth json common)
target_sources(test_auth PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_tokens.c)
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_claims.c)
  sr_unit_test(test_auth_claims auth json common)
  target_sources(test_auth_claims PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_tokens.c)
endif()
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth_grants.c)
  sr_unit_test(test_auth_grants auth json common)
endif()
# The HMAC-signed texts of tickets and session cookies (src/auth/signed.c).
sr_unit_test(test_auth_signed auth json common)
