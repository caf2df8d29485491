#!/bin/bash
# fuzz.sh — builds every libFuzzer target (bazel --config=fuzz: clang,
# -fsanitize=fuzzer,address,undefined) and runs each for a bounded time on a
# copy of its seed corpus (<pkg>/testdata/fuzz/<fuzzer>/), then prints, per
# target, execs/s, corpus size and the result.
#
# Usage: ./tools/fuzz.sh [SECONDS_EACH (default 30)] [FUZZER_NAME...]
#   ./tools/fuzz.sh 60 bpf_program_fuzzer
# A crash leaves its input in $FUZZ_OUT (default /tmp/mydev-fuzz)/<fuzzer>/;
# reproduce with bazel-bin of --config=fuzz: <fuzzer> <crash file>. To make it
# a regression test, copy it into <pkg>/testdata/fuzz/<fuzzer>/ (its
# *_seeds_test then replays it in every test run) and fix the bug.
# Exit status: 0 when no target crashed, 1 otherwise.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${1:-30}"
shift || true
OUT="${FUZZ_OUT:-/tmp/mydev-fuzz}"

ALL=(daemon/datapath:bpf_program_fuzzer daemon/control:config_fuzzer
     daemon/control:stats_tokens_fuzzer
     daemon/rpc:capture_service_fuzzer daemon/rpc:stats_service_fuzzer
     shm:ring_reader_fuzzer shm:fd_handoff_fuzzer
     pcapmod:mydev_list_fuzzer)
targets=()
for t in "${ALL[@]}"; do
  if [[ $# -eq 0 ]]; then targets+=("$t"); continue; fi
  for want in "$@"; do [[ "${t#*:}" == "$want" ]] && targets+=("$t"); done
done
[[ ${#targets[@]} -gt 0 ]] || { echo "fuzz.sh: no fuzzer named $*" >&2; exit 2; }

labels=()
for t in "${targets[@]}"; do labels+=("//$t"); done
bazel build --config=fuzz "${labels[@]}" || { echo "fuzz.sh: build failed" >&2; exit 1; }
BIN="$(bazel info --config=fuzz bazel-bin 2>/dev/null)"

crashed=0
summary=()
for t in "${targets[@]}"; do
  pkg="${t%%:*}" name="${t#*:}"
  work="$OUT/$name"
  rm -rf "$work" && mkdir -p "$work/corpus"
  cp "$pkg/testdata/fuzz/$name"/* "$work/corpus/" 2>/dev/null
  echo "=== $name: ${SECONDS_EACH}s"
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: a leak.
  "$BIN/$pkg/$name" "$work/corpus" -max_total_time="$SECONDS_EACH" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" >"$work/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
  corpus=$(ls "$work/corpus" | wc -l)
  artifacts=$(ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
  if [[ $rc -eq 0 && -z "$artifacts" ]]; then
    result="ok"
  else
    result="FAILED (exit $rc): $(echo $artifacts) — log: $work/log"
    crashed=1
    grep -E "ERROR: |SUMMARY: |runtime error" "$work/log" | head -5
  fi
  summary+=("$(printf '%-26s %9s execs %7s execs/s %5s corpus  %s' "$name" "${execs:-?}" \
    "${rate:-?}" "$corpus" "$result")")
done
echo
printf '%s\n' "${summary[@]}"
exit $crashed
