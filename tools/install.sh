#!/bin/bash
# install.sh — builds mydev with Bazel and installs it under PREFIX
# (default /usr/local). Idempotent: re-running replaces the files atomically
# (a running tcpdump keeps its old mapping).
#
#   PREFIX/bin/mydevd, PREFIX/bin/mydev-run, PREFIX/bin/mydevctl, PREFIX/bin/mydev-dashboard
#   PREFIX/lib/mydev/libpcap.so.0.8, PREFIX/lib/mydev/libmydev-client.so
#   PREFIX/lib/systemd/system/mydevd.service, the hardened unit, not enabled
#   (deploy/systemd/install-unit.sh; PREFIX /usr/local is in systemd's unit
#   search path), its no-afpacket drop-in and docs/DEPLOY.md under PREFIX/share
#   the system user `mydevd` (created if missing, when run as root): mydevd,
#   started as root, switches to it once its devices are open
#   (daemon/control/capabilities.h).
#
# Usage: tools/install.sh [PREFIX]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${1:-/usr/local}"
cd "$ROOT"

bazel build --noshow_progress //daemon:mydevd //pcapmod:all //tools/mydevctl \
  //tools/dashboard:mydev-dashboard
BIN="$(bazel info bazel-bin 2>/dev/null)"

# put SRC DEST MODE: copy beside DEST, then rename over it.
# Directories it creates are world-readable whatever the caller's umask.
put() {
  local src=$1 dest=$2 mode=$3
  (umask 022 && mkdir -p "$(dirname "$dest")")
  chmod 755 "$(dirname "$dest")"
  install -m "$mode" "$src" "$dest.tmp.$$"
  mv -f "$dest.tmp.$$" "$dest"
}

put "$BIN/daemon/mydevd" "$PREFIX/bin/mydevd" 0755
put "$BIN/tools/mydevctl/mydevctl" "$PREFIX/bin/mydevctl" 0755
put "$BIN/tools/dashboard/mydev-dashboard" "$PREFIX/bin/mydev-dashboard" 0755
put "$ROOT/tools/mydev-run" "$PREFIX/bin/mydev-run" 0755
put "$BIN/pcapmod/libpcap.so.0.8" "$PREFIX/lib/mydev/libpcap.so.0.8" 0644
put "$BIN/pcapmod/libmydev-client.so" "$PREFIX/lib/mydev/libmydev-client.so" 0644
# The systemd unit (not enabled), with PREFIX's paths; nothing outside PREFIX.
"$ROOT/deploy/systemd/install-unit.sh" "$PREFIX"
# The unprivileged account mydevd runs as (mydevd --user; default `mydevd`).
if [[ $(id -u) -eq 0 ]] && ! getent passwd mydevd >/dev/null; then
  useradd --system --no-create-home --shell /usr/sbin/nologin mydevd
  echo "created the system user mydevd (mydevd switches to it after start-up)"
fi
echo "installed mydev into $PREFIX (run programs on it with $PREFIX/bin/mydev-run)"
