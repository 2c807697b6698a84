# SPDX-License-Identifier: MIT
sr_unit_test(test_sse sse)
sr_unit_test(test_http http common)
# Behind proxies: addresses, CIDR ranges, X-Forwarded-For / Forwarded, and
# the PROXY protocol v1/v2 parser (src/http/forwarded.c, proxy_protocol.c).
sr_unit_test(test_proxy_addr http common)

# The command's log line formatting (app/log.c compiled in): control and
# bidi characters from clients are escaped in text and JSON lines.
sr_unit_test(test_log)
target_sources(test_log PRIVATE ${CMAKE_SOURCE_DIR}/app/log.c)
target_include_directories(test_log PRIVATE ${CMAKE_SOURCE_DIR}/app)

# The per-address limit's key: IPv6 grouped by prefix, IPv4 whole.
sr_unit_test(test_addr common)

# The ABI copies (src/common/abi.c) between a program's struct and the
# library's of another size.
sr_unit_test(test_abi common)

# The fixed-size block pool (src/common/slab.c) that holds the streams'
# sr_conn without a malloc header per block or fragmentation.
sr_unit_test(test_slab common)
