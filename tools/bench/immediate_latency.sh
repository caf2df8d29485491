#!/bin/bash
# immediate_latency.sh — immediate mode, mydev against a direct capture: how
# late a libpcap program in immediate mode sees a packet (packet timestamp to
# callback, tools/bench/latency_probe.c), once on Debian's libpcap directly on
# a veth interface (as root) and once through mydevd's afpacket device on the
# same interface (the module-enabled libpcap via mydev-run, as nobody). The far
# end of the veth pair, in a network namespace of this script's own, sends
# UDP at a fixed rate (tools/bench/packet_sender). Each run measures both, one
# after the other; the script prints every run, then min/median/max over the
# runs of p50, p99 and the ratios mydev / direct.
#
#   sudo ./tools/bench/immediate_latency.sh            # 3 runs, 1000 pps, 5 s each
#   RUNS=5 PPS=1000 SECONDS_PER_RUN=5 BLOCK_TIMEOUT_MS=10 sudo -E ./tools/bench/immediate_latency.sh
#   DEVICE=synthetic sudo ./tools/bench/immediate_latency.sh   # also mydev0 (synthetic, PPS)
#                                                              # and mydev2 (replay of a file at PPS)
#   BUSY_POLL=0 sudo ./tools/bench/immediate_latency.sh        # skip the busy-polling device
#
# Besides mydev1 (the afpacket device as configured by default), each run
# also probes mydev3: the same interface with afpacket.busy_poll (the
# SCHED_IDLE poller; BUSY_POLL=1, the default).
#
# Needs root (namespace, veth pair, the direct capture). Everything it makes
# (namespace, veth pair, daemon, temp dir) is removed on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${RUNS:-3}"
PPS="${PPS:-1000}"
SECS="${SECONDS_PER_RUN:-5}"
BLOCK_TIMEOUT_MS="${BLOCK_TIMEOUT_MS:-0}"  # 0 = the daemon's default (10)
SIZE="${SIZE:-64}"
BUSY_POLL="${BUSY_POLL:-1}"  # 1: also mydev3, afpacket.busy_poll; 0: no mydev3
cd "$ROOT"
[[ $(id -u) -eq 0 ]] || { echo "immediate_latency.sh: run as root" >&2; exit 1; }

./tools/bootstrap.sh
WORK="$(mktemp -d /tmp/mydev-latency.XXXXXX)"
chmod 755 "$WORK"
./tools/install.sh "$WORK/prefix" >/dev/null
bazel build --noshow_progress //tools/bench:latency_probe //tools/bench:packet_sender 2>/dev/null
BIN="$(bazel info bazel-bin 2>/dev/null)"
install -m 0755 "$BIN/tools/bench/latency_probe" "$BIN/tools/bench/packet_sender" "$WORK/"

source "$ROOT/tools/bench/bench_lib.sh"
daemon=""
cleanup() {
  bench_daemon_stop
  bench_veth_down
  rm -rf "$WORK"
}
trap cleanup EXIT
bench_veth_up lat

export MYDEV_SOCKET="$WORK/run/mydevd.sock"
timeout_field=""
[[ "$BLOCK_TIMEOUT_MS" != 0 ]] && timeout_field="block_timeout_ms: $BLOCK_TIMEOUT_MS"
# A pcap file of 64-byte UDP frames PPS a second apart, for the replay device.
python3 - "$WORK/replay.pcap" "$PPS" <<'PY'
import struct, sys
path, pps = sys.argv[1], int(sys.argv[2])
frame = bytes(12) + b"\x08\x00" + bytes(50)
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, 1))  # nanosecond pcap
    for i in range(pps * 2):
        ns = i * 1_000_000_000 // pps
        f.write(struct.pack("<IIII", ns // 10**9, ns % 10**9, len(frame), len(frame)) + frame)
PY
chmod 644 "$WORK/replay.pcap"
cat > "$WORK/mydevd.conf" <<EOF
device { name: "mydev0" synthetic { rate_pps: $PPS } }
device { name: "mydev1" afpacket { interface: "$NEAR" $timeout_field } }
device { name: "mydev2" replay { path: "$WORK/replay.pcap" loop: true } }
EOF
if [[ "$BUSY_POLL" != 0 ]]; then
  echo "device { name: \"mydev3\" afpacket { interface: \"$NEAR\" $timeout_field busy_poll: true } }" >>"$WORK/mydevd.conf"
fi
bench_daemon_start "$WORK/prefix/bin/mydevd" "$WORK/mydevd.conf" "$WORK/mydevd.log"

count=$((PPS * SECS * 9 / 10))
# probe LABEL ARGV...: runs the probe while the far end sends; prints its line.
probe() {
  local label=$1 err="$WORK/probe.err" out="$WORK/probe.out"
  shift
  local cpu0 t0 cpu1 t1
  cpu0=$(daemon_cpu_ticks) t0=$(date +%s.%N)
  "$@" --count "$count" --seconds $((SECS + 5)) >"$out" 2>"$err" &
  local pid=$!
  for _ in $(seq 200); do grep -q "listening on" "$err" 2>/dev/null && break; sleep 0.05; done
  if [[ "$label" == direct || "$label" == mydev || "$label" == busy-poll ]]; then
    ip netns exec "$NS" "$WORK/packet_sender" --ifname "$FAR" --seconds "$SECS" --size "$SIZE" \
      --pps "$PPS" >/dev/null
  fi
  if ! wait "$pid"; then
    echo "immediate_latency.sh: the $label probe failed:" >&2
    cat "$err" >&2
    tail -20 "$WORK/mydevd.log" >&2
    exit 1
  fi
  cpu1=$(daemon_cpu_ticks) t1=$(date +%s.%N)
  # The line goes to stdout (the caller keeps it) and, as the run's log, to
  # our stderr as it is (tee /dev/stderr would reopen a redirected file and
  # truncate it).
  local line
  line=$(printf "%-10s %s mydevd_cpu=%.0f%%" "$label" "$(cat "$out")" \
    "$(echo "($cpu1 - $cpu0) / $(getconf CLK_TCK) / ($t1 - $t0) * 100" | bc -l)")
  echo "$line" >&2
  echo "$line"
}
# mydevd's user + system time so far, in clock ticks (/proc/PID/stat).
daemon_cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
field() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$2"; }

as_nobody=(runuser -u nobody -- env "MYDEV_SOCKET=$MYDEV_SOCKET" "$WORK/prefix/bin/mydev-run")
filter=(--filter "udp port 9")
echo "immediate mode, packet timestamp -> callback; $PPS pps, $SIZE B, ${SECS} s per run," \
  "block_timeout_ms ${BLOCK_TIMEOUT_MS/#0/10 (default)}"
declare -a d50 d99 m50 m99 r50 r99 s50 s99 p50 p99 b50 b99 q50 q99
for run in $(seq "$RUNS"); do
  echo "run $run"
  d=$(probe direct "$WORK/latency_probe" --interface "$NEAR" "${filter[@]}")
  m=$(probe mydev "${as_nobody[@]}" "$WORK/latency_probe" --interface mydev1 "${filter[@]}")
  d50+=("$(field p50_us "$d")") d99+=("$(field p99_us "$d")")
  m50+=("$(field p50_us "$m")") m99+=("$(field p99_us "$m")")
  r50+=("$(echo "${m50[-1]} / ${d50[-1]}" | bc -l)") r99+=("$(echo "${m99[-1]} / ${d99[-1]}" | bc -l)")
  if [[ "$BUSY_POLL" != 0 ]]; then
    b=$(probe busy-poll "${as_nobody[@]}" "$WORK/latency_probe" --interface mydev3 "${filter[@]}")
    b50+=("$(field p50_us "$b")") b99+=("$(field p99_us "$b")")
    q50+=("$(echo "${b50[-1]} / ${d50[-1]}" | bc -l)") q99+=("$(echo "${b99[-1]} / ${d99[-1]}" | bc -l)")
  fi
  if [[ "${DEVICE:-}" == synthetic ]]; then
    s=$(probe synthetic "${as_nobody[@]}" "$WORK/latency_probe" --interface mydev0)
    s50+=("$(field p50_us "$s")") s99+=("$(field p99_us "$s")")
    s=$(probe replay "${as_nobody[@]}" "$WORK/latency_probe" --interface mydev2)
    p50+=("$(field p50_us "$s")") p99+=("$(field p99_us "$s")")
  fi
done 2>&1

# summary NAME VALUES...: min/median/max
summary() {
  local name=$1
  shift
  sort -g <<<"$(printf "%s\n" "$@")" |
    awk -v n="$name" '{v[NR]=$1} END {printf "%-24s min %9.2f  median %9.2f  max %9.2f\n", n, v[1], v[int((NR+1)/2)], v[NR]}'
}
echo
echo "over $RUNS runs (microseconds; ratios mydev / direct):"
summary "direct p50 (us)" "${d50[@]}"
summary "direct p99 (us)" "${d99[@]}"
summary "mydev p50 (us)" "${m50[@]}"
summary "mydev p99 (us)" "${m99[@]}"
summary "ratio p50" "${r50[@]}"
summary "ratio p99" "${r99[@]}"
if [[ "$BUSY_POLL" != 0 ]]; then
  echo "busy poller gave way (machine busy) $(grep -c "busy poller was off the CPU" \
    "$WORK/mydevd.log") times"
  summary "busy-poll p50 (us)" "${b50[@]}"
  summary "busy-poll p99 (us)" "${b99[@]}"
  summary "busy-poll ratio p50" "${q50[@]}"
  summary "busy-poll ratio p99" "${q99[@]}"
fi
if [[ "${DEVICE:-}" == synthetic ]]; then
  summary "synthetic p50 (us)" "${s50[@]}"
  summary "synthetic p99 (us)" "${s99[@]}"
  summary "replay p50 (us)" "${p50[@]}"
  summary "replay p99 (us)" "${p99[@]}"
fi
