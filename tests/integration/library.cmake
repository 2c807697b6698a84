# SPDX-License-Identifier: MIT
sr_integration_test(test_library)
