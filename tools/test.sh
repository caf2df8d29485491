#!/bin/bash
# test.sh — builds everything and runs every test (unit, integration,
# end-to-end), then prints one closing line: "N passed, N failed".
# Usage: ./tools/test.sh [extra bazel test args, e.g. a target pattern]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./tools/bootstrap.sh || { echo "0 passed, 1 failed"; exit 1; }

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(//...)

bazel test --keep_going "${targets[@]}"
bazel_rc=$?

# Count test cases from every test.xml (gtest/pytest write one case per test;
# Bazel writes one case for other tests).
query="tests(set(${targets[*]}))"
read -r passed failed < <(bazel query --noshow_progress "$query" 2>/dev/null |
  python3 "$ROOT/tools/test_summary.py" "$(bazel info bazel-testlogs 2>/dev/null)")
if [[ $bazel_rc -ne 0 && $failed -eq 0 ]]; then
  echo "bazel test failed before running some tests (exit $bazel_rc): see the errors above"
  failed=1
fi
echo "${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
