# HTTP/2 (tests/integration/test_http2.c): --h2c with curl and an nghttp2
# client (tests/support/srt_h2.c): byte-identical frames, 12 streams on one
# connection with --threads 1 and 2, slow consumers, protocol violations,
# GOAWAY on shutdown.
sr_integration_test(test_http2)
