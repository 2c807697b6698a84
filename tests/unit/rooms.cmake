# SPDX-License-Identifier: MIT
# Unit tests of the seeded hash, the room registry and the name rules.
sr_unit_test(test_hash common)
# The one generic hash table (src/common/table.c), against a reference.
sr_unit_test(test_table common)
sr_unit_test(test_registry rooms common)
sr_unit_test(test_registry_visit rooms common)
sr_unit_test(test_roomname rooms common)
# The byte-table check under both name rules, and the sequence-name rule.
sr_unit_test(test_namecheck common)
# test_registry injects allocation failures: its malloc/calloc/realloc
# wrappers stand in for the C library's in the objects linked statically
# (the registry and the test), and pass through unless a failure is armed.
target_link_options(test_registry PRIVATE
  "LINKER:--wrap=malloc,--wrap=calloc,--wrap=realloc")
