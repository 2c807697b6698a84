# SPDX-License-Identifier: MIT
# Ordered event ids through POST /publish "sequence", on the real binary:
# without Redis, and with two nodes on a real redis-server.
sr_integration_test(test_sequence_http)
# The library calls on a server using a real redis-server, in process.
sr_integration_test(test_sequence_lib)
