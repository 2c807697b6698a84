sr_unit_test(test_sse sse)
sr_unit_test(test_http http common)
