#!/bin/bash
# idle_cost.sh — what an idle mydevd costs: the daemon's CPU (every thread's
# scheduler run time, /proc/PID/task/*/schedstat) over SECONDS_PER_RUN with no
# session open, for one synthetic device at each rate of RATES (0 = as fast
# as possible), and then with one session (a tcpdump as nobody, -w /dev/null)
# so the figures can be compared. Prints milliseconds of CPU per second
# (1000 = one core) per run, then min/median/max.
#
#   ./tools/bench/idle_cost.sh                          # rates 20000 and 0, 3 runs of 5 s
#   RUNS=5 RATES="1000 20000 0" ./tools/bench/idle_cost.sh
#   PREFIX=/tmp/old/prefix ./tools/bench/idle_cost.sh   # an installed build (no bazel)
#
# Needs root only for the session part (runs tcpdump as nobody); without
# root, SESSIONS=0 measures the idle daemon alone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${RUNS:-3}"
RATES="${RATES:-20000 0}"
SECS="${SECONDS_PER_RUN:-5}"
SESSIONS="${SESSIONS:-1}"
cd "$ROOT"
WORK="$(mktemp -d /tmp/mydev-idle.XXXXXX)"
chmod 755 "$WORK"
if [[ -z "${PREFIX:-}" ]]; then
  ./tools/install.sh "$WORK/prefix" >/dev/null
  PREFIX="$WORK/prefix"
fi
daemon=""
dump=""
cleanup() {
  [[ -n "$dump" ]] && { kill -INT "$dump" 2>/dev/null; wait "$dump" 2>/dev/null || true; }
  [[ -n "$daemon" ]] && { kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
export MYDEV_SOCKET="$WORK/run/mydevd.sock"

# ns PID: the run time of every thread of PID, summed.
ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }

declare -A res
for rate in $RATES; do
  echo "device { name: \"mydev0\" synthetic { rate_pps: $rate } }" >"$WORK/mydevd.conf"
  for run in $(seq "$RUNS"); do
    "$PREFIX/bin/mydevd" --socket "$MYDEV_SOCKET" --config "$WORK/mydevd.conf" 2>"$WORK/log" &
    daemon=$!
    for _ in $(seq 200); do [[ -S "$MYDEV_SOCKET" ]] && break; sleep 0.05; done
    sleep 1
    a=$(ns "$daemon")
    sleep "$SECS"
    b=$(ns "$daemon")
    idle=$(echo "($b - $a) / 1000000 / $SECS" | bc -l)
    with="-"
    if [[ "$SESSIONS" != 0 && $(id -u) -eq 0 ]]; then
      setpriv --reuid=nobody --regid=nogroup --clear-groups -- env "MYDEV_SOCKET=$MYDEV_SOCKET" \
        "$PREFIX/bin/mydev-run" tcpdump -i mydev0 -w /dev/null 2>"$WORK/dump.err" &
      dump=$!
      sleep 1
      a=$(ns "$daemon")
      sleep "$SECS"
      b=$(ns "$daemon")
      with=$(echo "($b - $a) / 1000000 / $SECS" | bc -l)
      kill -INT "$dump"
      wait "$dump" 2>/dev/null || true
      dump=""
    fi
    kill -TERM "$daemon"
    wait "$daemon" 2>/dev/null || true
    daemon=""
    printf "rate %-7s run %s: idle %8.2f ms/s   one session %8s ms/s\n" "$rate" "$run" "$idle" \
      "$([[ $with == - ]] && echo - || printf %.2f "$with")"
    res[$rate,idle]+="$idle "
    res[$rate,with]+="$with "
  done
done
summary() {
  local name=$1
  shift
  [[ "$1" == - ]] && return
  sort -g <<<"$(printf "%s\n" "$@")" |
    awk -v n="$name" '{v[NR]=$1} END {printf "%-32s min %8.2f  median %8.2f  max %8.2f ms/s\n", n, v[1], v[int((NR+1)/2)], v[NR]}'
}
echo
echo "mydevd's CPU, milliseconds per second, over $RUNS runs of ${SECS} s (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
for rate in $RATES; do
  # shellcheck disable=SC2086
  summary "rate $rate, no session" ${res[$rate,idle]}
  # shellcheck disable=SC2086
  summary "rate $rate, one session" ${res[$rate,with]}
done
