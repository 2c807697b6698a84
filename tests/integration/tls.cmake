# SPDX-License-Identifier: MIT
# TLS for clients (tests/integration/test_tls_server.c): curl and openssl
# s_client against --tls-cert/--tls-key with a CA the test makes: frames
# identical to plain HTTP, garbage and old versions refused, 2,000 stalled
# handshakes, SIGHUP reload, session resumption.
sr_integration_test(test_tls_server)
# its --threads 2 cases in the ThreadSanitizer round (make test-tsan)
set_property(TEST integration.test_tls_server APPEND PROPERTY LABELS tsan)
# Idle TLS streams without a libuv TCP handle (src/server/idle.c), in
# process with the test's own OpenSSL clients, with and without writer
# threads: broadcasts, heartbeats, close_notify, a closed socket, shutdown.
sr_integration_test(test_idle_tls_streams)
