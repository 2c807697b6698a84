# SPDX-License-Identifier: MIT
# The HTTP/2 layer (src/http2) against nghttp2's client side, in memory.
sr_unit_test(test_h2_layer http2 sse common)
