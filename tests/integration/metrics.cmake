# SPDX-License-Identifier: MIT
sr_integration_test(test_metrics)
# its --threads 2 cases in the ThreadSanitizer round (make test-tsan)
set_property(TEST integration.test_metrics APPEND PROPERTY LABELS tsan)
