# SPDX-License-Identifier: MIT
# The resume history kept in memory (src/server/history.c): ids, settings,
# epochs, replay order, count and byte bounds, on servers that do not listen.
sr_unit_test(test_history server auth rooms http http2 tls loop json sse common)
