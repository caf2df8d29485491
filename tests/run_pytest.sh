#!/bin/bash
# Runs one pytest file with Debian's python3 and writes Bazel's test.xml, so
# tools/test.sh counts each test case.
set -euo pipefail
here="$(dirname "$0")"
file="$1"; shift
cd "$here"
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q "$file" \
  --junitxml="${XML_OUTPUT_FILE:-/dev/null}" "$@"
