#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spdx.sh: the SPDX license identifier in the head of every source file.
#   scripts/spdx.sh --check   lists every source file (.c .h .mjs .js .sh .cmake,
#                             CMakeLists.txt, Makefile) without an
#                             "SPDX-License-Identifier: MIT" line among its first 3
#                             lines; exit status 1 when there is one
#   scripts/spdx.sh --fix     adds the line to those files, in the comment style of
#                             each: /* ... */ for C, // for JavaScript, # for shell,
#                             CMake and make; after the shebang line where there is one
# The files are git's tracked files (git ls-files) when the tree is a git
# checkout, else every such file under the tree but build/ and node_modules/.
# ctest runs --check (setup.spdx, tests/integration/setup.cmake).
set -euo pipefail
readonly TAG='SPDX-License-Identifier: MIT'
root=$(cd "$(dirname "$0")/.." && pwd)

usage() { echo "usage: $0 --check | --fix" >&2; exit 2; }
[ $# -eq 1 ] || usage
mode=$1
case "$mode" in --check|--fix) ;; *) usage ;; esac

# Source files, relative to the root, one a line.
source_files() {
  local pattern='(\.(c|h|mjs|js|sh|cmake)|(^|/)CMakeLists\.txt|(^|/)Makefile)$'
  if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # files deleted in the work tree but still tracked are skipped
    git -C "$root" ls-files -z | tr '\0' '\n' | grep -E "$pattern" |
      while IFS= read -r f; do [ -f "$root/$f" ] && printf '%s\n' "$f"; done
  else
    (cd "$root" && find . \( -name build -o -name node_modules -o -name .git \) -prune -o -type f -print |
      sed 's|^\./||' | grep -E "$pattern")
  fi
}

# The license line in the comment style of a file.
license_line() {
  case "$1" in
    *.c|*.h) printf '/* %s */\n' "$TAG" ;;
    *.mjs|*.js) printf '// %s\n' "$TAG" ;;
    *) printf '# %s\n' "$TAG" ;;
  esac
}

has_tag() { head -n 3 -- "$1" | grep -qF "$TAG"; }

# Adds the license line as line 1, or as line 2 after a shebang.
add_tag() {
  local file=$1 tmp line
  line=$(license_line "$file")
  tmp=$(mktemp "$file.spdx.XXXXXX")
  if head -c 2 -- "$file" | grep -q '^#!'; then
    { head -n 1 -- "$file"; printf '%s\n' "$line"; tail -n +2 -- "$file"; } >"$tmp"
  else
    { printf '%s\n' "$line"; cat -- "$file"; } >"$tmp"
  fi
  chmod --reference="$file" "$tmp"
  mv -- "$tmp" "$file"
}

missing=0 checked=0
while IFS= read -r f; do
  checked=$((checked + 1))
  has_tag "$root/$f" && continue
  if [ "$mode" = --fix ]; then
    add_tag "$root/$f"
    echo "spdx: added to $f"
  else
    echo "spdx: no '$TAG' in the first 3 lines of $f"
    missing=$((missing + 1))
  fi
done < <(source_files)

if [ "$mode" = --check ]; then
  if [ "$missing" -gt 0 ]; then
    echo "spdx: $missing of $checked source files lack the identifier (scripts/spdx.sh --fix adds it)"
    exit 1
  fi
  echo "spdx: all $checked source files carry '$TAG'"
fi
