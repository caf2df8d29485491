#!/bin/bash
# pcap_mydev_test.sh — runs pcap_mydev_test on the module-enabled libpcap:
# first with no daemon ("down"), then against a real mydevd with a synthetic
# mydev0 ("live").
set -euo pipefail

rf="${RUNFILES_DIR:-$TEST_SRCDIR}/mydev"
# /tmp, not TEST_TMPDIR: a Unix socket path must fit in 107 bytes.
tmp="$(mktemp -d /tmp/pcap_mydev_test.XXXXXX)"
# Started as root, mydevd switches to its own user (mydevd) when that user
# exists: it must reach $tmp and creates run/ itself, owned by that user.
chmod 755 "$tmp"
sock="$tmp/run/mydevd.sock"
daemon_pid=""
cleanup() {
  [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

export LD_LIBRARY_PATH="$rf/pcapmod"
test_bin="$rf/pcapmod/pcap_mydev_test"

echo "== daemon down"
MYDEV_SOCKET="$tmp/absent.sock" "$test_bin" down

# live CONFIG: runs the "live" checks against a fresh mydevd with CONFIG.
live() {
  echo "$1" > "$tmp/mydevd.conf"
  rm -rf "$tmp/run"
  "$rf/daemon/mydevd" --socket "$sock" --config "$tmp/mydevd.conf" \
    > "$tmp/mydevd.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 200); do
    [[ -S "$sock" ]] && break
    kill -0 "$daemon_pid" 2>/dev/null || { echo "mydevd exited:"; cat "$tmp/mydevd.log"; exit 1; }
    sleep 0.05
  done
  if ! MYDEV_SOCKET="$sock" "$test_bin" live mydev0; then
    echo "== mydevd log"; cat "$tmp/mydevd.log"; exit 1
  fi
  kill -TERM "$daemon_pid" && wait "$daemon_pid" || true
  daemon_pid=""
}

device='device { name: "mydev0" synthetic { rate_pps: 100000 } }'
echo "== daemon up, the daemon filters"
live "$device"
echo "== daemon up, it refuses programs over 4 instructions: the module filters"
live "$device
limits { max_bpf_insns: 4 }"
