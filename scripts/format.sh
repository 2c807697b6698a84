#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# format.sh: the C sources in the style of .clang-format (clang-format 14).
#   scripts/format.sh --check   lists every .c/.h file that clang-format would
#                               change; exit status 1 when there is one
#                               (make format-check; .ci/run runs it first)
#   scripts/format.sh --fix     rewrites those files in place (make format)
# The files are git's tracked .c/.h files under src, app, include, tests,
# bench and examples when the tree is a git checkout, else every such file
# there. Another clang-format major version formats some lines differently,
# so the script refuses one that is not 14 (CLANG_FORMAT names the binary;
# default clang-format-14, else clang-format).
set -euo pipefail
readonly DIRS=(src app include tests bench examples)
readonly WANT_MAJOR=14
root=$(cd "$(dirname "$0")/.." && pwd)

usage() { echo "usage: $0 --check | --fix" >&2; exit 2; }
[ $# -eq 1 ] || usage
mode=$1
case "$mode" in --check|--fix) ;; *) usage ;; esac

if [ -n "${CLANG_FORMAT:-}" ]; then
  cf=$CLANG_FORMAT
elif command -v clang-format-$WANT_MAJOR >/dev/null 2>&1; then
  cf=clang-format-$WANT_MAJOR
else
  cf=clang-format
fi
if ! command -v "$cf" >/dev/null 2>&1; then
  echo "format: $cf not found (scripts/deps.sh format installs it)" >&2
  exit 2
fi
version=$("$cf" --version)
major=$(printf '%s\n' "$version" | sed -n 's/.*clang-format version \([0-9][0-9]*\)\..*/\1/p')
if [ "$major" != "$WANT_MAJOR" ]; then
  echo "format: .clang-format is kept for clang-format $WANT_MAJOR, $cf is: $version" >&2
  exit 2
fi

# Source files, relative to the root, one a line.
source_files() {
  if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # files deleted in the work tree but still tracked are skipped
    git -C "$root" ls-files -z -- "${DIRS[@]}" | tr '\0' '\n' | grep -E '\.[ch]$' |
      while IFS= read -r f; do [ -f "$root/$f" ] && printf '%s\n' "$f"; done
  else
    (cd "$root" && find "${DIRS[@]}" -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
  fi
}

cd "$root"
differ=0 checked=0
while IFS= read -r f; do
  checked=$((checked + 1))
  if "$cf" --style=file "$f" | cmp -s - "$f"; then continue; fi
  if [ "$mode" = --fix ]; then
    "$cf" --style=file -i "$f"
    echo "format: reformatted $f"
  else
    echo "format: $f differs from .clang-format"
    differ=$((differ + 1))
  fi
done < <(source_files)

if [ "$mode" = --check ]; then
  if [ "$differ" -gt 0 ]; then
    echo "format: $differ of $checked C files differ ($0 --fix or make format rewrites them)"
    exit 1
  fi
  echo "format: all $checked C files match .clang-format"
fi
