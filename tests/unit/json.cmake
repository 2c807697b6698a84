# SPDX-License-Identifier: MIT
# The JSON scanner: JSONTestSuite verdicts of Node's JSON.parse, spans,
# lookup/iteration/decoding, quoting and UTF-8 repair.
sr_unit_test(test_json json)
