# SPDX-License-Identifier: MIT
# Behind proxies (tests/integration/test_proxy.c): --trusted-proxy with
# X-Forwarded-For / Forwarded, --proxy-protocol v1/v2 and its bad headers,
# and Debian's nginx with packaging/nginx-sserooms.conf in front of 1,000
# streams (scripts/deps.sh test installs nginx).
sr_integration_test(test_proxy)
