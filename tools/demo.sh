#!/bin/bash
# demo.sh — the whole path in one go: install mydev, start mydevd with no
# config (one synthetic device, mydev0), run three unprivileged tcpdump
# sessions on mydev0 at the same time with different filters, show what each
# printed and the daemon's per-session statistics, then stop.
# Usage: ./tools/demo.sh [PREFIX]   (default /usr/local, as tools/install.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${1:-/usr/local}"
cd "$ROOT"

./tools/bootstrap.sh
./tools/install.sh "$PREFIX"

RUN_DIR="$(mktemp -d /tmp/mydev-demo.XXXXXX)"
chmod 755 "$RUN_DIR"
# run/ is made by mydevd itself and given to the user it switches to (mydevd,
# created by install.sh), who can then create and remove the sockets.
export MYDEV_SOCKET="$RUN_DIR/run/mydevd.sock"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "${daemon_pid:-}" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT

echo "== starting mydevd (no config: synthetic mydev0), socket $MYDEV_SOCKET"
"$PREFIX/bin/mydevd" --socket "$MYDEV_SOCKET" 2> "$RUN_DIR/mydevd.log" &
daemon_pid=$!
for _ in $(seq 100); do [[ -S "$MYDEV_SOCKET" ]] && break; sleep 0.05; done

as_nobody() { runuser -u nobody -- env MYDEV_SOCKET="$MYDEV_SOCKET" "$PREFIX/bin/mydev-run" "$@"; }

echo "== devices, as seen by an unprivileged tcpdump -D (user nobody)"
as_nobody tcpdump -D

echo "== three concurrent unprivileged tcpdump sessions on mydev0, 3 seconds each"
declare -A filters=([a]="udp" [b]="tcp and not ip6" [c]="ip6 or arp")
for k in a b c; do
  # timeout (as nobody) sends SIGINT to tcpdump itself, which then prints its statistics
  runuser -u nobody -- env MYDEV_SOCKET="$MYDEV_SOCKET" timeout -s INT 3 \
    "$PREFIX/bin/mydev-run" tcpdump -i mydev0 -n -l "${filters[$k]}" > "$RUN_DIR/$k.out" 2> "$RUN_DIR/$k.err" &
  pids+=($!)
done
sleep 1.5
echo "== mydevd's statistics while they run (mydevctl stats, the read-only Stats service)"
"$PREFIX/bin/mydevctl" stats || true
for p in "${pids[@]}"; do wait "$p" || true; done
pids=()

for k in a b c; do
  echo
  echo "== tcpdump -i mydev0 '${filters[$k]}'  (as nobody): first 6 of $(wc -l < "$RUN_DIR/$k.out") lines"
  head -6 "$RUN_DIR/$k.out"
  grep -E "packets (captured|received|dropped)" "$RUN_DIR/$k.err" | sed 's/^/   /'
done

echo
echo "== mydevd log"
cat "$RUN_DIR/mydevd.log"
echo "== demo done"
