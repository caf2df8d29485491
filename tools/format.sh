#!/bin/bash
# format.sh — formats the tree's C and C++ with clang-format (.clang-format:
# Google style, 100 columns). pcapmod/pcap-mydev.{c,h} are compiled into
# libpcap and keep libpcap's own style (tabs, BSD layout), so they are left out.
#
#   ./tools/format.sh           # rewrite files in place
#   ./tools/format.sh --check   # list unformatted files; exit 1 if any
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.c' '*.cc' '*.h' |
  grep -v -e '^third_party/' -e '^pcapmod/pcap-mydev\.[ch]$' | sort -u |
  while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
if [[ "${1:-}" == "--check" ]]; then
  bad=0
  for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
      echo "format.sh: $f is not formatted (run ./tools/format.sh)"
      bad=1
    fi
  done
  exit $bad
fi
clang-format -i "${files[@]}"
