#!/bin/bash
# build-libpcap.sh — builds Debian's libpcap 1.10.3 with the mydev capture
# module, as a drop-in libpcap.so.0.8 (Debian's soname and symbol list).
# Called by //pcapmod:libpcap_so; by hand:
#
#   tools/build-libpcap.sh third_party/libpcap-src /tmp/out pcapmod/libpcap-mydev.patch \
#       pcapmod/pcap-mydev.c pcapmod/pcap-mydev.h pcapmod/mydev_list.c \
#       pcapmod/mydev_list.h pcapmod/mydev_client.h shm/ring_abi.h \
#       bazel-bin/proto/mydev.pb-c.c bazel-bin/proto/mydev.pb-c.h
#   -> /tmp/out/libpcap.so.0.8
#
# The fetched source is copied to a scratch directory, the module's files
# are copied into its top directory and the patch (which registers the
# module and adds its .c files to the build) applied there; the fetched tree
# is never modified.
set -euo pipefail

if [[ $# -lt 4 ]]; then
  echo "usage: $0 LIBPCAP_SRC OUT_DIR PATCH MODULE_FILE..." >&2
  exit 2
fi
src=$1 out=$2 patch_file=$3
shift 3
module_files=("$@")

# `apt-get source` unpacks into libpcap-<version>/ below the folder it runs in.
if [[ ! -f "$src/pcap.c" ]]; then
  src=$(dirname "$(ls -d "$src"/libpcap-*/pcap.c 2>/dev/null | head -1)" 2>/dev/null || true)
fi
if [[ -z "$src" || ! -f "$src/pcap.c" || ! -f "$src/debian/changelog" ]]; then
  echo "build-libpcap: no libpcap source (with debian/) under $1; run tools/bootstrap.sh" >&2
  exit 1
fi
if ! grep -q '^1\.10\.3$' "$src/VERSION"; then
  echo "build-libpcap: $src is libpcap $(cat "$src/VERSION"), the module needs 1.10.3" >&2
  exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mydev-libpcap.XXXXXX")
trap 'rm -rf "$work"' EXIT

cp -rL "$src/." "$work/"
chmod -R u+w "$work"
# Debian's patches (shared-lib.diff: soname libpcap.so.0.8 + symbol list).
# `apt-get source` has applied them already; apply them only if it did not.
if [[ ! -f "$work/libpcap-symbols.lds" ]]; then
  while read -r p; do
    [[ -n "$p" && "$p" != \#* ]] && patch -s -d "$work" -p1 < "$work/debian/patches/$p"
  done < "$work/debian/patches/series"
fi
cp "${module_files[@]}" "$work/"
patch -s -d "$work" -p1 < "$patch_file"

# Debian builds libpcap0.8 with its Build-Depends installed: libbluetooth-dev
# (the bluetooth-monitor and bluetoothN devices, headers only) and
# libdbus-1-dev (dbus-system, dbus-session; links libdbus-1). Without them
# configure would quietly leave those capture sources out and `tcpdump -D`
# would list fewer devices than Debian's libpcap does.
for dep in "bluetooth/bluetooth.h libbluetooth-dev" "dbus-1.0/dbus/dbus.h libdbus-1-dev"; do
  if [[ ! -f /usr/include/${dep%% *} ]]; then
    echo "build-libpcap: /usr/include/${dep%% *} is missing: install ${dep#* } (tools/bootstrap.sh)," \
         "which Debian's libpcap is built with" >&2
    exit 1
  fi
done
# The module's own: mydev_list.c speaks HTTP/2 through libnghttp2 and reads
# the answer with libprotobuf-c (protoc-c's mydev.pb-c.c), the two libraries
# this libpcap links beyond Debian's.
for dep in "nghttp2/nghttp2.h libnghttp2-dev" "protobuf-c/protobuf-c.h libprotobuf-c-dev"; do
  if [[ ! -f /usr/include/${dep%% *} ]]; then
    echo "build-libpcap: /usr/include/${dep%% *} is missing: install ${dep#* } (tools/bootstrap.sh)" >&2
    exit 1
  fi
done

cd "$work"
# Debian's configure line (dh_auto_configure) and build flags. The optional
# capture sources are named so that the result is Debian's whatever else this
# machine has installed: Bluetooth and D-Bus on (configure fails rather than
# dropping them), RDMA (libibverbs), netmap and DPDK off, as on Debian's
# buildds, where none of them is a Build-Depends. USB (usbmon) and netfilter
# (nflog, nfqueue) need nothing beyond the kernel headers.
export with_pcap=linux
export CFLAGS="$(dpkg-buildflags --get CFLAGS 2>/dev/null || echo -g -O2)"
export CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS 2>/dev/null || true)"
export LDFLAGS="$(dpkg-buildflags --get LDFLAGS 2>/dev/null || true)"
# configure keeps these and adds its own (-ldbus-1) after them.
export LIBS="-lnghttp2 -lprotobuf-c"
./configure --build=x86_64-linux-gnu --prefix=/usr --sysconfdir=/etc \
  --localstatedir=/var --libdir=/usr/lib/x86_64-linux-gnu \
  --disable-option-checking --disable-silent-rules --disable-dependency-tracking \
  --enable-bluetooth=yes --enable-dbus=yes --enable-usb=yes \
  --disable-rdma --disable-netmap --without-dpdk \
  > configure.log 2>&1 || { tail -40 configure.log >&2; exit 1; }
# The capture sources Debian's libpcap0.8 1.10.3-1 (amd64) has, and no other.
for def in PCAP_SUPPORT_BT PCAP_SUPPORT_BT_MONITOR PCAP_SUPPORT_DBUS \
           PCAP_SUPPORT_LINUX_USBMON PCAP_SUPPORT_NETFILTER; do
  if ! grep -qE "^#define $def( |$)" config.h; then
    echo "build-libpcap: configure did not enable $def (Debian's libpcap has it); see configure.log:" >&2
    grep -iE 'bluetooth|dbus|usb|netfilter' configure.log | tail -20 >&2
    exit 1
  fi
done
for def in PCAP_SUPPORT_RDMASNIFF PCAP_SUPPORT_NETMAP PCAP_SUPPORT_DPDK; do
  if grep -qE "^#define $def( |$)" config.h; then
    echo "build-libpcap: configure enabled $def, which Debian's libpcap does not have" >&2
    exit 1
  fi
done
make -j"$(nproc)" shared > make.log 2>&1 || { tail -60 make.log >&2; exit 1; }

soname=$(objdump -p libpcap.so.1.10.3 | awk '/SONAME/ {print $2}')
if [[ "$soname" != libpcap.so.0.8 ]]; then
  echo "build-libpcap: built soname is '$soname', expected libpcap.so.0.8" >&2
  exit 1
fi
if ! nm -D --defined-only libpcap.so.1.10.3 | grep -q ' pcap_create$'; then
  echo "build-libpcap: libpcap.so.1.10.3 exports no pcap_create" >&2
  exit 1
fi
for lib in libnghttp2.so.14 libprotobuf-c.so.1; do
  if ! objdump -p libpcap.so.1.10.3 | grep -q "NEEDED *$lib\$"; then
    echo "build-libpcap: libpcap.so.1.10.3 does not link $lib (mydev_list.c needs it)" >&2
    exit 1
  fi
done
install -m 0644 libpcap.so.1.10.3 "$out/libpcap.so.0.8"
