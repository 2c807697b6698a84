#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-packaging.sh: `make install` (cmake --install) installs the
# packaging files. Installs this build into a temporary prefix and checks
#  - PREFIX/lib/systemd/system/sserooms.service is packaging/sserooms.service
#    with its ExecStart pointing at the installed command, which is there;
#  - PREFIX/share/sserooms/ holds sserooms.conf and nginx-sserooms.conf as
#    in packaging/, and the installed command accepts that config file
#    (--check-config);
#  - PREFIX/share/doc/sserooms/LICENSE is the LICENSE file (MIT), and the
#    installed pkg-config file (still read by pkg-config) and man page, and
#    README.md, name the license.
# Usage: install-packaging.sh SOURCE_DIR BUILD_DIR
set -u
src=${1:?usage: install-packaging.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: install-packaging.sh SOURCE_DIR BUILD_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
failures=0
check() { # check NAME OK [DETAIL]
  if [ "$2" = 1 ]; then echo "ok   $1"; else echo "FAIL $1${3:+: $3}"; failures=$((failures + 1)); fi
}
yes_no() { "$@" && echo 1 || echo 0; }

if ! DESTDIR= cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  echo "FAIL cmake --install:"; cat "$tmp/install.log"; exit 1
fi

unit="$prefix/lib/systemd/system/sserooms.service"
check "the systemd unit is installed" "$(yes_no test -f "$unit")" "$unit missing"
if [ -f "$unit" ]; then
  exec_start=$(grep '^ExecStart=' "$unit")
  want="ExecStart=$prefix/bin/sserooms --config /etc/sserooms/sserooms.conf"
  check "its ExecStart runs the installed command" "$(yes_no test "$exec_start" = "$want")" \
    "got '$exec_start', want '$want'"
  check "the installed command is there" "$(yes_no test -x "$prefix/bin/sserooms")"
  # apart from ExecStart, the unit is the one in packaging/
  same=$(yes_no diff <(grep -v '^ExecStart=' "$unit") <(grep -v '^ExecStart=' "$src/packaging/sserooms.service"))
  check "the rest of the unit is packaging/sserooms.service" "$same"
fi

for f in sserooms.conf nginx-sserooms.conf; do
  check "share/sserooms/$f is packaging/$f" \
    "$(yes_no cmp -s "$prefix/share/sserooms/$f" "$src/packaging/$f")"
done
if [ -x "$prefix/bin/sserooms" ] && [ -f "$prefix/share/sserooms/sserooms.conf" ]; then
  out=$(env -u SSEROOMS_CONFIG "$prefix/bin/sserooms" --config "$prefix/share/sserooms/sserooms.conf" --check-config 2>&1)
  rc=$?
  check "the installed command accepts the installed example config" "$(yes_no test $rc -eq 0)" \
    "exit status $rc: $(printf '%s' "$out" | head -n 3 | tr '\n' '|')"
fi
check "the license is installed" "$(yes_no cmp -s "$prefix/share/doc/sserooms/LICENSE" "$src/LICENSE")"
check "it is the MIT license of the sserooms contributors" \
  "$(yes_no grep -q '^Copyright (c) [0-9]* sserooms contributors$' "$src/LICENSE")"
pc=$(find "$prefix" -name sserooms.pc | head -n 1)
check "the pkg-config file names the license" "$(yes_no grep -qx 'License: MIT' "${pc:-/nonexistent}")"
check "pkg-config reads it" \
  "$(yes_no env PKG_CONFIG_PATH="$(dirname "${pc:-/nonexistent}")" pkg-config --validate sserooms)"
man=$(find "$prefix" -name sserooms.1 | head -n 1)
check "the man page names the license" \
  "$(grep -q '^\.SH COPYRIGHT' "${man:-/nonexistent}" && grep -q 'MIT License' "${man:-/nonexistent}" && echo 1 || echo 0)"
check "README.md names the license" \
  "$(grep -q '^## License' "$src/README.md" && grep -q '\[LICENSE\](LICENSE)' "$src/README.md" && echo 1 || echo 0)"

[ $failures -eq 0 ]
