# SPDX-License-Identifier: MIT
# Writer threads (cfg.threads = 2): fan-out, slow consumers, closing in flight,
# graceful shutdown, the heartbeat wheel.
sr_integration_test(test_threads)
# in the ThreadSanitizer round (make test-tsan runs the tests labelled tsan)
set_property(TEST integration.test_threads APPEND PROPERTY LABELS tsan)
