#!/bin/bash
# fanout_cpu.sh — CPU per delivered packet: N tcpdumps through mydevd's
# afpacket device against N tcpdumps capturing the same veth interface
# directly (Debian's libpcap, as root). The far end of a veth pair, in a
# network namespace of this script's own, sends UDP frames
# (tools/bench/packet_sender) at a fixed rate or as fast as it can; every
# tcpdump writes to /dev/null. CPU is every task's scheduler runtime
# (/proc/*/task/*/schedstat, first field, in ns; softirq work is charged to
# the task it interrupted) summed before and after the sending, plus the
# sender's own (it exits inside the window); packets delivered = the sum of
# the tcpdumps' "packets captured". The daemon runs only during mydev's part,
# so the direct captures are not charged for an idle mydevd.
#
#   sudo ./tools/bench/fanout_cpu.sh                       # N = 1 4 8, 64 B, max rate, 3 runs
#   sudo RUNS=5 NS="4 8" SIZE=1500 PPS=100000 ./tools/bench/fanout_cpu.sh
#   sudo BUFFER_KIB=65536 SIZE=1500 NS="4 8" ./tools/bench/fanout_cpu.sh    # tcpdump -B
#   sudo FILTER="udp and port 9" ./tools/bench/fanout_cpu.sh  # every tcpdump with this filter
#   sudo PREFIX=/tmp/old/prefix ./tools/bench/fanout_cpu.sh   # an installed build (no bazel)
#   sudo PROFILE=/tmp/prof ./tools/bench/fanout_cpu.sh     # also one `perf record -a -g` pass
#                                                          # per N through mydev; prints the top
#   sudo SHARE_RINGS=1 ./tools/bench/fanout_cpu.sh         # mydev1 with share_rings: true
#
# Two CPU figures per row: "machine" (every task on the machine: what the
# issue asks for; meaningless while others compile on it) and "bench" (the
# tasks this script started, their children, and kernel threads): the
# same on an idle machine, and the one to read on a busy one.
#
# Prints one line per run and measure, then min/median/max over the runs of
# ns per delivered packet and of the ratio mydev / direct per N.
# Needs root (namespace, veth pair, direct captures). Everything it makes is
# removed on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${RUNS:-3}"
NS_LIST="${NS:-1 4 8}"
SIZE="${SIZE:-64}"
PPS="${PPS:-0}"
SECS="${SECONDS_PER_RUN:-5}"
BUFFER_KIB="${BUFFER_KIB:-}"
MODES="${MODES:-direct mydev}"
PROFILE="${PROFILE:-}"
FILTER="${FILTER:-}"
DAEMON_EXTRA_CONF="${DAEMON_EXTRA_CONF:-}"
SHARE=""
[[ "${SHARE_RINGS:-0}" == 1 ]] && SHARE="share_rings: true"
cd "$ROOT"
[[ $(id -u) -eq 0 ]] || { echo "fanout_cpu.sh: run as root" >&2; exit 1; }

WORK="$(mktemp -d /tmp/mydev-fanout-cpu.XXXXXX)"
chmod 755 "$WORK"
if [[ -z "${PREFIX:-}" ]]; then
  ./tools/bootstrap.sh
  ./tools/install.sh "$WORK/prefix" >/dev/null
  PREFIX="$WORK/prefix"
fi
if [[ -z "${SENDER:-}" ]]; then
  bazel build --noshow_progress //tools/bench:packet_sender 2>/dev/null
  SENDER="$(bazel info bazel-bin 2>/dev/null)/tools/bench/packet_sender"
fi
install -m 0755 "$SENDER" "$WORK/packet_sender"

source "$ROOT/tools/bench/bench_lib.sh"
daemon=""
declare -a dumps=()
stop_dumps() {
  for p in "${dumps[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${dumps[@]}"; do wait "$p" 2>/dev/null || true; done
  dumps=()
}
cleanup() {
  stop_dumps
  bench_daemon_stop
  bench_veth_down
  rm -rf "$WORK"
}
trap cleanup EXIT
bench_veth_up cpu

export MYDEV_SOCKET="$WORK/run/mydevd.sock"
cat >"$WORK/mydevd.conf" <<EOF
device { name: "mydev1" afpacket { interface: "$NEAR" } $SHARE }
$DAEMON_EXTRA_CONF
EOF
start_daemon() {
  bench_daemon_start "$PREFIX/bin/mydevd" "$WORK/mydevd.conf" "$WORK/mydevd.log" || exit 1
}

# cpu_ns: "MACHINE BENCH", the schedstat run time (ns) summed over every task
# of the machine, and over this script's descendants and kernel threads.
cpu_ns() {
  python3 - "$$" <<'PY'
import os, sys
root = int(sys.argv[1])
parent, total = {}, {}
machine = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/stat") as f:
            parent[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        ns = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        continue
    total[int(pid)] = ns
    machine += ns
def ours(p):
    seen = 0
    while p > 1 and seen < 64:
        if p == root or p == 2:
            return True
        p = parent.get(p, 0)
        seen += 1
    return False
bench = sum(ns for p, ns in total.items() if p == 2 or ours(p))
print(machine, bench)
PY
}

# start_dumps MODE N: N tcpdumps, each waited for until it listens.
start_dumps() {
  local mode=$1 n=$2 i
  local -a bopt=()
  [[ -n "$BUFFER_KIB" ]] && bopt=(-B "$BUFFER_KIB")
  [[ -n "$FILTER" ]] && bopt+=("$FILTER")
  for i in $(seq "$n"); do
    if [[ $mode == direct ]]; then
      tcpdump -i "$NEAR" -n -w /dev/null "${bopt[@]}" 2>"$WORK/dump$i.err" &
    else
      # setpriv execs (runuser would stay between us and tcpdump's SIGINT)
      setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
        env "MYDEV_SOCKET=$MYDEV_SOCKET" "$PREFIX/bin/mydev-run" \
        tcpdump -i mydev1 -n -w /dev/null "${bopt[@]}" 2>"$WORK/dump$i.err" &
    fi
    dumps+=($!)
  done
  for i in $(seq "$n"); do
    for _ in $(seq 200); do grep -q "listening on" "$WORK/dump$i.err" 2>/dev/null && break; sleep 0.05; done
    grep -q "listening on" "$WORK/dump$i.err" || {
      echo "fanout_cpu.sh: tcpdump $i ($mode) did not start:" >&2
      cat "$WORK/dump$i.err" >&2
      exit 1
    }
  done
  sleep 0.5
}

# sum_stat N WORDS [max]: the sum (or the largest) over the tcpdumps' reports
# of "X WORDS".
sum_stat() {
  local n=$1 words=$2 how=${3:-sum} i s=0 v
  for i in $(seq "$n"); do
    v=$(sed -nE "s/^([0-9]+) $words.*/\1/p" "$WORK/dump$i.err" | head -1)
    if [[ $how == max ]]; then ((${v:-0} > s)) && s=${v:-0}; else s=$((s + ${v:-0})); fi
  done
  echo "$s"
}

# measure MODE N: prints "ns_per_pkt_machine ns_per_pkt_bench delivered sent_pps
# dropped_by_kernel (all tcpdumps) dropped_by_interface (the device's)".
measure() {
  local mode=$1 n=$2
  [[ $mode == mydev ]] && start_daemon
  start_dumps "$mode" "$n"
  local before after sender_s
  before=$(cpu_ns)
  TIMEFORMAT='%3U %3S'
  { time ip netns exec "$NS" "$WORK/packet_sender" --ifname "$FAR" --seconds "$SECS" \
      --size "$SIZE" --pps "$PPS" >"$WORK/sender.out"; } 2>"$WORK/sender.time"
  sleep 1  # the readers drain their rings
  after=$(cpu_ns)
  stop_dumps
  [[ $mode == mydev ]] && bench_daemon_stop
  sender_s=$(awk '{print $1 + $2}' "$WORK/sender.time")
  local captured kdrop idrop pps
  captured=$(sum_stat "$n" "packets captured")
  kdrop=$(sum_stat "$n" "packets dropped by kernel")
  # The device's (or the interface's) drops, which every tcpdump reports: the largest.
  idrop=$(sum_stat "$n" "packets dropped by interface" max)
  pps=$(sed -nE 's/.*pps=([0-9]+).*/\1/p' "$WORK/sender.out")
  python3 - "$before" "$after" "$sender_s" "$captured" "$pps" "$kdrop" "$idrop" <<'PY'
import sys
b_m, b_b, a_m, a_b = map(int, (sys.argv[1].split() + sys.argv[2].split()))
sender = float(sys.argv[3]) * 1e9
cap = max(1, int(sys.argv[4]))
print(f"{(a_m - b_m + sender) / cap:.1f} {(a_b - b_b + sender) / cap:.1f} {sys.argv[4]} "
      f"{sys.argv[5]} {sys.argv[6]} {sys.argv[7]}")
PY
}

echo "CPU per delivered packet; $SIZE B frames, ${PPS/#0/max} pps, ${SECS} s per run," \
  "tcpdump -w /dev/null${BUFFER_KIB:+ -B $BUFFER_KIB}${FILTER:+ '$FILTER'}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-4s %-3s %-7s %12s %12s %11s %10s %12s %12s\n" run N mode "ns/pkt mach" "ns/pkt bench" \
  delivered "sent pps" "drop kernel" "drop iface"
declare -A res
for run in $(seq "$RUNS"); do
  for n in $NS_LIST; do
    for mode in $MODES; do
      read -r m b cap pps kd id < <(measure "$mode" "$n")
      printf "%-4s %-3s %-7s %12s %12s %11s %10s %12s %12s\n" "$run" "$n" "$mode" "$m" "$b" \
        "$cap" "$pps" "$kd" "$id"
      res[$mode,$n,$run]="$m $b"
    done
  done
done

# summary NAME VALUES...: min/median/max
summary() {
  local name=$1
  shift
  sort -g <<<"$(printf "%s\n" "$@")" |
    awk -v n="$name" '{v[NR]=$1} END {printf "%-34s min %8.3f  median %8.3f  max %8.3f\n", n, v[1], v[int((NR+1)/2)], v[NR]}'
}
echo
echo "over $RUNS runs (ns per delivered packet; ratio = mydev / direct, same run):"
for n in $NS_LIST; do
  for scope in 1 2; do
    name=$([[ $scope == 1 ]] && echo machine || echo bench)
    for mode in $MODES; do
      vals=()
      for run in $(seq "$RUNS"); do vals+=("$(cut -d' ' -f$scope <<<"${res[$mode,$n,$run]}")"); done
      summary "N=$n $mode ($name)" "${vals[@]}"
    done
    if [[ $MODES == *direct* && $MODES == *mydev* ]]; then
      vals=()
      for run in $(seq "$RUNS"); do
        d=$(cut -d' ' -f$scope <<<"${res[direct,$n,$run]}")
        m=$(cut -d' ' -f$scope <<<"${res[mydev,$n,$run]}")
        vals+=("$(echo "$m / $d" | bc -l)")
      done
      summary "N=$n ratio ($name)" "${vals[@]}"
    fi
  done
done

if [[ -n "$PROFILE" ]]; then
  mkdir -p "$PROFILE"
  echo
  echo "profiles (perf record -a -g -F 1999 over the sending, through mydev):"
  for n in $NS_LIST; do
    start_daemon
    start_dumps mydev "$n"
    ip netns exec "$NS" "$WORK/packet_sender" --ifname "$FAR" --seconds "$((SECS + 1))" \
      --size "$SIZE" --pps "$PPS" >/dev/null &
    sender=$!
    sleep 0.5
    data="$PROFILE/perf-mydev-n$n.data"
    perf record -q -a -g -F 1999 -o "$data" -- sleep "$((SECS - 1))" 2>/dev/null
    wait "$sender"
    dl="$(IFS=,; echo "${dumps[*]}")"
    dd=$daemon
    ours="$dd,$sender,$dl"
    stop_dumps
    bench_daemon_stop
    # perf sorts threads by tid; a process's threads are summed with --sort comm.
    echo "--- N=$n: this benchmark's processes, percent of their samples"
    perf report -q -i "$data" --no-children --pid "$ours" --percentage relative --sort comm \
      -g none 2>/dev/null | grep -v "^$" | head -6 || true
    echo "--- N=$n: mydevd's symbols, percent of mydevd's samples"
    perf report -q -i "$data" --no-children --pid "$dd" --percentage relative --sort dso,sym \
      -g none --percent-limit 1 2>/dev/null | grep -v "^$" | head -20 || true
    echo "--- N=$n: the sender's (softirq included) symbols, percent of its samples"
    perf report -q -i "$data" --no-children --pid "$sender" --percentage relative --sort sym \
      -g none --percent-limit 2 2>/dev/null | grep -v "^$" | head -12 || true
    echo "--- N=$n: the tcpdumps' symbols, percent of their samples"
    perf report -q -i "$data" --no-children --pid "$dl" \
      --percentage relative --sort dso,sym -g none --percent-limit 2 2>/dev/null |
      grep -v '^$' | head -12 || true
  done
fi
