#!/bin/bash
# prefilter.sh — the kernel pre-filter (issue 11, items 4 and 5), measured on
# a veth pair into a network namespace of this script's own, the far end
# sending UDP (tools/bench/packet_sender) at a fixed rate and at its maximum:
#
#   1. 4 capture sessions, each selecting ~1.2% of the traffic (disjoint
#      `udp[8] < 3`, ... on the sender's sequence number), as 4 tcpdumps
#      opening the veth directly (Debian's libpcap: the kernel filters per
#      socket) and as 4 tcpdumps through mydevd's afpacket device (as nobody,
#      via mydev-run: the kernel holds the union, the daemon filters per
#      session). CPU of the whole machine while sending at PPS, less the CPU
#      of the same sending with nobody listening, per delivered packet.
#   2. An idle mydevd (the afpacket device open, no session): its CPU per
#      offered packet at PPS, and the sender's top rate (--pps 0) with and
#      without it (before the pre-filter: 0.65 us per packet, 512 -> 411 kpps).
#
# CPU is the scheduler run time (/proc/PID/task/*/schedstat, first field) of
# the sender (on veth the receiving side's softirq work runs in its context),
# ksoftirqd, mydevd and the tcpdumps, between two snapshots taken while the
# traffic flows (not the whole machine: other builds share it). Each
# run measures everything once; the script prints every run, then
# min/median/max over the runs.
#
#   sudo ./tools/bench/prefilter.sh                    # 3 runs, 200 kpps, 5 s each, 64 B
#   RUNS=5 PPS=100000 SECONDS_PER_RUN=5 SIZE=64 sudo -E ./tools/bench/prefilter.sh
#
# Needs root (namespace, veth pair, direct captures). Everything it makes
# (namespace, veth pair, daemon, temp dir) is removed on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${RUNS:-3}"
PPS="${PPS:-200000}"
SECS="${SECONDS_PER_RUN:-5}"
SIZE="${SIZE:-64}"
cd "$ROOT"
[[ $(id -u) -eq 0 ]] || { echo "prefilter.sh: run as root" >&2; exit 1; }

./tools/bootstrap.sh
WORK="$(mktemp -d /tmp/mydev-prefilter.XXXXXX)"
chmod 755 "$WORK"
./tools/install.sh "$WORK/prefix" >/dev/null
bazel build --noshow_progress //tools/bench:packet_sender 2>/dev/null
BIN="$(bazel info bazel-bin 2>/dev/null)"
install -m 0755 "$BIN/tools/bench/packet_sender" "$WORK/"

source "$ROOT/tools/bench/bench_lib.sh"
daemon=""
declare -a dumps=()
cleanup() {
  for p in "${dumps[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  bench_daemon_stop
  bench_veth_down
  rm -rf "$WORK"
}
trap cleanup EXIT
bench_veth_up pf

export MYDEV_SOCKET="$WORK/run/mydevd.sock"
cat >"$WORK/mydevd.conf" <<EOF
device { name: "mydev1" afpacket { interface: "$NEAR" } }
EOF
start_daemon() {
  bench_daemon_start "$WORK/prefix/bin/mydevd" "$WORK/mydevd.conf" "$WORK/mydevd.log" || exit 1
}
# The device's kv line (packets it took from the kernel, its kernel filter).
device_kv() { "$WORK/prefix/bin/mydevctl" devices --format=kv | grep '^device name=mydev1'; }
kv() { sed -E "s/.* $1=([^ ]*).*/\1/" <<<"$2"; }

# Nanoseconds the tasks that do the work have run so far, summed: every
# thread of the sender (on veth the receiving side's softirq runs in its
# context), of mydevd, of the tcpdumps, and of ksoftirqd. Other tasks are
# left out: other builds run on the machine, and processes that end between
# two snapshots would take their time with them.
# Prints three sums: "kernel daemon captures" — the sender and ksoftirqd
# (where the kernel's receive path and its socket filters run), mydevd, the
# tcpdumps.
snapshot() {
  local sender=$1 p
  sum() { for p in "$@"; do cat /proc/"$p"/task/[0-9]*/schedstat 2>/dev/null || true; done |
    awk '{s += $1} END {printf "%.0f", s}'; }
  local caps=()
  for p in "${dumps[@]}"; do caps+=("$p" $(pgrep -P "$p" || true)); done
  echo "$(sum "$sender" $(pgrep -x 'ksoftirqd/[0-9]+' || true)) $(sum $daemon) $(sum "${caps[@]}")"
}
# send PPS: runs the sender for SECS seconds; prints "kernel_ns daemon_ns
# captures_ns sent pps", the CPU measured from 0.5 s after its start to 0.5 s
# before its end and `sent` scaled to that window.
send() {
  local pps=$1 out="$WORK/sender.out"
  ip netns exec "$NS" "$WORK/packet_sender" --ifname "$FAR" --seconds "$SECS" --size "$SIZE" \
    --pps "$pps" >"$out" &
  local pid=$!
  sleep 0.5
  local a b
  read -r -a a <<<"$(snapshot "$pid")"
  sleep "$(echo "$SECS - 1" | bc -l)"
  read -r -a b <<<"$(snapshot "$pid")"
  wait "$pid"
  local sent
  sent=$(sed -E 's/.*sent=([0-9]+).*/\1/' "$out")
  echo "$((b[0] - a[0])) $((b[1] - a[1])) $((b[2] - a[2])) $((sent * (SECS - 1) / SECS))" \
    "$(sed -E 's/.*pps=([0-9]+).*/\1/' "$out")"
}
filters=("udp[8] < 3" "udp[8] >= 64 and udp[8] < 67" "udp[8] >= 128 and udp[8] < 131"
  "udp[8] >= 192 and udp[8] < 195")
# capture KIND: 4 tcpdumps (direct on the veth, or through mydev1), traffic
# at PPS; prints send's line and the packets the tcpdumps captured (scaled to
# the window).
capture() {
  local kind=$1 i
  dumps=()
  for i in 0 1 2 3; do
    if [[ "$kind" == direct ]]; then
      tcpdump -i "$NEAR" -n -s 262144 -w /dev/null "${filters[$i]}" 2>"$WORK/dump$i.err" &
    else
      runuser -u nobody -- env "MYDEV_SOCKET=$MYDEV_SOCKET" "$WORK/prefix/bin/mydev-run" \
        tcpdump -i mydev1 -n -s 262144 -w /dev/null "${filters[$i]}" 2>"$WORK/dump$i.err" &
    fi
    dumps+=($!)
  done
  for i in 0 1 2 3; do
    for _ in $(seq 200); do grep -q "listening on" "$WORK/dump$i.err" 2>/dev/null && break; sleep 0.05; done
  done
  local r
  r=$(send "$PPS")
  sleep 0.3
  # SIGINT to each tcpdump (runuser does not pass it on to its child).
  for p in "${dumps[@]}"; do kill -INT "$p" $(pgrep -P "$p") 2>/dev/null || true; done
  for p in "${dumps[@]}"; do wait "$p" 2>/dev/null || true; done
  dumps=()
  local delivered=0 n
  for i in 0 1 2 3; do
    n=$(sed -nE 's/^([0-9]+) packets? captured.*/\1/p' "$WORK/dump$i.err")
    delivered=$((delivered + ${n:-0}))
  done
  echo "$r $((delivered * (SECS - 1) / SECS))"
}
f() { echo "scale=4; $1" | bc -l; }

echo "kernel pre-filter: $PPS pps, $SIZE B, ${SECS} s per measurement; 4 sessions of ~1.2% each"
declare -a base_us idle_daemon idle_kernel direct_cap direct_kernel direct_total mydev_cap \
  mydev_kernel mydev_total ratio max_alone max_idle max_ratio seen_frac
for run in $(seq "$RUNS"); do
  bench_daemon_stop
  read -r k0 _ _ s0 _ <<<"$(send "$PPS")"
  read -r kd _ cd sd _ dd <<<"$(capture direct)"
  read -r _ _ _ _ top_alone <<<"$(send 0)"
  start_daemon
  read -r ki di _ si _ <<<"$(send "$PPS")"
  before=$(kv packets "$(device_kv)")
  read -r km dm cm sm _ dl <<<"$(capture mydev)"
  after=$(kv packets "$(device_kv)")
  read -r _ _ _ _ top_idle <<<"$(send 0)"
  state=$(device_kv)
  b="($k0 / $s0)"  # the kernel side's ns per packet with nobody listening
  base_us+=("$(f "$k0 / $s0 / 1000")")
  idle_daemon+=("$(f "$di / $si / 1000")")
  idle_kernel+=("$(f "($ki / $si - $b) / 1000")")
  direct_cap+=("$(f "$cd / $dd / 1000")")
  direct_kernel+=("$(f "($kd / $sd - $b) / 1000")")
  direct_total+=("$(f "($kd - $b * $sd + $cd) / $dd / 1000")")
  mydev_cap+=("$(f "($dm + $cm) / $dl / 1000")")
  mydev_kernel+=("$(f "($km / $sm - $b) / 1000")")
  mydev_total+=("$(f "($km - $b * $sm + $dm + $cm) / $dl / 1000")")
  ratio+=("$(f "${mydev_total[-1]} / ${direct_total[-1]}")")
  max_alone+=("$top_alone") max_idle+=("$top_idle")
  max_ratio+=("$(f "$top_idle / $top_alone")")
  seen_frac+=("$(f "($after - $before) / ($sm * $SECS / ($SECS - 1))")")
  printf "run %d: kernel side alone %.3f us/pkt; idle mydevd: daemon %.4f, kernel side %+.3f" \
    "$run" "${base_us[-1]}" "${idle_daemon[-1]}" "${idle_kernel[-1]}"
  printf " us/offered pkt\n  direct: tcpdumps %.3f us/delivered, kernel side %+.3f us/offered," \
    "${direct_cap[-1]}" "${direct_kernel[-1]}"
  printf " all %.3f us/delivered (%d delivered)\n" "${direct_total[-1]}" "$dd"
  printf "  mydev: mydevd+tcpdumps %.3f us/delivered, kernel side %+.3f us/offered," \
    "${mydev_cap[-1]}" "${mydev_kernel[-1]}"
  printf " all %.3f us/delivered (%d delivered; the device took %.2f%% of the traffic)\n" \
    "${mydev_total[-1]}" "$dl" "$(f "${seen_frac[-1]} * 100")"
  printf "  top rate %d pps alone, %d with idle mydevd (%s)\n" "$top_alone" "$top_idle" \
    "$(grep -oE 'kernel_filter=[^ ]* kernel_filter_insns=[^ ]*' <<<"$state")"
done 2>&1

# summary NAME VALUES...: min/median/max
summary() {
  local name=$1
  shift
  sort -g <<<"$(printf "%s\n" "$@")" |
    awk -v n="$name" '{v[NR]=$1} END {printf "%-44s min %10.3f  median %10.3f  max %10.3f\n", n, v[1], v[int((NR+1)/2)], v[NR]}'
}
echo
echo "over $RUNS runs (us = microseconds of CPU; kernel side = sender + ksoftirqd):"
summary "kernel side alone, per sent packet (us)" "${base_us[@]}"
summary "idle mydevd: daemon, per offered packet (us)" "${idle_daemon[@]}"
summary "idle mydevd: kernel side, per offered (us)" "${idle_kernel[@]}"
summary "direct: tcpdumps, per delivered (us)" "${direct_cap[@]}"
summary "direct: kernel side, per offered (us)" "${direct_kernel[@]}"
summary "direct: all, per delivered (us)" "${direct_total[@]}"
summary "mydev: mydevd + tcpdumps, per delivered (us)" "${mydev_cap[@]}"
summary "mydev: kernel side, per offered (us)" "${mydev_kernel[@]}"
summary "mydev: all, per delivered (us)" "${mydev_total[@]}"
summary "ratio mydev / direct, all per delivered" "${ratio[@]}"
summary "share of traffic leaving the kernel (mydev)" "${seen_frac[@]}"
summary "sender top rate alone (pps)" "${max_alone[@]}"
summary "sender top rate, idle mydevd up (pps)" "${max_idle[@]}"
summary "ratio top rate idle / alone" "${max_ratio[@]}"
