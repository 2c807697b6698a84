# SPDX-License-Identifier: MIT
# Fault tests (tests/integration/test_faults_*.c): the real sserooms binary
# under hostile or broken clients. Each asserts the server stays up (answers
# /healthz, exits 0 on SIGTERM), its peak RSS stays under a bound stated in
# the test, and healthy clients miss nothing. Support code:
# tests/support/srt_faults.{c,h}. Each runs in ~5-10 s in a release build
# (2-3x that under ASan); the timeouts leave room for a loaded machine.
foreach(t test_faults_slowloris test_faults_slow_readers test_faults_resets test_faults_churn test_faults_garbage test_faults_redis)
  sr_integration_test(${t})
  set_tests_properties(integration.${t} PROPERTIES TIMEOUT 300 LABELS "integration;faults")
  sr_integration_threads(${t}) # --threads 1, and 2 in integration.${t}.threads2
endforeach()
