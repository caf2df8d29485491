#!/bin/bash
# bootstrap.sh — installs every Debian package mydev's build, demo and tests
# need, and fetches libpcap's source package (the version installed) into
# third_party/libpcap-src/ (ignored by git). Idempotent; silent when there is
# nothing to do. Run as root on Debian 12. Also installs tests/browser's npm
# packages (Playwright, pinned by its package-lock.json) with `npm ci`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIBPCAP_VERSION="1.10.3-1"
PACKAGES=(
  bazel-bootstrap bazel-rules-java g++ pkg-config
  # tools/bench/fanout_cpu.sh PROFILE=: perf record/report
  linux-perf
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev
  libpcap-dev libgtest-dev
  # libpcap's own Build-Depends: its Bluetooth and D-Bus capture sources, so
  # that //pcapmod:libpcap_so lists the devices Debian's libpcap lists
  libbluetooth-dev libdbus-1-dev
  # pcapmod/mydev_list.c (compiled into that libpcap): HTTP/2 and the
  # messages in C, proto/mydev.proto compiled by protoc-c
  libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
  clang libclang-rt-14-dev clang-format
  dpkg-dev flex bison cmake
  tcpdump tshark iproute2 util-linux procps python3 python3-pytest strace bc
  libncurses-dev grpc-proto tmux
  python3-grpcio python3-grpc-tools openssl
  # deploy/ and tests/deploy_*: the systemd unit's checks, images built from
  # Debian's archive (mmdebstrap), rootful podman with runc and netavark
  systemd mmdebstrap podman runc netavark iptables catatonit python3-yaml
  # mydev-dashboard (prometheus-cpp, civetweb) and its e2e tests: a real
  # Prometheus scraping it, Debian's Chromium driven by Playwright
  prometheus-cpp-dev libcivetweb-dev prometheus chromium
  # xxd -i embeds the dashboard's page (tools/dashboard/web/BUILD)
  xxd
)
# Node.js and npm (tests/browser): the machine's own when it has them (a
# newer Node.js than Debian's may be installed from elsewhere; Debian's npm
# would conflict with it), else Debian's.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
BROWSER_DIR="$ROOT/tests/browser"

log() { echo "bootstrap: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "run me as root (I install Debian packages)"; exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SRC_LIST=/etc/apt/sources.list.d/mydev-deb-src.sources
need_src=0
[[ -f "$ROOT/third_party/libpcap-src/pcap.c" ]] || need_src=1

if [[ $need_src -eq 1 && ! -f $SRC_LIST ]] && ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding a deb-src entry ($SRC_LIST) for apt-get source"
  cat > "$SRC_LIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  rm -f /var/lib/apt/lists/lock.mydev-updated
fi

if [[ ${#missing[@]} -gt 0 || $need_src -eq 1 ]]; then
  log "apt-get update"
  apt-get update -qq >/dev/null
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ $need_src -eq 1 ]]; then
  log "fetching libpcap $LIBPCAP_VERSION source into third_party/libpcap-src"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get source -qq "libpcap=$LIBPCAP_VERSION" >/dev/null 2>&1) || {
    log "apt-get source libpcap=$LIBPCAP_VERSION failed (is a deb-src entry reachable?)"; exit 1; }
  rm -rf "$ROOT/third_party/libpcap-src"
  mv "$tmp/libpcap-1.10.3" "$ROOT/third_party/libpcap-src"
  rm -rf "$tmp"
fi

# Playwright for the dashboard's browser tests, exactly as the lockfile says;
# again only when the lockfile changed since the last `npm ci`.
if [[ -f $BROWSER_DIR/package-lock.json ]]; then
  lock_sum="$(sha256sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)"
  stamp="$BROWSER_DIR/node_modules/.mydev-lock.sha256"
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$lock_sum" ]]; then
    log "npm ci in tests/browser (Playwright)"
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || {
      log "npm ci in tests/browser failed (is the npm registry reachable?)"; exit 1; }
    echo "$lock_sum" > "$stamp"
  fi
fi
