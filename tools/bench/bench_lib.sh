# bench_lib.sh — what the veth benchmarks under tools/bench/ share; sourced,
# not run (bash): a veth pair whose far end sits in a network namespace of
# the script's own, and a mydevd started on a config and waited for.
#
#   source "$ROOT/tools/bench/bench_lib.sh"
#   bench_veth_up lat                 # NS, NEAR (this side), FAR (in NS), all up
#   trap 'bench_daemon_stop; bench_veth_down' EXIT
#   export MYDEV_SOCKET="$WORK/run/mydevd.sock"
#   bench_daemon_start "$PREFIX/bin/mydevd" "$WORK/mydevd.conf" "$WORK/mydevd.log"
#   ip netns exec "$NS" packet_sender --ifname "$FAR" ...
#   bench_daemon_stop                 # SIGTERM, waited for; a no-op when not running

# Makes the namespace mydev$TAG$$ and the veth pair mdv$TAG$$a (here, NEAR) /
# mdv$TAG$$b (in the namespace, FAR), IPv6 off on both (no router
# solicitations in the counts), no forwarding, both up. TAG: a few letters (the names must
# fit IFNAMSIZ).
bench_veth_up() {
  local tag=$1
  NS="mydev$tag$$"
  NEAR="mdv$tag$$a"
  FAR="mdv$tag$$b"
  ip netns add "$NS"
  ip link add "$NEAR" type veth peer name "$FAR" netns "$NS"
  sysctl -q -w "net.ipv6.conf.$NEAR.disable_ipv6=1" "net.ipv4.conf.$NEAR.forwarding=0"
  ip netns exec "$NS" sysctl -q -w "net.ipv6.conf.$FAR.disable_ipv6=1"
  ip link set "$NEAR" up
  ip -n "$NS" link set "$FAR" up
}

# Removes what bench_veth_up made (deleting one end removes both); never
# fails (for EXIT traps under set -e).
bench_veth_down() {
  if [[ -n "${NEAR:-}" ]]; then ip link del "$NEAR" 2>/dev/null || true; fi
  if [[ -n "${NS:-}" ]]; then ip netns del "$NS" 2>/dev/null || true; fi
}

# Starts MYDEVD --socket "$MYDEV_SOCKET" --config CONF [ARGS...], its stderr
# appended to LOG, sets $daemon to its pid and returns once the socket is
# there (10 s at most; else prints the log and returns 1).
bench_daemon_start() {
  local mydevd=$1 conf=$2 log=$3
  shift 3
  rm -f "$MYDEV_SOCKET"  # a killed daemon's; -S below must see the new one
  "$mydevd" --socket "$MYDEV_SOCKET" --config "$conf" "$@" 2>>"$log" &
  daemon=$!
  for _ in $(seq 200); do
    [[ -S "$MYDEV_SOCKET" ]] && return 0
    sleep 0.05
  done
  echo "mydevd did not start:" >&2
  cat "$log" >&2
  return 1
}

# Stops the mydevd bench_daemon_start started (SIGTERM, then waits); never fails.
bench_daemon_stop() {
  if [[ -n "${daemon:-}" ]]; then
    kill -TERM "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
  daemon=""
}
