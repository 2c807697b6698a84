# SPDX-License-Identifier: MIT
# Writer threads (cfg.threads = 2): fan-out, slow consumers, closing in flight,
# graceful shutdown, the heartbeat wheel.
sr_integration_test(test_threads)
