#!/bin/bash
# startup_bench.sh — what the mydev libpcap and mydev-run add to a program's
# start-up: `tcpdump -D` on Debian's libpcap against the module-enabled one,
# with mydevd up and down, directly (LD_LIBRARY_PATH) and through mydev-run,
# and mydev-run's own cost (`mydev-run true` against `true` and `env true`).
# Environment variables are set by the timing loop itself, not by env(1).
# RUNS rounds, each running every command once in a fresh random order (so
# the load of a busy machine drifting weighs on all alike), after 5 warm-up
# rounds; wall time of fork+exec+wait; min / median / max in ms.
# docs/BENCHMARKS.md §9.
#
#   bazel build //pcapmod:all //daemon:mydevd
#   sudo RUNS=300 ./pcapmod/startup_bench.sh [OTHER_PREFIX...]
#
# Each OTHER_PREFIX is another build laid out as tools/install.sh does
# (bin/mydev-run, lib/mydev/libpcap.so.0.8, lib/mydev/libmydev-client.so),
# e.g. an older commit's, measured the same way beside this tree's.
# Needs python3 only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-300}"
BIN="$ROOT/bazel-bin"
for f in pcapmod/libpcap.so.0.8 pcapmod/libmydev-client.so daemon/mydevd; do
  [[ -f "$BIN/$f" ]] || { echo "startup_bench: no $BIN/$f; bazel build //pcapmod:all //daemon:mydevd" >&2; exit 1; }
done

work="$(mktemp -d /tmp/mydev-startup.XXXXXX)"
daemon_pid=""
cleanup() {
  [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# This tree, in the installed layout.
mkdir -p "$work/this/bin" "$work/this/lib/mydev"
cp "$ROOT/tools/mydev-run" "$work/this/bin/"
cp -L "$BIN/pcapmod/libpcap.so.0.8" "$BIN/pcapmod/libmydev-client.so" "$work/this/lib/mydev/"
prefixes=("this=$work/this")
for p in "$@"; do prefixes+=("$(basename "$p")=$(cd "$p" && pwd)"); done

sock="$work/mydevd.sock"
echo 'device { name: "mydev0" synthetic { rate_pps: 1000 } }' > "$work/mydevd.conf"
"$BIN/daemon/mydevd" --socket "$sock" --config "$work/mydevd.conf" --user "$(id -un)" \
  > "$work/mydevd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do [[ -S "$sock" ]] && break; sleep 0.05; done
[[ -S "$sock" ]] || { cat "$work/mydevd.log" >&2; exit 1; }

cmds=("tcpdump -D" "true" "env true")
names=("stock: tcpdump -D" "true" "env true")
for entry in "${prefixes[@]}"; do
  n=${entry%%=*} p=${entry#*=}
  cmds+=("MYDEV_SOCKET=$sock LD_LIBRARY_PATH=$p/lib/mydev tcpdump -D"
         "MYDEV_SOCKET=$work/absent.sock LD_LIBRARY_PATH=$p/lib/mydev tcpdump -D"
         "MYDEV_SOCKET=$sock $p/bin/mydev-run tcpdump -D"
         "MYDEV_SOCKET=$work/absent.sock $p/bin/mydev-run tcpdump -D"
         "$p/bin/mydev-run true")
  names+=("$n: LD_LIBRARY_PATH tcpdump -D, mydevd up"
          "$n: LD_LIBRARY_PATH tcpdump -D, mydevd down"
          "$n: mydev-run tcpdump -D, mydevd up"
          "$n: mydev-run tcpdump -D, mydevd down"
          "$n: mydev-run true")
done

printf '%s\n' "${names[@]}" > "$work/names"
printf '%s\n' "${cmds[@]}" > "$work/cmds"
python3 - "$work/cmds" "$work/names" "$RUNS" <<'PY'
# Round robin: each round runs every command once, in a new random order, so
# the machine's load drifting over the minutes weighs on every command alike.
import os, random, statistics, sys, time
cmds = [c.split() for c in open(sys.argv[1]).read().splitlines()]
names = open(sys.argv[2]).read().splitlines()
runs = int(sys.argv[3])
devnull = os.open(os.devnull, os.O_WRONLY)
def once(argv):
    env = dict(os.environ)
    while "=" in argv[0]:  # VAR=value prefixes: set here, not through env(1)
        k, v = argv[0].split("=", 1)
        env[k] = v
        argv = argv[1:]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env,
                          file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    t = time.perf_counter() - t0
    if status != 0:
        sys.exit("failed (%d): %s" % (status, " ".join(argv)))
    return t * 1000
order = list(range(len(cmds)))
for i in order * 5:  # warm-up
    once(cmds[i])
times = [[] for _ in cmds]
load0 = open("/proc/loadavg").read().split()[:3]
for _ in range(runs):
    random.shuffle(order)
    for i in order:
        times[i].append(once(cmds[i]))
load1 = open("/proc/loadavg").read().split()[:3]
print("load average before %s, after %s; %d rounds" % (" ".join(load0), " ".join(load1), runs))
print("%-52s %8s %8s %8s" % ("wall ms per run", "min", "median", "max"))
for name, t in zip(names, times):
    print("%-52s %8.2f %8.2f %8.2f" % (name, min(t), statistics.median(t), max(t)))
PY
