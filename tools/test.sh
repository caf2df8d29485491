#!/bin/bash
# test.sh — builds everything and runs every test (unit, integration,
# end-to-end), then the ring/session/fan-out tests and fuzz seed replays again
# under ASan+UBSan (--config=asan-ubsan), then prints one closing line:
# "N passed, N failed" (both runs' test cases).
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

# The ring, session and fan-out tests and the fuzzers' seed replays again,
# under ASan + LeakSanitizer + UBSan (clang; its own output tree). Only on a
# full run; MYDEV_SKIP_SANITIZERS=1 skips it.
SANITIZER_TARGETS=(//shm/... //daemon:session_manager_test //daemon:fanout_test
  //daemon:bpf_program_test //daemon:bpf_program_fuzzer_seeds_test
  //daemon:config_fuzzer_seeds_test //daemon:capture_service_fuzzer_seeds_test)
if [[ $# -eq 0 && "${MYDEV_SKIP_SANITIZERS:-0}" != 1 ]]; then
  echo "--- sanitizers: bazel test --config=asan-ubsan ${SANITIZER_TARGETS[*]}"
  bazel test --config=asan-ubsan --keep_going "${SANITIZER_TARGETS[@]}"
  san_rc=$?
  read -r san_passed san_failed < <(
    bazel query --noshow_progress "tests(set(${SANITIZER_TARGETS[*]}))" 2>/dev/null |
    python3 "$ROOT/tools/test_summary.py" "$(bazel info --config=asan-ubsan bazel-testlogs 2>/dev/null)")
  if [[ $san_rc -ne 0 && $san_failed -eq 0 ]]; then
    echo "bazel test --config=asan-ubsan failed before running some tests (exit $san_rc)"
    san_failed=1
  fi
  echo "sanitizers: ${san_passed} passed, ${san_failed} failed"
  passed=$((passed + san_passed))
  failed=$((failed + san_failed))
fi
echo "${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
