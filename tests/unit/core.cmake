sr_unit_test(test_sse sse)
sr_unit_test(test_http http common)
# Behind proxies: addresses, CIDR ranges, X-Forwarded-For / Forwarded, and
# the PROXY protocol v1/v2 parser (src/http/forwarded.c, proxy_protocol.c).
sr_unit_test(test_proxy_addr http common)
