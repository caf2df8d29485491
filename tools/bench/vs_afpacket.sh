#!/bin/bash
# vs_afpacket.sh — mydev against its peers: N tcpdumps (`-w /dev/null`) opening
# a veth interface directly (Debian's libpcap, AF_PACKET, as root), against N
# tcpdumps through mydevd's afpacket device on the same interface (the
# module-enabled libpcap via mydev-run, as nobody), against N rpcapd clients
# (rpcapd built from the project's libpcap source, tools/bench/build_rpcapd.sh;
# the client is tools/bench/rpcap_count.c). The far end of the veth pair, in a
# network namespace of the script's own, sends UDP frames
# (tools/bench/packet_sender) at fixed rates and at its maximum rate. For
# each cell (frame size, rate, N, peer) it reports the CPU the whole machine
# spent per delivered packet, the sender's rate and the drops; then the
# highest lossless rate for N = 4 at 1,500 B (doubling, then bisection); and
# min/median/max over the runs with the ratios mydev / direct and
# mydev / rpcapd (each run's own pair). Last, the issue's immediate-mode row:
# tools/bench/immediate_latency.sh with the same RUNS (IMMEDIATE=0 skips it).
#
#   sudo ./tools/bench/vs_afpacket.sh                      # 3 runs, 5 s a cell (~20 min)
#   sudo QUICK=1 ./tools/bench/vs_afpacket.sh              # smoke run: 1 run, 2 s, N = 1 4 (~3 min)
#   sudo RUNS=5 SECONDS_PER_RUN=5 N_LIST="1 2 4 8" SIZES="64 1500" RATES="0 100000" \
#        RPCAP_N="1 4" ./tools/bench/vs_afpacket.sh
#   sudo TCPDUMP_ARGS="-B 65536" LOSSLESS=0 RPCAP_N= ./tools/bench/vs_afpacket.sh
#   sudo SHARE_RINGS=1 N_LIST="1 4 8" SIZES=64 LOSSLESS=0 IMMEDIATE=0 RPCAP_N= \
#        ./tools/bench/vs_afpacket.sh
#
# Knobs: RUNS (3), SECONDS_PER_RUN (5), N_LIST ("1 2 4 8"), SIZES ("64 1500",
# frame bytes with the Ethernet header), RATES ("0 100000" pps, 0 = as fast as
# the sender goes), RPCAP_N (the N at which rpcapd is measured, "1 4"; empty:
# none), TCPDUMP_ARGS (added to every tcpdump), LOSSLESS (1: search),
# LOSSLESS_N (4), LOSSLESS_SIZE (1500), LOSSLESS_START (25000 pps),
# LOSSLESS_PROBES (8 per peer and run), LOSSLESS_SECONDS (3), IMMEDIATE (1),
# SHARE_RINGS (0; 1: mydev1 has `share_rings: true`, so the N tcpdumps, one
# user's, read one ring and each packet is copied once for all of them),
# AFPACKET_OPTS (more fields of mydev1's `afpacket { }`, e.g.
# "block_count: 32" for a 32 MiB kernel ring),
# QUICK=1 (RUNS=1, SECONDS_PER_RUN=2, N_LIST="1 4", RPCAP_N=1, 5 probes of
# 2 s, unless set). A lossless probe passes when no reader dropped, every
# reader captured every frame sent, and the sender reached 97% of the offered
# rate (on veth, direct listeners slow the sender down: a rate the machine
# cannot send while they listen is not one it captures).
#
# CPU, per cell (tools/bench/cpu_account.c): the scheduler runtime of every
# task on the machine between just before the sender starts and 300 ms after
# it ends (the readers drain; they are stopped 1.2 s later, once libpcap's
# 1000 ms block timeout has handed them the last packets), in ns — the root cpuacct cgroup's
# cpuacct.usage (exited tasks included), cross-checked against the sum of
# /proc/PID/task/TID/schedstat deltas (sampled every 250 ms) and /proc/stat.
# The kernel has no IRQ_TIME_ACCOUNTING, so the softirq work of delivering
# a veth frame to the packet sockets, done in the sender's sendmmsg, counts as
# the sender's runtime. "machine" is everything; "bench" is only this
# script's cpuacct cgroup (sender, tcpdumps, mydevd, rpcapd, clients) plus the
# kernel threads — the figure to read when others use the machine meanwhile.
# "tasks" is the schedstat sum, "(+A -G)" the tasks that appeared and went.
# "The capture's own" subtracts, per run and per frame size and rate, a cell
# with no reader at all (the sender alone: "none"), scaled to the frames each
# cell sent: the CPU the capture adds to sending the traffic. On veth the
# sender's part is most of the machine's, and the same for every peer.
# Delivered packets: the sum of the readers' "packets captured"; drops: the
# sum of "dropped by kernel" and "dropped by interface" (through mydev: the
# session's ring, and mydevd's own kernel ring; each reader reports the
# latter for the whole device, so the sum counts it once per reader). For
# mydev, the line also gives mydevd's CPU over the cell (schedstat of its
# threads: the busiest, the device's packet thread, and all). mydevd and rpcapd run
# only during their own cells (an idle mydevd with an afpacket device still
# copies every packet).
#
# Needs root. Everything it makes (namespace, veth pair, daemons, cgroup, temp
# dir) is removed on exit; the test traffic stays on the veth pair and
# rpcapd listens on 127.0.0.1 only (-n: no authentication, -l 127.0.0.1).
# rpcapd and its build are cached in ~/.cache/mydev-bench (MYDEV_BENCH_CACHE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ "${QUICK:-0}" == 1 ]]; then
  RUNS="${RUNS:-1}" SECONDS_PER_RUN="${SECONDS_PER_RUN:-2}" N_LIST="${N_LIST:-1 4}"
  RPCAP_N="${RPCAP_N-1}" LOSSLESS_PROBES="${LOSSLESS_PROBES:-5}"
  LOSSLESS_SECONDS="${LOSSLESS_SECONDS:-2}"
fi
RUNS="${RUNS:-3}"
SECS="${SECONDS_PER_RUN:-5}"
N_LIST="${N_LIST:-1 2 4 8}"
SIZES="${SIZES:-64 1500}"
RATES="${RATES:-0 100000}"
RPCAP_N="${RPCAP_N-1 4}"
TCPDUMP_ARGS="${TCPDUMP_ARGS:-}"
LOSSLESS="${LOSSLESS:-1}"
LOSSLESS_N="${LOSSLESS_N:-4}"
LOSSLESS_SIZE="${LOSSLESS_SIZE:-1500}"
LOSSLESS_START="${LOSSLESS_START:-25000}"
LOSSLESS_PROBES="${LOSSLESS_PROBES:-8}"
LOSSLESS_SECONDS="${LOSSLESS_SECONDS:-3}"
IMMEDIATE="${IMMEDIATE:-1}"
SHARE_RINGS="${SHARE_RINGS:-0}"
AFPACKET_OPTS="${AFPACKET_OPTS:-}"
cd "$ROOT"
[[ $(id -u) -eq 0 ]] || { echo "vs_afpacket.sh: run as root" >&2; exit 1; }

echo "vs_afpacket.sh: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs," \
  "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
./tools/bootstrap.sh
WORK="$(mktemp -d /tmp/mydev-vsaf.XXXXXX)"
chmod 755 "$WORK"
source "$ROOT/tools/bench/bench_lib.sh"
CG_BASE=/sys/fs/cgroup/cpuacct
CG=""
CG_HOME=""
daemon=""
rpcapd=""
readers=()
stop_readers() {
  local p
  for p in "${readers[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${readers[@]}"; do wait "$p" 2>/dev/null || true; done
  readers=()
}
stop_rpcapd() {
  # rpcapd ends with kill(0, SIGKILL): it runs in a session (and process group) of its own.
  if [[ -n "$rpcapd" ]]; then
    kill -TERM -- "-$rpcapd" 2>/dev/null || true
    wait "$rpcapd" 2>/dev/null || true
    rpcapd=""
  fi
}
cleanup() {
  set +e
  stop_readers
  bench_daemon_stop
  stop_rpcapd
  bench_veth_down
  if [[ -n "$CG" ]]; then
    echo $$ >"$CG_HOME/cgroup.procs"
    rmdir "$CG" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

./tools/install.sh "$WORK/prefix" >/dev/null
bazel build --noshow_progress //tools/bench:packet_sender //tools/bench:cpu_account 2>/dev/null
BIN="$(bazel info bazel-bin 2>/dev/null)"
install -m 0755 "$BIN/tools/bench/packet_sender" "$BIN/tools/bench/cpu_account" "$WORK/"
RPCAP_DIR=""
if [[ -n "$RPCAP_N" ]]; then
  RPCAP_DIR="$(./tools/bench/build_rpcapd.sh)"
fi

# This script and everything it starts from here on: one cpuacct cgroup.
if [[ -w "$CG_BASE" ]]; then
  CG_HOME="$CG_BASE$(awk -F: '$2 == "cpuacct" {print $3}' /proc/self/cgroup)"
  CG="$CG_BASE/mydev-vsaf.$$"
  mkdir "$CG"
  echo $$ >"$CG/cgroup.procs"
else
  echo "vs_afpacket.sh: no writable cpuacct cgroup at $CG_BASE: no 'bench' figure" >&2
fi

bench_veth_up af

export MYDEV_SOCKET="$WORK/run/mydevd.sock"
SHARE=""
[[ "$SHARE_RINGS" == 1 ]] && SHARE="share_rings: true"
cat >"$WORK/mydevd.conf" <<EOF
device { name: "mydev1" afpacket { interface: "$NEAR" $AFPACKET_OPTS } $SHARE }
EOF
RPCAP_PORT=$((20000 + $$ % 20000))
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --)
read -r -a TD_ARGS <<<"$TCPDUMP_ARGS"

start_daemon() {
  bench_daemon_start "$WORK/prefix/bin/mydevd" "$WORK/mydevd.conf" "$WORK/mydevd.log" || exit 1
}
start_rpcapd() {
  while ss -Hltn "sport = :$RPCAP_PORT" | grep -q .; do RPCAP_PORT=$((RPCAP_PORT + 1)); done
  setsid "$RPCAP_DIR/rpcapd" -n -b 127.0.0.1 -p "$RPCAP_PORT" -l 127.0.0.1 \
    >"$WORK/rpcapd.log" 2>&1 &
  rpcapd=$!
  for _ in $(seq 200); do
    kill -0 "$rpcapd" 2>/dev/null || break
    ss -Hltn "sport = :$RPCAP_PORT" | grep -q . && return
    sleep 0.05
  done
  echo "vs_afpacket.sh: rpcapd did not listen on 127.0.0.1:$RPCAP_PORT:" >&2
  cat "$WORK/rpcapd.log" >&2
  exit 1
}

# start_readers PEER N: N capture clients on the veth's near end; waits until
# each says it listens.
start_readers() {
  local peer=$1 n=$2 i
  for i in $(seq "$n"); do
    local err="$WORK/reader.$i.err"
    : >"$err"
    case "$peer" in
    direct) tcpdump -i "$NEAR" -n -w /dev/null "${TD_ARGS[@]}" 2>"$err" & ;;
    mydev)
      "${AS_NOBODY[@]}" env "MYDEV_SOCKET=$MYDEV_SOCKET" "$WORK/prefix/bin/mydev-run" \
        tcpdump -i mydev1 -n -w /dev/null "${TD_ARGS[@]}" 2>"$err" &
      ;;
    rpcapd)
      "$RPCAP_DIR/rpcap_count" --source "rpcap://127.0.0.1:$RPCAP_PORT/$NEAR" 2>"$err" &
      ;;
    esac
    readers+=($!)
  done
  for i in $(seq "$n"); do
    for _ in $(seq 300); do grep -q "listening on" "$WORK/reader.$i.err" && break; sleep 0.05; done
    grep -q "listening on" "$WORK/reader.$i.err" || {
      echo "vs_afpacket.sh: $peer reader $i did not start:" >&2
      cat "$WORK/reader.$i.err" >&2
      [[ $peer == mydev ]] && tail -20 "$WORK/mydevd.log" >&2
      [[ $peer == rpcapd ]] && tail -20 "$WORK/rpcapd.log" >&2
      exit 1
    }
  done
  sleep 0.3
}

kv() { sed -E -n "s/.*(^| )$1=(-?[0-9.]+).*/\2/p" <<<"$2"; }
# per_pkt NS PACKETS: microseconds per packet, or "nan".
per_pkt() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0 && c >= 0) printf "%.3f", c / n / 1000; else print "nan" }'; }

# daemon_threads: "TID RUNTIME_NS" for each thread of mydevd (schedstat).
daemon_threads() {
  local t
  for t in /proc/"$daemon"/task/*; do
    echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)"
  done
}
# daemon_cpu BEFORE AFTER WALL_NS: mydevd's busiest thread and all its
# threads over the cell, in % of one CPU.
daemon_cpu() {
  awk -v w="$3" 'FNR == NR { t0[$1] = $2; next }
    { d = $2 - t0[$1]; s += d; if (d > m) m = d }
    END { printf "busiest thread %.0f%% of a CPU, all %.0f%%", 100 * m / w, 100 * s / w }' "$1" "$2"
}

# cell PEER N SIZE PPS SECONDS: one measurement; sets C_SENT C_SENT_PPS
# C_DELIVERED C_DROPS C_MACHINE C_BENCH C_STAT (us per delivered packet) and
# prints a line.
cell() {
  local peer=$1 n=$2 size=$3 pps=$4 secs=$5
  case "$peer" in
  mydev) start_daemon ;;
  rpcapd) start_rpcapd ;;
  esac
  start_readers "$peer" "$n"
  local t0_ns
  t0_ns=$(date +%s%N)
  [[ $peer == mydev ]] && daemon_threads >"$WORK/daemon.0"
  "$WORK/cpu_account" ${CG:+--bench-cgroup "$CG"} --tail-ms 300 --sample-ms 250 \
    --out "$WORK/cpu" -- ip netns exec "$NS" "$WORK/packet_sender" --ifname "$FAR" \
    --seconds "$secs" --size "$size" --pps "$pps" >"$WORK/sent"
  local daemon_line=""
  if [[ $peer == mydev ]]; then
    daemon_threads >"$WORK/daemon.1"
    daemon_line=" | mydevd: $(daemon_cpu "$WORK/daemon.0" "$WORK/daemon.1" $(($(date +%s%N) - t0_ns)))"
  fi
  # Debian's libpcap hands a TPACKET_V3 block over when full or after the
  # read timeout (tcpdump: 1000 ms): the readers count their last packets only
  # then. (Their CPU for those few is after the window; one block at most.)
  sleep 1.2
  stop_readers
  bench_daemon_stop
  stop_rpcapd
  local cpu sent i captured=0 drops=0 kdrops=0 c k f
  cpu=$(cat "$WORK/cpu")
  sent=$(cat "$WORK/sent")
  for i in $(seq "$n"); do
    f="$WORK/reader.$i.err"
    c=$(awk '/packets captured/ {print $1}' "$f")
    [[ -n "$c" ]] || { echo "vs_afpacket.sh: $peer reader $i reported nothing:" >&2; cat "$f" >&2; exit 1; }
    k=$(awk '/dropped by (kernel|interface)/ {s += $1} END {print s + 0}' "$f")
    captured=$((captured + c)) drops=$((drops + k))
    kdrops=$((kdrops + $(awk '/dropped by kernel/ {s += $1} END {print s + 0}' "$f")))
  done
  C_SENT=$(kv sent "$sent") C_SENT_PPS=$(kv pps "$sent")
  C_DELIVERED=$captured C_DROPS=$drops
  C_MACHINE_NS=$(kv machine_ns "$cpu")
  C_MACHINE=$(per_pkt "$C_MACHINE_NS" "$captured")
  C_BENCH=$(per_pkt "$(kv bench_ns "$cpu")" "$captured")
  C_STAT=$(per_pkt "$(kv stat_busy_ns "$cpu")" "$captured")
  C_TASKS=$(per_pkt "$(kv tasks_ns "$cpu")" "$captured")
  local wall_s
  wall_s=$(awk -v w="$(kv wall_ns "$cpu")" 'BEGIN {print w / 1e9}')
  printf "  %-6s N=%d %5s B %7s: sent %8d (%6.0f pps) delivered %9d drops %8d (%5.2f%%; by kernel %d, by interface %d)" \
    "$peer" "$n" "$size" "$([[ $pps == 0 ]] && echo max || echo "$pps")" "$C_SENT" "$C_SENT_PPS" \
    "$C_DELIVERED" "$C_DROPS" "$(awk -v d="$C_DROPS" -v c="$C_DELIVERED" 'BEGIN {printf "%.2f", (d + c) ? 100 * d / (d + c) : 0}')" \
    "$kdrops" "$((C_DROPS - kdrops))"
  printf " | us/pkt machine %s bench %s tasks %s (+%s -%s) /proc/stat %s | %.0f%% of the CPUs (machine)%s\n" \
    "$C_MACHINE" "$C_BENCH" "$C_TASKS" "$(kv appeared "$cpu")" "$(kv gone "$cpu")" "$C_STAT" \
    "$(awk -v c="$(kv machine_ns "$cpu")" -v w="$wall_s" -v p="$(nproc)" 'BEGIN {print 100 * c / 1e9 / w / p}')" \
    "$daemon_line"
}

peers_at() { # peers_at N: the peers measured at that N
  local n=$1
  echo direct mydev
  [[ " $RPCAP_N " == *" $n "* && -n "$RPCAP_DIR" ]] && echo rpcapd
  true
}

# shellcheck disable=SC2034  # filled through add's nameref
declare -A M B RM RB # machine/bench us/pkt and ratios, "key" -> "v1 v2 ..."
declare -A MC RMC    # the capture's own: machine minus the traffic with no reader
# own_per_pkt NS SENT DELIVERED: the capture's own CPU per delivered packet, us:
# the cell's machine CPU less what the same traffic cost with no reader at
# all (the "none" cell of the run, NONE_NS for NONE_SENT frames, scaled to
# SENT frames).
own_per_pkt() {
  awk -v c="$1" -v s="$2" -v d="$3" -v n0="$NONE_NS" -v s0="$NONE_SENT" \
    'BEGIN { if (d > 0 && s0 > 0) printf "%.3f", (c - n0 * s / s0) / d / 1000; else print "nan" }'
}
declare -A SPPS DROP # sender pps, drop % per key
declare -A LOSSLESS_R LOSSLESS_ACH
add() { # add ARRAY KEY VALUE
  local -n a=$1
  a[$2]="${a[$2]:-} $3"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.3f", a / b; else print "nan" }'; }

# probe PEER N SIZE PPS: one lossless probe; 0 when lossless at that rate.
probe_lossless() {
  local peer=$1 n=$2 size=$3 pps=$4
  cell "$peer" "$n" "$size" "$pps" "$LOSSLESS_SECONDS" >&2
  awk -v s="$C_SENT" -v sp="$C_SENT_PPS" -v d="$C_DELIVERED" -v dr="$C_DROPS" -v n="$n" -v r="$pps" \
    'BEGIN { exit !(dr == 0 && d >= n * s && sp >= 0.97 * r) }'
}
# search PEER: highest lossless offered rate (doubling, then bisection); sets
# S_LO (the highest lossless offered rate, 0: none), S_ACH (the sender's rate
# there) and S_HI (the lowest rate that lost, 0: none found).
search_lossless() {
  local peer=$1 lo=0 hi=0 r=$LOSSLESS_START probes=0 ach=0
  while ((probes < LOSSLESS_PROBES)); do
    probes=$((probes + 1))
    if probe_lossless "$peer" "$LOSSLESS_N" "$LOSSLESS_SIZE" "$r"; then
      lo=$r ach=$C_SENT_PPS
    else
      hi=$r
    fi
    if ((hi == 0)); then
      r=$((r * 2))
    else
      ((hi - lo <= lo / 10 || hi - lo <= 1000)) && break
      r=$(((lo + hi) / 2 / 1000 * 1000))
    fi
  done
  S_LO=$lo S_ACH=$ach S_HI=$hi
}

key() { echo "$1|$2|$3"; } # size|pps|n
for run in $(seq "$RUNS"); do
  echo "run $run of $RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  for size in $SIZES; do
    for pps in $RATES; do
      # The same traffic with no reader: what sending it costs the machine.
      cell none 0 "$size" "$pps" "$SECS"
      NONE_NS=$C_MACHINE_NS NONE_SENT=$C_SENT
      for n in $N_LIST; do
        declare -A here=()
        for peer in $(peers_at "$n"); do
          cell "$peer" "$n" "$size" "$pps" "$SECS"
          here[$peer.m]=$C_MACHINE here[$peer.b]=$C_BENCH
          here[$peer.c]=$(own_per_pkt "$C_MACHINE_NS" "$C_SENT" "$C_DELIVERED")
          add MC "$(key "$size" "$pps" "$n")|$peer" "${here[$peer.c]}"
          k="$(key "$size" "$pps" "$n")|$peer"
          add M "$k" "$C_MACHINE"
          add B "$k" "$C_BENCH"
          add SPPS "$k" "$C_SENT_PPS"
          add DROP "$k" "$(awk -v d="$C_DROPS" -v c="$C_DELIVERED" 'BEGIN {printf "%.2f", (d + c) ? 100 * d / (d + c) : 0}')"
        done
        k=$(key "$size" "$pps" "$n")
        add RM "$k|direct" "$(ratio "${here[mydev.m]}" "${here[direct.m]}")"
        add RB "$k|direct" "$(ratio "${here[mydev.b]}" "${here[direct.b]}")"
        add RMC "$k|direct" "$(ratio "${here[mydev.c]}" "${here[direct.c]}")"
        if [[ -n "${here[rpcapd.m]:-}" ]]; then
          add RM "$k|rpcapd" "$(ratio "${here[mydev.m]}" "${here[rpcapd.m]}")"
          add RB "$k|rpcapd" "$(ratio "${here[mydev.b]}" "${here[rpcapd.b]}")"
          add RMC "$k|rpcapd" "$(ratio "${here[mydev.c]}" "${here[rpcapd.c]}")"
        fi
        unset here
      done
    done
  done
  if [[ "$LOSSLESS" == 1 ]]; then
    echo " highest lossless rate, N=$LOSSLESS_N, $LOSSLESS_SIZE B, ${LOSSLESS_SECONDS} s probes:"
    for peer in direct mydev; do
      search_lossless "$peer"
      echo "  $peer: lossless at $S_LO pps offered (sender $S_ACH pps); lost at ${S_HI/#0/-}"
      add LOSSLESS_R "$peer" "$S_LO"
      add LOSSLESS_ACH "$peer" "$S_ACH"
    done
  fi
done 2>&1

# mmm VALUES...: "min / median / max" (nan left out), or "-".
mmm() {
  printf "%s\n" "$@" | grep -v -e nan -e '^$' | sort -g |
    awk -v f="${FMT:-%.3g}" '{v[NR] = $1} END { if (NR == 0) { print "-"; exit }
      printf f " / " f " / " f "\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}
table() { # table ARRAY-OF-CPU ARRAY-OF-RATIOS TITLE
  local -n cpu=$1 rat=$2
  echo
  echo "$3 — CPU per delivered packet, us, min / median / max over $RUNS run(s):"
  echo
  echo "| frame | rate | N | direct AF_PACKET | mydev | rpcapd | mydev / direct | mydev / rpcapd | sender pps direct / mydev / rpcapd (median) | drop % direct / mydev / rpcapd (max) |"
  echo "|---:|---:|---:|---|---|---|---|---|---|---|"
  local size pps n k
  for size in $SIZES; do
    for pps in $RATES; do
      for n in $N_LIST; do
        k=$(key "$size" "$pps" "$n")
        # shellcheck disable=SC2086
        printf "| %s B | %s | %s | %s | %s | %s | **%s** | %s | %s / %s / %s | %s / %s / %s |\n" "$size" \
          "$([[ $pps == 0 ]] && echo max || echo "$pps pps")" "$n" \
          "$(mmm ${cpu[$k|direct]:-})" "$(mmm ${cpu[$k|mydev]:-})" "$(mmm ${cpu[$k|rpcapd]:-})" \
          "$(mmm ${rat[$k|direct]:-})" "$(mmm ${rat[$k|rpcapd]:-})" \
          "$(FMT=%.0f mmm ${SPPS[$k|direct]:-} | awk -F' / ' '{print $2}')" \
          "$(FMT=%.0f mmm ${SPPS[$k|mydev]:-} | awk -F' / ' '{print $2}')" \
          "$(FMT=%.0f mmm ${SPPS[$k|rpcapd]:-} | awk -F' / ' '{print ($2 == "" ? "-" : $2)}')" \
          "$(FMT=%.2f mmm ${DROP[$k|direct]:-} | awk -F' / ' '{print $3}')" \
          "$(FMT=%.2f mmm ${DROP[$k|mydev]:-} | awk -F' / ' '{print $3}')" \
          "$(FMT=%.2f mmm ${DROP[$k|rpcapd]:-} | awk -F' / ' '{print ($3 == "" ? "-" : $3)}')"
      done
    done
  done
}
echo
echo "vs_afpacket.sh: QUICK=${QUICK:-0} RUNS=$RUNS SECONDS_PER_RUN=$SECS N_LIST=\"$N_LIST\" SIZES=\"$SIZES\"" \
  "RATES=\"$RATES\" RPCAP_N=\"$RPCAP_N\" TCPDUMP_ARGS=\"$TCPDUMP_ARGS\"; load average at end:" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
table M RM "machine (root cpuacct: every task)"
table MC RMC "the capture's own (machine, less the same traffic sent with no reader)"
[[ -n "$CG" ]] && table B RB "bench (this script's cgroup + kernel threads)"
if [[ "$LOSSLESS" == 1 ]]; then
  echo
  echo "highest lossless offered rate, N=$LOSSLESS_N, $LOSSLESS_SIZE B (pps, min / median / max):"
  # shellcheck disable=SC2086
  {
    echo "  direct: $(FMT=%.0f mmm ${LOSSLESS_R[direct]}) (sender reached $(FMT=%.0f mmm ${LOSSLESS_ACH[direct]}))"
    echo "  mydev:  $(FMT=%.0f mmm ${LOSSLESS_R[mydev]}) (sender reached $(FMT=%.0f mmm ${LOSSLESS_ACH[mydev]}))"
  }
  rl=()
  read -r -a dl <<<"${LOSSLESS_R[direct]}"
  read -r -a ml <<<"${LOSSLESS_R[mydev]}"
  for i in "${!dl[@]}"; do rl+=("$(ratio "${ml[$i]}" "${dl[$i]}")"); done
  echo "  mydev / direct: $(mmm "${rl[@]}")"
fi
if [[ "$IMMEDIATE" == 1 ]]; then
  echo
  echo "immediate mode, packet timestamp -> callback (tools/bench/immediate_latency.sh, RUNS=$RUNS):"
  RUNS="$RUNS" SECONDS_PER_RUN="$((SECS > 5 ? 5 : SECS))" ./tools/bench/immediate_latency.sh 2>&1 |
    grep -v '^INFO:' | sed -n '/^over /,$p'
fi
