# SPDX-License-Identifier: MIT
sr_unit_test(test_sse sse)
# The one send queue (src/sse/sendq.c) of the main loop and the writer
# threads: order, byte counts, partial writes, holes.
sr_unit_test(test_sendq sse)
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

# struct sr_server keeps no subsystem state inline (its size printed and
# bounded), and the server's own handles are counted as they are
# initialised and closed: a listening server's shutdown leaves none.
sr_unit_test(test_server_state server loop auth rooms http http2 tls json sse common)
# The end-of-turn scheduler (src/loop/defer.c) that the server and the
# Redis connection share, on a real libuv loop.
sr_unit_test(test_defer loop)
# The fixed-size block pool (src/common/slab.c) that holds the streams'
# sr_conn without a malloc header per block or fragmentation.
sr_unit_test(test_slab common)
