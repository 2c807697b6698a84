#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages sserooms needs to build, test and run, and
# nothing when they are all there (quick and silent). Runs apt-get through
# sudo when not root. Usage: scripts/deps.sh [build|test|fuzz|bench|format]
set -euo pipefail
what=${1:-build}

need=(gcc make cmake pkg-config libc6-dev libuv1-dev libhttp-parser-dev libhiredis-dev libssl-dev libnghttp2-dev)
if [ "$what" = test ]; then
  # chromium: the demo page's real-browser test (driven by playwright-core);
  # nginx: the behind-a-proxy test runs the shipped nginx config in front
  # curl and openssl: the TLS and HTTP/2 tests drive curl --http2/--http1.1
  # and openssl s_client (resumption) against the server
  need+=(libcmocka-dev redis-server redis-tools chromium nginx curl openssl)
fi

if [ "$what" = fuzz ]; then
  need+=(clang libclang-rt-14-dev)
fi

if [ "$what" = format ]; then
  # scripts/format.sh (make format, make format-check): .clang-format is
  # kept for clang-format 14, the version Debian 12 ships
  need+=(clang-format)
fi

if [ "$what" = bench ]; then
  # bench/suite.sh: the peers (nginx + Nchan, redis for the cross-node runs),
  # perf for the profile, taskset (util-linux) for pinning, liburing-dev
  # for rawfan --uring
  need+=(nginx libnginx-mod-nchan redis-server redis-tools linux-perf util-linux procps liburing-dev)
fi

missing=()
for p in "${need[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js and npm (for the interop test against the Node reference): any
# installed node >= 18 will do, from Debian or elsewhere.
if [ "$what" = test ] || [ "$what" = fuzz ] || [ "$what" = bench ]; then
  if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
  if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
fi

[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the Debian redis-server package may start a system instance on 6379; the
# tests start their own on free ports and do not need it
