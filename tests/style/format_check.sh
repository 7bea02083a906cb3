#!/bin/bash
# Fails if any C++ file of the repository differs from what clang-format
# makes of it (.clang-format at the top). Fix with:
#   git ls-files '*.cc' '*.h' | xargs clang-format -i
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
if ! command -v clang-format >/dev/null; then
  echo "SKIP: clang-format is not installed (make deps installs it)"; exit 77
fi
files=$(git ls-files '*.cc' '*.h' 2>/dev/null || find src tests -name '*.cc' -o -name '*.h')
bad=$(echo "$files" | xargs clang-format --dry-run 2>&1 | grep 'warning:' | cut -d: -f1 | sort -u || true)
if [ -n "$bad" ]; then
  echo "not formatted with clang-format (run: clang-format -i FILE):"
  echo "$bad"
  exit 1
fi
echo "clang-format: $(echo "$files" | wc -l) files clean"
