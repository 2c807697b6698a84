#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spdx-script.sh: scripts/spdx.sh itself, on a small tree of its own (not a
# git checkout, so it walks the files): --check lists each kind of source
# file lacking the identifier and exits 1; --fix adds the line in each
# file's comment style (after a shebang), keeps the file mode, leaves other
# files alone, and a second --fix changes nothing; --check then exits 0.
# Usage: spdx-script.sh SOURCE_DIR
set -u
src=${1:?usage: spdx-script.sh SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t="$tmp/tree"
mkdir -p "$t/scripts" "$t/src" "$t/build" "$t/node_modules/x"
cp "$src/scripts/spdx.sh" "$t/scripts/spdx.sh"
printf 'int x;\n' >"$t/src/a.c"
printf '#pragma once\n' >"$t/src/b.h"
printf '#!/usr/bin/env node\nconsole.log(1);\n' >"$t/src/c.mjs"
printf 'export {};\n' >"$t/src/d.js"
printf '#!/bin/sh\necho hi\n' >"$t/src/e.sh"
chmod 755 "$t/src/e.sh"
printf 'set(X 1)\n' >"$t/src/f.cmake"
printf 'project(x C)\n' >"$t/CMakeLists.txt"
printf 'all:\n\ttrue\n' >"$t/Makefile"
printf 'not a source file\n' >"$t/src/notes.txt"
printf 'int built;\n' >"$t/build/gen.c"
printf 'module.exports = 1;\n' >"$t/node_modules/x/index.js"
# already carries it (third line): left alone
printf '#!/bin/sh\n# a script\n# SPDX-License-Identifier: MIT\n' >"$t/scripts/tagged.sh"
tag='SPDX-License-Identifier: MIT'

failures=0
check() { # check NAME OK [DETAIL]
  if [ "$2" = 1 ]; then echo "ok   $1"; else echo "FAIL $1${3:+: $3}"; failures=$((failures + 1)); fi
}

out=$("$t/scripts/spdx.sh" --check); rc=$?
listed=$(printf '%s\n' "$out" | grep -c "^spdx: no '$tag' in the first 3 lines of ")
check "--check exits 1 when files lack it" "$([ $rc -eq 1 ] && echo 1 || echo 0)" "status $rc"
check "--check lists the 8 untagged source files" \
  "$([ "$listed" -eq 8 ] && echo 1 || echo 0)" "listed $listed: $(printf '%s' "$out" | tr '\n' '|')"
check "--check skips build/, node_modules/ and other files" \
  "$(printf '%s\n' "$out" | grep -qE 'build/|node_modules/|notes.txt|tagged.sh' && echo 0 || echo 1)"

"$t/scripts/spdx.sh" --fix >/dev/null
head_is() { # head_is FILE EXPECTED_FIRST_LINES
  local got
  got=$(head -n "$(printf '%s\n' "$2" | wc -l)" "$t/$1")
  check "--fix: $1 starts as expected" "$([ "$got" = "$2" ] && echo 1 || echo 0)" "got '$(printf '%s' "$got" | tr '\n' '|')'"
}
head_is src/a.c "/* $tag */
int x;"
head_is src/b.h "/* $tag */
#pragma once"
head_is src/c.mjs "#!/usr/bin/env node
// $tag
console.log(1);"
head_is src/d.js "// $tag
export {};"
head_is src/e.sh "#!/bin/sh
# $tag
echo hi"
head_is src/f.cmake "# $tag
set(X 1)"
head_is CMakeLists.txt "# $tag
project(x C)"
head_is Makefile "# $tag
all:"
check "--fix keeps the mode of a script" "$([ "$(stat -c %a "$t/src/e.sh")" = 755 ] && echo 1 || echo 0)"
check "--fix leaves other files alone" \
  "$([ "$(cat "$t/src/notes.txt")" = 'not a source file' ] && [ "$(cat "$t/build/gen.c")" = 'int built;' ] && echo 1 || echo 0)"
check "--fix leaves a tagged file alone" \
  "$([ "$(sed -n 3p "$t/scripts/tagged.sh")" = "# $tag" ] && [ "$(wc -l <"$t/scripts/tagged.sh")" -eq 3 ] && echo 1 || echo 0)"
before=$(cat "$t"/src/* "$t/Makefile" | md5sum)
again=$("$t/scripts/spdx.sh" --fix)
after=$(cat "$t"/src/* "$t/Makefile" | md5sum)
check "a second --fix changes nothing" "$([ -z "$again" ] && [ "$before" = "$after" ] && echo 1 || echo 0)"
out=$("$t/scripts/spdx.sh" --check); rc=$?
check "--check exits 0 once every file has it" "$([ $rc -eq 0 ] && echo 1 || echo 0)" "status $rc: $out"
[ $failures -eq 0 ]
