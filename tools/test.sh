#!/bin/bash
# test.sh — builds everything with every warning an error (--config=ci) and
# runs every test (unit, integration, end-to-end), checks the C/C++ is
# formatted (tools/format.sh --check), then compiles every C/C++
# target again with clang -Wthread-safety (--config=thread-safety: a field
# ABSL_GUARDED_BY a mutex touched without it is a build error), then the
# ring/session/fan-out tests, the dashboard's HTTP server and metrics, and
# the fuzz seed replays again under ASan+UBSan (--config=asan-ubsan), the
# ring/session/fan-out/backend tests and the dashboard's metrics under ThreadSanitizer (--config=tsan; builds the instrumented Abseil
# once with tools/build-absl-tsan.sh), then prints one closing line:
# "N passed, N failed" (all runs' test cases).
# Usage: ./tools/test.sh [extra bazel test args, e.g. a target pattern]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./tools/bootstrap.sh || { echo "0 passed, 1 failed"; exit 1; }

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(//...)

bazel test --config=ci --keep_going "${targets[@]}"
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

# Runs `bazel test --config=$1` on the remaining arguments and adds their test
# cases to passed/failed.
run_sanitizer() {
  local config=$1; shift
  echo "--- sanitizers: bazel test --config=$config $*"
  bazel test --config="$config" --config=ci --keep_going "$@"
  local rc=$? san_passed san_failed
  read -r san_passed san_failed < <(
    bazel query --noshow_progress "tests(set($*))" 2>/dev/null |
    python3 "$ROOT/tools/test_summary.py" "$(bazel info --config="$config" bazel-testlogs 2>/dev/null)")
  if [[ $rc -ne 0 && $san_failed -eq 0 ]]; then
    echo "bazel test --config=$config failed before running some tests (exit $rc)"
    san_failed=1
  fi
  echo "sanitizers ($config): ${san_passed} passed, ${san_failed} failed"
  passed=$((passed + san_passed))
  failed=$((failed + san_failed))
}

# Only on a full run; MYDEV_SKIP_SANITIZERS=1 skips them. Each config has its
# own output tree (clang).
# The ring, session and fan-out tests and the fuzzers' seed replays again,
# under ASan + LeakSanitizer + UBSan.
SANITIZER_TARGETS=(//shm/... //daemon/control:session_manager_test
  //daemon/datapath:device_fanout_test //daemon/datapath:session_ring_test
  //daemon/datapath:bpf_program_test
  //daemon/datapath:filter_union_test //daemon/datapath:device_fanout_kernel_filter_test
  //daemon/datapath:bpf_program_fuzzer_seeds_test //daemon/control:config_fuzzer_seeds_test
  //daemon/rpc:capture_service_fuzzer_seeds_test
  //daemon/control:stats_tokens_test //daemon/control:stats_tokens_fuzzer_seeds_test
  //base:inet_address_test //daemon/rpc:tcp_connection_relay_test
  //tools/mydevctl:top_model_test //tools/mydevctl:top_controls_test //tools/mydevctl:printers_test
  //daemon/datapath:uid_cpu_share_test //tools/dashboard:metrics_collector_test
  //tools/dashboard:targets_test //tools/dashboard/web:web_server_test
  //tools/dashboard/web:basic_auth_test //tools/dashboard/web:basic_auth_fuzzer_seeds_test
  //pcapmod:mydev_list_test //pcapmod:mydev_list_fuzzer_seeds_test)
# The threaded code under ThreadSanitizer: gRPC-free targets only (Debian's
# gRPC brings its own uninstrumented libabsl; see third_party/debian/BUILD).
TSAN_TARGETS=(//shm/... //daemon/control:session_manager_test
  //daemon/datapath:device_fanout_test //daemon/datapath:session_ring_test //daemon/datapath:device_fanout_kernel_filter_test //daemon/backends/synthetic:synthetic_backend_test
  //daemon/backends/replay:replay_backend_test //daemon/rpc:tcp_connection_relay_test
  //daemon/datapath:uid_cpu_share_test //tools/dashboard:metrics_collector_test)
if [[ $# -eq 0 ]]; then
  # The tree is formatted (.clang-format; ./tools/format.sh fixes it): one check.
  if ./tools/format.sh --check; then
    echo "format: 1 passed, 0 failed"
    passed=$((passed + 1))
  else
    echo "format: 0 passed, 1 failed (run ./tools/format.sh)"
    failed=$((failed + 1))
  fi
fi
if [[ $# -eq 0 && "${MYDEV_SKIP_SANITIZERS:-0}" != 1 ]]; then
  # Every C/C++ target but the libFuzzer ones (tagged manual; --config=fuzz
  # builds them), compiled by clang with -Wthread-safety -Werror: one check.
  echo "--- thread safety: bazel build --config=thread-safety --config=ci (every cc target)"
  mapfile -t cc_targets < <(bazel query --noshow_progress \
    'kind("cc_(library|binary|test)", //...) except attr(tags, "manual", //...)' 2>/dev/null)
  if [[ ${#cc_targets[@]} -gt 0 ]] &&
     bazel build --config=thread-safety --config=ci --keep_going "${cc_targets[@]}"; then
    echo "thread safety: 1 passed, 0 failed (${#cc_targets[@]} targets)"
    passed=$((passed + 1))
  else
    echo "thread safety: 0 passed, 1 failed (see the errors above)"
    failed=$((failed + 1))
  fi
  run_sanitizer asan-ubsan "${SANITIZER_TARGETS[@]}"
  if ./tools/build-absl-tsan.sh; then
    run_sanitizer tsan "${TSAN_TARGETS[@]}"
  else
    echo "sanitizers (tsan): tools/build-absl-tsan.sh failed; counted as 1 failure"
    failed=$((failed + 1))
  fi
fi
echo "${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
