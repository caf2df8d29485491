#!/bin/bash
# e2e_bench.sh — end-to-end figure: how fast Debian's tcpdump captures from
# mydev0 (synthetic device at full speed, rate_pps: 0) through the module,
# beside how fast the same tcpdump reads a file of the same packets
# (`tcpdump -r`), both measured in this run.
#
# Then, for a few paced rates (RATES, packets/s), how many packets one
# unprivileged tcpdump loses over 2 seconds: the lossless capture rate.
#
#   ./tools/bench/e2e_bench.sh [PACKETS]        # default 2000000
#   RATES="1000000 2000000" ./tools/bench/e2e_bench.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${1:-2000000}"
cd "$ROOT"
./tools/bootstrap.sh
WORK="$(mktemp -d /tmp/mydev-bench.XXXXXX)"
chmod 755 "$WORK"
./tools/install.sh "$WORK/prefix" >/dev/null
export MYDEV_SOCKET="$WORK/run/mydevd.sock"   # mydevd creates run/ for its own user
echo 'device { name: "mydev0" synthetic { rate_pps: 0 } }' > "$WORK/mydevd.conf"
"$WORK/prefix/bin/mydevd" --socket "$MYDEV_SOCKET" --config "$WORK/mydevd.conf" 2>"$WORK/mydevd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 200); do [[ -S "$MYDEV_SOCKET" ]] && break; sleep 0.05; done

now() { date +%s.%N; }
run="$WORK/prefix/bin/mydev-run"

# 1. live capture through mydevd, as the unprivileged user nobody
t0=$(now)
runuser -u nobody -- env MYDEV_SOCKET="$MYDEV_SOCKET" "$run" tcpdump -i mydev0 -w /dev/null -c "$N" 2>"$WORK/live.err"
t1=$(now)
live_s=$(echo "$t1 - $t0" | bc -l)

# 2. the same packets from a file (captured once, then read back)
"$run" tcpdump -i mydev0 -w "$WORK/file.pcap" -c "$N" 2>/dev/null
cat "$WORK/file.pcap" > /dev/null   # warm the page cache
t0=$(now)
tcpdump -r "$WORK/file.pcap" -w /dev/null 2>/dev/null
t1=$(now)
file_s=$(echo "$t1 - $t0" | bc -l)
bytes=$(stat -c %s "$WORK/file.pcap")

live_pps=$(echo "$N / $live_s" | bc -l)
file_pps=$(echo "$N / $file_s" | bc -l)
printf "%-44s %10s %10s %10s\n" "path" "packets" "seconds" "Mpps"
printf "%-44s %10d %10.3f %10.3f\n" "tcpdump -i mydev0 -w /dev/null (nobody)" "$N" "$live_s" "$(echo "$live_pps/1000000" | bc -l)"
printf "%-44s %10d %10.3f %10.3f\n" "tcpdump -r file -w /dev/null" "$N" "$file_s" "$(echo "$file_pps/1000000" | bc -l)"
printf "live / file: %.2f   (file: %d bytes, mean frame %d bytes)\n" "$(echo "$live_pps/$file_pps" | bc -l)" "$bytes" "$(( (bytes - 24) / N - 16 ))"
grep -E "captured|dropped" "$WORK/live.err" | sed 's/^/live: /'
echo "(at rate_pps: 0 the generator outruns tcpdump, so that session's ring overflows: the drops above are expected)"

# Paced: lossless rate of one unprivileged tcpdump, default 4 MiB ring.
kill -TERM $daemon; wait $daemon 2>/dev/null || true
echo
printf "%-12s %10s %10s %10s\n" "rate (pps)" "captured" "dropped" "drop %"
for rate in ${RATES:-1000000 2000000 3000000 4000000}; do
  echo "device { name: \"mydev0\" synthetic { rate_pps: $rate } }" > "$WORK/paced.conf"
  "$WORK/prefix/bin/mydevd" --socket "$MYDEV_SOCKET" --config "$WORK/paced.conf" 2>>"$WORK/mydevd.log" &
  daemon=$!
  for _ in $(seq 200); do [[ -S "$MYDEV_SOCKET" ]] && break; sleep 0.05; done
  runuser -u nobody -- env MYDEV_SOCKET="$MYDEV_SOCKET" "$run" tcpdump -i mydev0 -w /dev/null \
    -c $((rate * 2)) 2>"$WORK/paced.err"
  captured=$(awk '/packets captured/ {print $1}' "$WORK/paced.err")
  dropped=$(awk '/dropped by kernel/ {print $1}' "$WORK/paced.err")
  printf "%-12d %10d %10d %10.3f\n" "$rate" "$captured" "$dropped" \
    "$(echo "100 * $dropped / ($captured + $dropped)" | bc -l)"
  kill -TERM $daemon; wait $daemon 2>/dev/null || true
done
