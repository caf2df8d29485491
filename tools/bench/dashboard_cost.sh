#!/bin/bash
# dashboard_cost.sh — what mydev-dashboard costs (issue 9, item 6):
#
# 1. mydevd's CPU with 0, 1 and 10 watchers — mydev-dashboard processes, each
#    one WatchStats stream at a 1 s interval over the Unix socket — and with
#    1 and 64 capture sessions (Debian's tcpdump as `nobody` through the
#    module-enabled libpcap, -w /dev/null) on a synthetic device at a modest
#    rate (RATE, default 1000 pps), so the capture path is not what is
#    measured. For each session count: one fresh mydevd, the tcpdumps, then
#    each watcher count in turn and 0 again; mydevd's CPU over WINDOW
#    seconds (after SETTLE seconds), every thread in nanoseconds from a
#    cpuacct cgroup of its own (utime+stime from /proc/PID/stat, 10 ms
#    ticks, where cgroup v1's cpuacct is not writable), and the part of it
#    in gRPC's threads (/proc/PID/task/*/schedstat of mydevd's own threads,
#    subtracted), as CPU-ms per second and as % of one core; minus the mean
#    of the 0-watcher rows of the same daemon, per watcher. The dashboards'
#    own CPU is printed too.
# 2. The dashboard's own memory with TARGETS (100) targets: DAEMONS (4)
#    mydevd, each reached under TARGETS/DAEMONS names (symbolic links to its
#    socket: distinct gRPC targets, distinct connections), one dashboard
#    watching all of them; VmRSS and VmHWM (/proc/PID/status) once it has run
#    MEM_AFTER (30) seconds with every target up, then its CPU over WINDOW.
#
# mydevd's caps (docs/FAULTS.md): WatchStats streams 16 in all and 4 per uid
# by default; the dashboards run as `nobody`, so the configs here raise
# limits.max_watch_streams{,_per_uid} (32/16 for part 1, 32/32 for part 2 —
# 25 streams per daemon). 64 sessions is max_sessions_per_uid's default, and
# 64 sessions + 10 watchers stay under max_connections_per_uid (128).
#
#   ./tools/bench/dashboard_cost.sh                  # builds (bazel --config=ci) and stages
#   ./tools/bench/dashboard_cost.sh --prefix DIR     # an installed tree (tools/install.sh's)
#   WINDOW=30 SESSIONS="1 64" WATCHERS="0 1 10" ./tools/bench/dashboard_cost.sh
#   INTERVAL=10s TARGETS=0 ./tools/bench/dashboard_cost.sh   # another interval, CPU part only
#   SESSIONS= MEM_AFTER=630 ./tools/bench/dashboard_cost.sh     # memory only, history full (10 min)
#
# Root (mydevd switches to its user `mydevd`, tcpdumps and dashboards run as
# nobody). A benchmark, not a test: nothing fails on a slow machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WINDOW="${WINDOW:-20}"
SETTLE="${SETTLE:-3}"
RATE="${RATE:-1000}"
SESSIONS="${SESSIONS-1 64}"        # SESSIONS="": the memory part only
WATCHERS="${WATCHERS:-0 1 10}"
TARGETS="${TARGETS:-100}"
DAEMONS="${DAEMONS:-4}"
MEM_AFTER="${MEM_AFTER:-30}"
INTERVAL="${INTERVAL:-1s}"
BASE_PORT="${BASE_PORT:-29470}"  # dashboards listen on free ports from here
BAZEL_FLAGS="${BAZEL_FLAGS:---config=ci}"
NOBODY=65534

prefix=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "dashboard_cost.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "dashboard_cost.sh: run me as root" >&2; exit 1; }
for tool in tcpdump curl setpriv bc; do
  command -v "$tool" >/dev/null || { echo "dashboard_cost.sh: $tool is missing (tools/bootstrap.sh)" >&2; exit 1; }
done
getent passwd mydevd >/dev/null ||
  useradd --system --no-create-home --shell /usr/sbin/nologin mydevd  # as tools/install.sh

WORK="$(mktemp -d /tmp/mydev-dashcost.XXXXXX)"
chmod 755 "$WORK"
CGROUPS=()     # cpuacct groups made for the daemons (removed at exit)
cleanup() {  # whatever this script started and is still running (its jobs, by pid)
  local p running
  running=$(jobs -pr)
  for p in $running; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $running; do wait "$p" 2>/dev/null || true; done
  for p in "${CGROUPS[@]}"; do rmdir "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ------------------------------------------------------------------ binaries
if [[ -z $prefix ]]; then
  (cd "$ROOT" && bazel build $BAZEL_FLAGS --noshow_progress //daemon:mydevd //pcapmod:all \
    //tools/mydevctl //tools/dashboard:mydev-dashboard) >&2
  bin="$(cd "$ROOT" && bazel info $BAZEL_FLAGS bazel-bin 2>/dev/null)"
  prefix="$WORK/prefix"
  install -D -m 0755 "$bin/daemon/mydevd" "$prefix/bin/mydevd"
  install -D -m 0755 "$bin/tools/mydevctl/mydevctl" "$prefix/bin/mydevctl"
  install -D -m 0755 "$bin/tools/dashboard/mydev-dashboard" "$prefix/bin/mydev-dashboard"
  install -D -m 0755 "$ROOT/tools/mydev-run" "$prefix/bin/mydev-run"
  install -D -m 0644 "$bin/pcapmod/libpcap.so.0.8" "$prefix/lib/mydev/libpcap.so.0.8"
  install -D -m 0644 "$bin/pcapmod/libmydev-client.so" "$prefix/lib/mydev/libmydev-client.so"
  chmod 755 "$prefix" "$prefix/bin" "$prefix/lib" "$prefix/lib/mydev"
fi
for f in bin/mydevd bin/mydevctl bin/mydev-dashboard bin/mydev-run lib/mydev/libpcap.so.0.8; do
  [[ -e "$prefix/$f" ]] || { echo "dashboard_cost.sh: $prefix/$f is missing" >&2; exit 1; }
done

# In front of a command started with &: it then runs as nobody, and $! is
# its pid (setpriv, env and mydev-run exec).
AS_NOBODY=(setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all --)

# start_daemon NAME CONFIG-TEXT: mydevd on $WORK/NAME/run/mydevd.sock; sets
# DAEMON_PID and DAEMON_SOCK.
start_daemon() {
  local name=$1 config=$2
  mkdir -p "$WORK/$name" && chmod 755 "$WORK/$name"
  printf '%s\n' "$config" >"$WORK/$name/mydevd.conf"
  DAEMON_SOCK="$WORK/$name/run/mydevd.sock"
  "$prefix/bin/mydevd" --socket "$DAEMON_SOCK" --config "$WORK/$name/mydevd.conf" \
    2>"$WORK/$name/mydevd.log" &
  DAEMON_PID=$!
  local i
  for i in $(seq 200); do
    "$prefix/bin/mydevctl" --socket="$DAEMON_SOCK" health >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  cat "$WORK/$name/mydevd.log" >&2
  echo "dashboard_cost.sh: mydevd $name did not start" >&2
  exit 1
}

stop() {  # stop PID...: SIGTERM, then wait
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

sessions_of() {  # sessions_of SOCKET: how many sessions mydevd has
  "$prefix/bin/mydevctl" --socket="$1" stats --format=kv 2>/dev/null | grep -c '^session ' || true
}

# start_tcpdumps SOCKET N: N tcpdumps as nobody on mydev0; sets TCPDUMP_PIDS.
start_tcpdumps() {
  local sock=$1 n=$2 i
  TCPDUMP_PIDS=()
  for i in $(seq "$n"); do
    "${AS_NOBODY[@]}" env MYDEV_SOCKET="$sock" "$prefix/bin/mydev-run" tcpdump -i mydev0 \
      -w /dev/null >/dev/null 2>>"$WORK/tcpdump.err" &
    TCPDUMP_PIDS+=("$!")
  done
  for i in $(seq 400); do
    [[ $(sessions_of "$sock") -ge $n ]] && return 0
    sleep 0.05
  done
  echo "dashboard_cost.sh: only $(sessions_of "$sock") of $n sessions opened" >&2
  tail -5 "$WORK/tcpdump.err" >&2
  exit 1
}

# up_count PORT: how many mydev_target_up samples are 1 on the dashboard there.
up_count() {
  curl -s --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk '/^mydev_target_up[{ ]/ && $NF == 1 {n++} END {print n + 0}'
}

NEXT_PORT=$BASE_PORT
free_port() {  # the next port from BASE_PORT nothing on 127.0.0.1 listens on
  while (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null; do NEXT_PORT=$((NEXT_PORT + 1)); done
  echo "$NEXT_PORT"
  NEXT_PORT=$((NEXT_PORT + 1))
}

# start_dashboard WANT-UP TARGET...: a dashboard as nobody on a free port;
# waits until WANT-UP targets are up; sets DASH_PID and DASH_PORT.
start_dashboard() {
  local want=$1 args=() t i port
  shift
  port=$(free_port)
  NEXT_PORT=$((port + 1))
  DASH_PORT=$port
  for t in "$@"; do args+=(--target "$t"); done
  "${AS_NOBODY[@]}" "$prefix/bin/mydev-dashboard" --listen "127.0.0.1:$port" \
    --interval "$INTERVAL" "${args[@]}" >>"$WORK/dashboard-$port.log" 2>&1 &
  DASH_PID=$!
  for i in $(seq 1200); do
    kill -0 "$DASH_PID" 2>/dev/null || break
    [[ $(up_count "$port") -ge $want ]] && return 0
    sleep 0.1
  done
  tail -20 "$WORK/dashboard-$port.log" >&2
  echo "dashboard_cost.sh: the dashboard on port $port has $(up_count "$port") of $want targets up" >&2
  exit 1
}

# CPU accounting. mydevd goes into a cpuacct cgroup of its own (cgroup v1,
# /sys/fs/cgroup/cpuacct, when writable): cpuacct.usage counts every thread
# in nanoseconds, also gRPC's short-lived ones (its sync server starts and
# ends threads as streams come and go). Without it: utime+stime from
# /proc/PID/stat (which keeps ended threads too, in 10 ms ticks).
CG_ROOT=/sys/fs/cgroup/cpuacct
cg_for() {  # cg_for NAME PID: moves PID (all its threads) into a new group; prints it
  local cg="$CG_ROOT/mydev-dashcost-$$-$1"
  if mkdir "$cg" 2>/dev/null && echo "$2" >"$cg/cgroup.procs" 2>/dev/null; then
    echo "$cg"
  else
    rmdir "$cg" 2>/dev/null || true
  fi
}
# cpu_ns PID CGROUP: the process' CPU time so far, ns (cgroup, else ticks).
cpu_ns() {
  if [[ -n $2 ]]; then cat "$2/cpuacct.usage"; else ticks_ns "$1"; fi
}
# own_ns PID: run time (ns) of the threads named like the process (mydevd's
# own: devices, ticks, the acceptor, ...; not gRPC's, which name theirs), from
# /proc/PID/task/*/schedstat; mydevd's threads all live as long as it does.
own_ns() {
  local comm t sum=0
  comm=$(cat "/proc/$1/comm")
  for t in /proc/"$1"/task/*; do
    [[ $(cat "$t/comm" 2>/dev/null) == "$comm" ]] || continue
    sum=$((sum + $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}
# utime+stime of PID in ns (bash's 64-bit arithmetic: awk's %d stops at 2^31).
ticks_ns() { echo $(( $(awk '{print $14 + $15}' "/proc/$1/stat") * 1000000000 / $(getconf CLK_TCK) )); }

# cpu_window DAEMON-PID DAEMON-CGROUP DASHBOARD-PID...: sleeps WINDOW s;
# prints "DAEMON-NS DAEMON-OWN-NS DASHBOARDS-NS" over the window.
cpu_window() {
  local dpid=$1 cg=$2 p d0 o0 s0=0 d1 o1 s1=0
  shift 2
  d0=$(cpu_ns "$dpid" "$cg"); o0=$(own_ns "$dpid")
  for p in "$@"; do s0=$((s0 + $(ticks_ns "$p"))); done
  sleep "$WINDOW"
  d1=$(cpu_ns "$dpid" "$cg"); o1=$(own_ns "$dpid")
  for p in "$@"; do s1=$((s1 + $(ticks_ns "$p"))); done
  echo "$((d1 - d0)) $((o1 - o0)) $((s1 - s0))"
}

msps() { printf %.3f "$(echo "$1 / 1000000 / $WINDOW" | bc -l)"; }    # ns -> CPU-ms/s
pct() { printf %.2f "$(echo "$1 / 10000000 / $WINDOW" | bc -l)"; }     # ns -> % of one core

CPU_MODEL=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo "# $(date -u +%FT%TZ), $(nproc) CPUs ($CPU_MODEL), kernel $(uname -r)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# per row: ${WINDOW} s window after ${SETTLE} s settling; synthetic mydev0 at ${RATE} pps;"
echo "# watchers: mydev-dashboard --interval ${INTERVAL}, one target (the daemon's socket) each;"
echo "# baseline: the mean of the 0-watcher rows of the same daemon (measured first and last)"
echo
hdr() {
  printf "%-8s %-8s %11s %7s %11s %11s %11s %11s %11s %5s\n" sessions watchers "mydevd" "%core" \
    "gRPC thr." "minus base" "per watcher" "gRPC/watch" "dashboard" load
  printf "%-8s %-8s %11s %7s %11s %11s %11s %11s %11s %5s\n" "" "" "CPU-ms/s" "" "CPU-ms/s" \
    "CPU-ms/s" "CPU-ms/s" "CPU-ms/s" "ms/s each" ""
}
[[ -z $SESSIONS ]] || hdr
for nsess in $SESSIONS; do
  start_daemon "cpu$nsess" "device { name: \"mydev0\" synthetic { rate_pps: $RATE } }
limits { max_watch_streams: 32 max_watch_streams_per_uid: 16 }"
  dpid=$DAEMON_PID sock=$DAEMON_SOCK
  cg=$(cg_for "cpu$nsess" "$dpid")
  [[ -z $cg ]] || CGROUPS+=("$cg")
  start_tcpdumps "$sock" "$nsess"
  rows=() base_sum=0 base_grpc=0 nbase=0
  for nw in $WATCHERS 0; do
    dash=()
    for i in $(seq "$nw"); do
      start_dashboard 1 "unix:$sock"
      dash+=("$DASH_PID")
    done
    sleep "$SETTLE"
    read -r ns own dns < <(cpu_window "$dpid" "$cg" "${dash[@]}")
    rows+=("$nw $ns $((ns - own)) $dns $(cut -d' ' -f1 /proc/loadavg)")
    if [[ $nw -eq 0 ]]; then
      base_sum=$((base_sum + ns)) base_grpc=$((base_grpc + ns - own)) nbase=$((nbase + 1))
    fi
    stop "${dash[@]}"
  done
  base=$((base_sum / nbase)) bgrpc=$((base_grpc / nbase))
  for r in "${rows[@]}"; do
    read -r nw ns grpc dns load <<<"$r"
    per="-" pgrpc="-" each="-"
    if [[ $nw -gt 0 ]]; then
      per=$(msps $(((ns - base) / nw))) pgrpc=$(msps $(((grpc - bgrpc) / nw)))
      each=$(msps $((dns / nw)))
    fi
    printf "%-8s %-8s %11s %7s %11s %11s %11s %11s %11s %5s\n" "$nsess" "$nw" "$(msps "$ns")" \
      "$(pct "$ns")" "$(msps "$grpc")" "$(msps $((ns - base)))" "$per" "$pgrpc" "$each" "$load"
  done
  stop "${TCPDUMP_PIDS[@]}"
  stop "$dpid"
done
if [[ -n $SESSIONS ]]; then
  if [[ ${#CGROUPS[@]} -gt 0 ]]; then how="every thread, cpuacct cgroup"; else how="utime+stime, /proc/PID/stat"; fi
  echo "# mydevd CPU-ms/s: $how; gRPC thr.: of which gRPC's threads (those it names; the rest is"
  echo "# mydevd's own: devices, ticks, acceptor); dashboard: each one's own CPU (utime+stime)"
fi

# ------------------------------------------------------------------ memory, 100 targets
[[ $TARGETS -gt 0 ]] || exit 0   # TARGETS=0: the CPU part only
echo
per=$(( (TARGETS + DAEMONS - 1) / DAEMONS ))
targets=()
mkdir -p "$WORK/links" && chmod 755 "$WORK/links"
for d in $(seq "$DAEMONS"); do
  start_daemon "mem$d" "device { name: \"mydev0\" synthetic { rate_pps: $RATE } }
limits { max_watch_streams: 32 max_watch_streams_per_uid: 32 }"
  start_tcpdumps "$DAEMON_SOCK" 1
  for k in $(seq "$per"); do
    [[ ${#targets[@]} -lt $TARGETS ]] || break
    ln -s "$DAEMON_SOCK" "$WORK/links/d${d}t$k.sock"
    targets+=("unix:$WORK/links/d${d}t$k.sock")
  done
done
t0=$SECONDS
start_dashboard "$TARGETS" "${targets[@]}"
up_after=$((SECONDS - t0))
sleep $(( MEM_AFTER > up_after ? MEM_AFTER - up_after : 0 ))
st="/proc/$DASH_PID/status"
rss=$(awk '/^VmRSS:/ {print $2}' "$st")
hwm=$(awk '/^VmHWM:/ {print $2}' "$st")
thr=$(awk '/^Threads:/ {print $2}' "$st")
fds=$(ls "/proc/$DASH_PID/fd" | wc -l)
read -r dns _ _ < <(cpu_window "$DASH_PID" "")
up=$(up_count "$DASH_PORT")
bytes=$(curl -s --max-time 5 "http://127.0.0.1:$DASH_PORT/metrics" | wc -c)
state=$(curl -s --max-time 5 "http://127.0.0.1:$DASH_PORT/api/state" | wc -c)
printf "%-8s %-8s %-10s %10s %10s %8s %6s %12s %14s %14s\n" targets daemons "all up in" "VmRSS" "VmHWM" threads fds "CPU ms/s" "/metrics B" "/api/state B"
printf "%-8s %-8s %-10s %7d kB %7d kB %8s %6s %12s %14s %14s\n" "$up/$TARGETS" "$DAEMONS" "${up_after} s" "$rss" "$hwm" "$thr" "$fds" \
  "$(msps "$dns")" "$bytes" "$state"
echo "# VmRSS/VmHWM $MEM_AFTER s after start; CPU over the following ${WINDOW} s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
