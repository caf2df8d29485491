#!/bin/bash
# build_rpcapd.sh — builds rpcapd (libpcap's remote capture daemon) and a
# static libpcap with remote capture (`--enable-remote`) from the libpcap
# source the project already fetches (tools/bootstrap.sh: Debian's 1.10.3
# source package in third_party/libpcap-src), plus tools/bench/rpcap_count.c
# linked against that libpcap.a (Debian's libpcap.so hides pcap_open behind
# its version script). Offline; cached: a second call with the same source,
# this script and rpcap_count.c only prints the directory (older builds are
# removed when a new one is made).
#
#   tools/bench/build_rpcapd.sh                          # -> prints the directory
#   tools/bench/build_rpcapd.sh third_party/libpcap-src ~/.cache/mydev-bench
#   DIR=$(tools/bench/build_rpcapd.sh); "$DIR/rpcapd" -h; "$DIR/rpcap_count" --help
#
# The directory holds rpcapd, rpcap_count, libpcap.a and build.log. The
# fetched source is copied to a scratch directory; it is never modified.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="${1:-$ROOT/third_party/libpcap-src}"
cache="${2:-${MYDEV_BENCH_CACHE:-${HOME:-/root}/.cache/mydev-bench}}"
client_c="$ROOT/tools/bench/rpcap_count.c"

if [[ ! -f "$src/pcap.c" ]]; then
  src=$(dirname "$(ls -d "$src"/libpcap-*/pcap.c 2>/dev/null | head -1)" 2>/dev/null || true)
fi
if [[ -z "$src" || ! -f "$src/pcap.c" || ! -f "$src/rpcapd/rpcapd.c" ]]; then
  echo "build_rpcapd: no libpcap source under ${1:-third_party/libpcap-src}; run tools/bootstrap.sh" >&2
  exit 1
fi
src=$(cd -P "$src" && pwd)
key=$(cat "$src/VERSION" "$src/debian/changelog" "${BASH_SOURCE[0]}" "$client_c" | sha256sum | cut -c1-16)
dir="$cache/rpcapd-$(cat "$src/VERSION")-$key"
if [[ -x "$dir/rpcapd" && -x "$dir/rpcap_count" ]]; then
  echo "$dir"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
cp -rL "$src/." "$work/src/"
chmod -R u+w "$work/src"
cd "$work/src"
log="$work/build.log"
{
  # Not Debian's configure line: a static library for one client, with rpcapd.
  ./configure --enable-remote --disable-shared --disable-dbus --disable-rdma \
    --disable-bluetooth --disable-usb --disable-netmap CFLAGS="-O2 -g"
  make -j"$(nproc)" libpcap.a
  make -j"$(nproc)" -C rpcapd rpcapd
} >"$log" 2>&1 || {
  tail -40 "$log" >&2
  echo "build_rpcapd: building libpcap --enable-remote failed (log above)" >&2
  exit 1
}
# The libraries libpcap.a needs (openssl when configure found it, pthreads).
libs=$(sed -n 's/^LIBS *= *//p' Makefile)
gcc -O2 -g -Wall -Wextra -Werror -I"$work/src" -o "$work/rpcap_count" "$client_c" \
  "$work/src/libpcap.a" $libs -lpthread >>"$log" 2>&1 || {
  tail -20 "$log" >&2
  echo "build_rpcapd: compiling rpcap_count.c failed" >&2
  exit 1
}
mkdir -p "$work/out"
install -m 0755 rpcapd/rpcapd "$work/rpcap_count" "$work/out/"
install -m 0644 libpcap.a "$log" "$work/out/"
rm -rf "$dir"
mv "$work/out" "$dir"
# Older builds (another source, script or client) are not used again.
find "$cache" -mindepth 1 -maxdepth 1 -name 'rpcapd-*' ! -path "$dir" -exec rm -rf {} +
echo "$dir"
