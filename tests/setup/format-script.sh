#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# format-script.sh: scripts/format.sh itself, with this tree's .clang-format,
# on a small tree of its own (not a git checkout, so it walks the files):
# --check lists each .c/.h file under the source folders that differs and
# exits 1; files elsewhere (build/, other folders, .txt) are left out;
# --fix rewrites exactly those files into the style (attached braces, short
# ifs joined) and a second --check exits 0; a clang-format that is not 14, or
# none, is refused with exit 2 and nothing changed. Exits 77 (skipped) when
# clang-format 14 is not installed: make test does not install it
# (scripts/deps.sh format does).
# Usage: format-script.sh SOURCE_DIR
set -u
src=${1:?usage: format-script.sh SOURCE_DIR}
cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ] || ! "$cf" --version | grep -q 'clang-format version 14\.'; then
  echo "skipped: clang-format 14 is not installed (scripts/deps.sh format)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t="$tmp/tree"
mkdir -p "$t/scripts" "$t/src" "$t/tests/unit" "$t/build" "$t/other"
cp "$src/scripts/format.sh" "$t/scripts/format.sh"
cp "$src/.clang-format" "$t/.clang-format"

# in the style already: left alone
good='/* SPDX-License-Identifier: MIT */
static int pick(int x) {
    if (x < 0) return 0;
    return x;
}
'
printf '%s' "$good" >"$t/src/good.c"
# a brace on its own line and a split short if
bad_c='static int pick(int x)
{
    if (x < 0)
        return 0;
    return x;
}
'
fixed_c='static int pick(int x) {
    if (x < 0) return 0;
    return x;
}
'
printf '%s' "$bad_c" >"$t/src/bad.c"
# two spaces of indent
printf 'struct s {\n  int a;\n};\n' >"$t/tests/unit/bad.h"
fixed_h='struct s {
    int a;
};'
# not sources of the tree: never listed, never touched
printf '%s' "$bad_c" >"$t/build/gen.c"
printf '%s' "$bad_c" >"$t/other/x.c"
printf '%s' "$bad_c" >"$t/src/notes.txt"

failures=0
check() { # check NAME OK [DETAIL]
  if [ "$2" = 1 ]; then echo "ok   $1"; else echo "FAIL $1${3:+: $3}"; failures=$((failures + 1)); fi
}
untouched() { # untouched: the files outside the source folders are as written
  [ "$(cat "$t/build/gen.c")" = "${bad_c%$'\n'}" ] && [ "$(cat "$t/other/x.c")" = "${bad_c%$'\n'}" ] &&
    [ "$(cat "$t/src/notes.txt")" = "${bad_c%$'\n'}" ] && [ "$(cat "$t/src/good.c")" = "${good%$'\n'}" ]
}

out=$(CLANG_FORMAT="$cf" "$t/scripts/format.sh" --check); rc=$?
check "--check exits 1 when a file differs" "$([ $rc -eq 1 ] && echo 1 || echo 0)" "status $rc"
listed=$(printf '%s\n' "$out" | grep '^format: .* differs from .clang-format$' | sed 's/^format: \(.*\) differs.*/\1/' | sort | tr '\n' ' ')
check "--check lists exactly the 2 differing source files" \
  "$([ "$listed" = "src/bad.c tests/unit/bad.h " ] && echo 1 || echo 0)" "listed '$listed'"
check "--check counts them" "$(printf '%s\n' "$out" | grep -q '^format: 2 of 3 C files differ' && echo 1 || echo 0)" \
  "$(printf '%s' "$out" | tr '\n' '|')"
check "--check changes nothing" \
  "$([ "$(cat "$t/src/bad.c")" = "${bad_c%$'\n'}" ] && untouched && echo 1 || echo 0)"

# another clang-format version, or none: refused, nothing changed
printf '#!/bin/sh\necho "Debian clang-format version 15.0.6"\n' >"$tmp/cf15"
chmod +x "$tmp/cf15"
out=$(CLANG_FORMAT="$tmp/cf15" "$t/scripts/format.sh" --fix 2>&1); rc=$?
check "clang-format 15 is refused" \
  "$([ $rc -eq 2 ] && printf '%s' "$out" | grep -q 'kept for clang-format 14' && echo 1 || echo 0)" "status $rc: $out"
out=$(CLANG_FORMAT="$tmp/absent" "$t/scripts/format.sh" --check 2>&1); rc=$?
check "a missing clang-format is named" \
  "$([ $rc -eq 2 ] && printf '%s' "$out" | grep -q 'not found' && echo 1 || echo 0)" "status $rc: $out"
check "a refused run changes nothing" \
  "$([ "$(cat "$t/src/bad.c")" = "${bad_c%$'\n'}" ] && untouched && echo 1 || echo 0)"

out=$(CLANG_FORMAT="$cf" "$t/scripts/format.sh" --fix); rc=$?
check "--fix exits 0" "$([ $rc -eq 0 ] && echo 1 || echo 0)" "status $rc"
check "--fix attaches the brace and joins the short if" \
  "$([ "$(cat "$t/src/bad.c")" = "${fixed_c%$'\n'}" ] && echo 1 || echo 0)" "got '$(tr '\n' '|' <"$t/src/bad.c")'"
check "--fix indents by 4" \
  "$([ "$(cat "$t/tests/unit/bad.h")" = "$fixed_h" ] && echo 1 || echo 0)" "got '$(tr '\n' '|' <"$t/tests/unit/bad.h")'"
check "--fix leaves files in the style and outside the source folders alone" "$(untouched && echo 1 || echo 0)"
out=$(CLANG_FORMAT="$cf" "$t/scripts/format.sh" --check); rc=$?
check "--check exits 0 once every file matches" "$([ $rc -eq 0 ] && echo 1 || echo 0)" "status $rc: $out"
[ $failures -eq 0 ]
