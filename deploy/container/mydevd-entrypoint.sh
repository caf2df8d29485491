#!/bin/sh
# mydevd-entrypoint — how the mydevd container starts (image
# localhost/mydevd, deploy/container/build.sh): it publishes the client
# libraries into the volume the pod shares, then becomes mydevd.
#
#   mydevd-entrypoint [mydevd flags...]        e.g. --socket=/run/mydev/mydevd.sock
#   mydevd-entrypoint --publish-only [--socket=PATH]   publish, then exit
#                                   (a pod's init container: the libraries are
#                                   there before any other container starts)
#
# The client libraries are the module-enabled libpcap.so.0.8,
# libmydev-client.so and every library they load except glibc's (the list,
# made when the image was built, is /usr/local/lib/mydev/client-libs). An
# application container of any Debian 12-based image (glibc >= 2.36) with
# tcpdump/tshark then captures through mydevd, its image unchanged:
#
#   LD_LIBRARY_PATH=/run/mydev/lib MYDEV_SOCKET=/run/mydev/mydevd.sock tcpdump -i mydev0
#
# $MYDEV_CLIENT_LIB_DIR (default: lib/ beside the --socket given, e.g.
# /run/mydev/lib for --socket=/run/mydev/mydevd.sock) is a symbolic link to
# lib.<content hash>/ beside it, replaced atomically (rename) when another
# version starts: a capture still running keeps the files it has mapped, a
# new one loads one version only. Other lib.* directories are removed.
#
# Runs as uid 0 holding at most CAP_NET_RAW (no CAP_DAC_OVERRIDE): the
# directory must be the container's own (an emptyDir, or the DaemonSet's
# hostPath), owned by root.
set -eu

bb=/bin/busybox
list=/usr/local/lib/mydev/client-libs
publish_only=0
if [ "${1:-}" = --publish-only ]; then
  publish_only=1
  shift
fi
# The socket's directory, from --socket (as mydevd parses it), else mydevd's default.
socket=/run/mydevd/mydevd.sock
prev=""
for arg in "$@"; do
  case $prev in --socket|-socket) socket=$arg ;; esac
  case $arg in --socket=*|-socket=*) socket=${arg#*=} ;; esac
  prev=$arg
done
link=${MYDEV_CLIENT_LIB_DIR:-$($bb dirname "$socket")/lib}
parent=$($bb dirname "$link")
name=$($bb basename "$link")

# The list's first line is "# version HASH" (the files' content hash).
version=$($bb sed -n '1s/^# version //p' "$list")
[ -n "$version" ] || { echo "mydevd-entrypoint: no version line in $list" >&2; exit 1; }
dir="$name.$version"

$bb mkdir -p "$parent"
if [ ! -d "$parent/$dir" ]; then
  tmp="$parent/.$dir.tmp.$$"
  $bb rm -rf "$tmp"
  $bb mkdir -m 0755 "$tmp"
  $bb sed '/^#/d' "$list" | while read -r path; do
    $bb cp -L "$path" "$tmp/"
  done
  $bb chmod 0644 "$tmp"/*
  $bb mv "$tmp" "$parent/$dir"
fi
if [ "$($bb readlink "$link" 2>/dev/null || true)" != "$dir" ]; then
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "mydevd-entrypoint: $link exists and is not a symbolic link; remove it" >&2
    exit 1
  fi
  $bb ln -sfn "$dir" "$parent/.$name.new.$$"
  $bb mv -fT "$parent/.$name.new.$$" "$link"
fi
for old in "$parent/$name".*; do
  [ "$old" = "$parent/$dir" ] || [ ! -d "$old" ] || $bb rm -rf "$old"
done
echo "mydevd-entrypoint: client libraries in $link -> $dir" >&2
[ $publish_only -eq 0 ] || exit 0

exec /usr/local/bin/mydevd "$@"
