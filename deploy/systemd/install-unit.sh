#!/bin/bash
# install-unit.sh — installs mydevd.service for mydev installed under PREFIX
# (tools/install.sh calls it; so does tests/deploy_systemd_test.py). The
# unit is installed, not enabled or started:
#
#   UNITDIR/mydevd.service                 @PREFIX@ replaced by PREFIX
#   PREFIX/share/mydev/systemd/no-afpacket.conf   the drop-in for hosts
#                                          without afpacket devices (no capability)
#   PREFIX/share/doc/mydev/DEPLOY.md       the unit's Documentation=
#
# Usage: deploy/systemd/install-unit.sh PREFIX [UNITDIR]
#   UNITDIR: default PREFIX/lib/systemd/system — for PREFIX /usr/local (the
#   default) that is in systemd's unit search path, where locally installed
#   software puts its units (an admin's copy in /etc/systemd/system wins);
#   nothing outside PREFIX is touched, so installing into a scratch PREFIX
#   never replaces the system's unit.
# Then: systemctl daemon-reload && systemctl enable --now mydevd
#   (another PREFIX: systemctl link PREFIX/lib/systemd/system/mydevd.service)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${1:?usage: install-unit.sh PREFIX [UNITDIR]}"
PREFIX="$(cd "$PREFIX" && pwd -P)"
UNITDIR="${2:-$PREFIX/lib/systemd/system}"

# put SRC DEST MODE: beside DEST, then renamed over it.
put() {
  (umask 022 && mkdir -p "$(dirname "$2")")
  install -m "$3" "$1" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
sed "s|@PREFIX@|$PREFIX|g" "$HERE/mydevd.service" >"$tmp"
put "$tmp" "$UNITDIR/mydevd.service" 0644
put "$HERE/no-afpacket.conf" "$PREFIX/share/mydev/systemd/no-afpacket.conf" 0644
# docs/DEPLOY.md from a source tree (absent from some copies: then skipped).
for doc in "$HERE/../../docs/DEPLOY.md" "$HERE/DEPLOY.md"; do
  if [[ -f $doc ]]; then
    put "$doc" "$PREFIX/share/doc/mydev/DEPLOY.md" 0644
    break
  fi
done
case $UNITDIR in
  /etc/systemd/system|/usr/local/lib/systemd/system|/usr/lib/systemd/system|/lib/systemd/system)
    how="systemctl daemon-reload && systemctl enable --now mydevd" ;;
  *) how="systemctl link $UNITDIR/mydevd.service && systemctl enable --now mydevd" ;;
esac
echo "installed $UNITDIR/mydevd.service (not enabled: $how)"
