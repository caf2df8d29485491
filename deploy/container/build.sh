#!/bin/bash
# build.sh — builds mydev's container images offline, from Debian's
# archive only (no registry, no base image), reproducibly:
#
#   localhost/mydevd:latest     mydevd, mydevctl, mydev-dashboard and the
#                               client libraries (tools/install.sh's files,
#                               under /usr/local), the runtime libraries they
#                               load and nothing else: no package manager, no
#                               coreutils, one busybox for the entry point
#                               (mydevd-entrypoint.sh). The DaemonSet runs the
#                               dashboard from this image too (command:
#                               mydev-dashboard): it loads the same gRPC,
#                               protobuf and OpenSSL as mydevd, so it adds only
#                               its binary, prometheus-cpp and civetweb here,
#                               where an image of its own would carry a second
#                               copy of those ~20 MB (each image is one layer
#                               FROM scratch: nothing is shared between them).
#   localhost/mydev-app:latest  the example application: a plain Debian 12
#                               (mmdebstrap --variant=essential, merged /usr,
#                               no docs, like debian:bookworm-slim) with
#                               Debian's tcpdump and a user `app` (uid 1000);
#                               it knows nothing of mydev.
#
# Usage: deploy/container/build.sh [--prefix DIR] [--only mydevd|app|systemd-host]
#                                  [--force] [--verify-reproducible]
#   --prefix DIR   an installed tree (tools/install.sh's layout: bin/mydevd,
#                  bin/mydevctl, bin/mydev-dashboard, lib/mydev/libpcap.so.0.8,
#                  lib/mydev/libmydev-client.so); default: tools/install.sh
#                  into a temporary directory (builds with Bazel).
#   --only IMAGE   build one image: mydevd, app, or systemd-host (a Debian
#                  with systemd as PID 1 and the runtime libraries, for
#                  tests/deploy_systemd_test.py; not built otherwise).
#   --force        rebuild even when the inputs did not change.
#   --verify-reproducible   build the images again under scratch names and
#                  fail unless the image IDs are identical (then remove them).
#
# How: `mmdebstrap` makes the root file system as a tar file (mydevd: variant
# `extract` of exactly the packages owning the libraries `ldd` finds, plus
# busybox; every package pinned to the version apt on this host would install,
# from this host's Debian sources: $MYDEV_APT_SOURCES, default
# /etc/apt/sources.list.d/debian.sources), a hook adds the
# installed files, and `podman build --timestamp` turns the tar into an image
# FROM scratch. With SOURCE_DATE_EPOCH fixed (default below) the same inputs
# and the same archive give the same image ID, byte for byte.
#
# Cache: each image carries the label org.mydev.inputs, a hash of its inputs
# (this script, the entry point, the package list with versions, the
# installed files' contents, the epoch); when the image in podman's storage
# has the same hash, nothing is rebuilt. The application image's .debs are
# kept in $MYDEV_DEB_CACHE (default /var/cache/mydev/debs) for the next build.
#
# Needs root (mmdebstrap's root mode, rootful podman), Debian's mmdebstrap,
# podman and runc (tools/bootstrap.sh installs them), and the configured
# apt archive. podman reads CONTAINERS_CONF (default: containers.conf beside
# this script: runc, cgroupfs, ulimits within this host's hard limits).
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # ldconfig, chroot (also under Bazel)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=bookworm
MYDEVD_IMAGE=localhost/mydevd:latest
APP_IMAGE=localhost/mydev-app:latest
SYSTEMD_HOST_IMAGE=localhost/mydev-systemd-host:latest
export CONTAINERS_CONF="${CONTAINERS_CONF:-$HERE/containers.conf}"
# 2024-01-01T00:00:00Z: every file's mtime and the images' creation time.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1704067200}"
DEB_CACHE="${MYDEV_DEB_CACHE:-/var/cache/mydev/debs}"
# The archive: this host's Debian sources (bookworm, -updates, -security).
APT_SOURCES="${MYDEV_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
[[ -f $APT_SOURCES ]] || APT_SOURCES=/etc/apt/sources.list
# The installed files that go into the mydevd image (tools/install.sh's).
PREFIX_FILES=(bin/mydevd bin/mydevctl bin/mydev-dashboard lib/mydev/libpcap.so.0.8
  lib/mydev/libmydev-client.so)
CLIENT_FILES=(lib/mydev/libpcap.so.0.8 lib/mydev/libmydev-client.so)

log() { echo "build.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# ------------------------------------------------------------------ hooks
# mmdebstrap runs these (mydevd: --extract-hook, the only hook its extract
# variant runs; app: --customize-hook) with the root file system's path.

# hook_mydevd ROOTFS WORK: the installed files, the entry point, the users,
# the client library list, ld.so.cache; then checks every file's libraries
# resolve inside the root file system.
hook_mydevd() {
  local r=$1 work=$2
  rm -rf "$r"/usr/share/doc "$r"/usr/share/man "$r"/usr/share/info "$r"/usr/share/locale \
    "$r"/usr/share/lintian "$r"/usr/share/bug "$r"/etc/resolv.conf "$r"/etc/hostname
  install -d -m 0755 "$r"/usr/local/bin "$r"/usr/local/lib/mydev "$r"/usr/local/share/mydev \
    "$r"/run/mydev "$r"/etc/mydevd "$r"/root "$r"/tmp
  chmod 1777 "$r"/tmp
  install -m 0755 "$work"/prefix/bin/mydevd "$work"/prefix/bin/mydevctl \
    "$work"/prefix/bin/mydev-dashboard "$r"/usr/local/bin/
  install -m 0644 "$work"/prefix/lib/mydev/* "$r"/usr/local/lib/mydev/
  install -m 0755 "$HERE"/mydevd-entrypoint.sh "$r"/usr/local/bin/mydevd-entrypoint
  ln -sfn busybox "$r"/bin/sh
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$r"/etc/passwd
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r"/etc/group
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r"/etc/nsswitch.conf
  printf 'include /etc/ld.so.conf.d/*.conf\n' >"$r"/etc/ld.so.conf
  # Only the libraries something loads: the packages also ship siblings
  # nothing here uses (libgrpc_unsecure, libprotoc, channelz, ...). glibc's
  # files all stay, bar its iconv modules (gconv: nothing converts charsets).
  local -A keep=()
  local so f d
  while read -r so; do
    for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu; do
      [[ -e "$r$d/$so" ]] || continue
      keep[$d/$so]=1
      f=$(cd "$r$d" && readlink -f "$so")
      keep[$d/${f##*/}]=1
    done
  done <"$work"/all-sonames
  while read -r f; do keep[/${f#./}]=1; done < <(dpkg-deb -c "$r"/var/cache/apt/archives/libc6_*.deb |
    awk '{print $6}' | grep -E '^\./(usr/)?lib/x86_64-linux-gnu/[^/]+$')
  for f in "$r"/usr/lib/x86_64-linux-gnu/*.so* "$r"/lib/x86_64-linux-gnu/*.so*; do
    [[ -n ${keep[${f#"$r"}]:-} ]] || rm -f "$f"
  done
  rm -rf "$r"/usr/lib/x86_64-linux-gnu/gconv "$r"/usr/share/gdb "$r"/usr/share/gcc \
    "$r"/usr/share/initramfs-tools
  # civetweb (the dashboard's HTTP server) dlopen()s OpenSSL by its
  # development names, libssl.so and libcrypto.so, for an HTTPS listener;
  # point them at the libraries gRPC already brought.
  local lib="$r"/usr/lib/x86_64-linux-gnu
  for so in libssl libcrypto; do
    if [[ -e $lib/libcivetweb.so.1 && -e $lib/$so.so.3 ]]; then ln -sfn "$so.so.3" "$lib/$so.so"; fi
  done
  ldconfig -r "$r"
  # What went in, with versions (the extract variant keeps no dpkg database).
  (cd "$r"/var/cache/apt/archives && ls -1 -- *.deb) | sed 's/\.deb$//' \
    >"$r"/usr/local/share/mydev/image-packages.txt
  # The client libraries mydevd-entrypoint publishes: the two files, then
  # the libraries they load (glibc's excepted), as paths in this file system.
  local list="$r"/usr/local/lib/mydev/client-libs paths=() so p
  paths+=(/usr/local/lib/mydev/libpcap.so.0.8 /usr/local/lib/mydev/libmydev-client.so)
  while read -r so; do
    p=""
    for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu; do
      if [[ -e "$r$d/$so" ]]; then p="$d/$so"; break; fi
    done
    [[ -n "$p" ]] || die "client library $so is not in the image"
    paths+=("$p")
  done <"$work"/client-sonames
  local version
  version=$(for p in "${paths[@]}"; do sha256sum <"$r$p"; done | sha256sum | cut -c1-16)
  { echo "# version $version"; printf '%s\n' "${paths[@]}"; } >"$list"
  chmod 0644 "$list"
  # Every installed file loads, inside the image (its dynamic loader).
  local f out
  for f in "${PREFIX_FILES[@]}"; do
    out=$(chroot "$r" /lib64/ld-linux-x86-64.so.2 --list "/usr/local/$f" 2>&1) ||
      die "/usr/local/$f does not load in the image: $out"
    [[ $out != *"not found"* ]] || die "/usr/local/$f: a library is missing: $out"
  done
}

# hook_app ROOTFS: the application image's user and host-independent files.
hook_app() {
  local r=$1
  rm -f "$r"/etc/resolv.conf "$r"/etc/hostname
  echo 'app:x:1000:1000:example application:/home/app:/bin/sh' >>"$r"/etc/passwd
  echo 'app:x:1000:' >>"$r"/etc/group
  install -d -m 0755 -o 1000 -g 1000 "$r"/home/app
  install -d -m 0755 "$r"/run/mydev
}

# hook_systemd_host ROOTFS: no getty on a console the container does not have.
hook_systemd_host() {
  local r=$1
  rm -f "$r"/etc/resolv.conf "$r"/etc/hostname
  ln -sfn /dev/null "$r"/etc/systemd/system/console-getty.service
  ln -sfn /dev/null "$r"/etc/systemd/system/getty@tty1.service
}

if [[ ${1:-} == --hook ]]; then
  shift
  case $1 in
    mydevd) hook_mydevd "$2" "$3" ;;
    app) hook_app "$2" ;;
    systemd-host) hook_systemd_host "$2" ;;
  esac
  exit 0
fi

# ------------------------------------------------------------------ options
prefix="" only="" force=0 verify=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --only) only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --force) force=1; shift ;;
    --verify-reproducible) verify=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case $only in ""|mydevd|app|systemd-host) ;; *) die "--only: mydevd, app or systemd-host, not '$only'" ;; esac
[[ $(id -u) -eq 0 ]] || die "run me as root (mmdebstrap, rootful podman)"
for tool in mmdebstrap podman runc; do
  command -v "$tool" >/dev/null || die "$tool is missing: run tools/bootstrap.sh"
done

work="$(mktemp -d "${TMPDIR:-/tmp}/mydev-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"

# pinned PKG...: PKG=VERSION for each, the candidate of this host's apt
# (the configured archive, as of the last apt-get update): the package set
# is the cache key, and one archive state gives one image.
pinned() {
  apt-cache policy "$@" | awk -v want="$*" '
    /^[^ ].*:$/ { pkg = substr($0, 1, length($0) - 1) }
    /^ *Candidate: / && $2 != "(none)" { ver[pkg] = $2 }
    END { n = split(want, w, " ")
          for (i = 1; i <= n; i++) {
            if (!(w[i] in ver)) { print "MISSING " w[i]; continue }
            print w[i] "=" ver[w[i]] } }' |
    while read -r line; do
      [[ $line != MISSING* ]] ||
        die "package ${line#MISSING } is not in the configured archive (apt-get update?)"
      echo "$line"
    done
}

# owners PATH...: "PATH PACKAGE" for each library path, the package that
# ships it (merged-/usr aware: the path, its target, with and without /usr).
owners() {
  local -A variants=() owner_of=()
  local path alt c line pkgs
  for path in "$@"; do
    alt=$(readlink -f "$path")
    variants[$path]="$path $alt /usr$path ${path#/usr} /usr$alt ${alt#/usr}"
  done
  # One dpkg-query for all ("pkg[:arch][, pkg2]: /path" lines).
  while IFS= read -r line; do
    pkgs=${line%%: /*}
    pkgs=${pkgs%%,*}
    owner_of[/${line#*: /}]=${pkgs%%:*}
  done < <(dpkg-query -S ${variants[*]} 2>/dev/null || true)
  for path in "$@"; do
    local found=""
    for c in ${variants[$path]}; do
      if [[ -n ${owner_of[$c]:-} ]]; then found=${owner_of[$c]}; break; fi
    done
    [[ -n $found ]] || die "no Debian package ships $path (needed by the installed files)"
    echo "$path $found"
  done
}

# libs FILE...: "PATH" lines of every library the files load (ldd).
libs() {
  local f out
  for f in "$@"; do
    out=$(ldd "$f") || die "ldd $f failed"
    [[ $out != *"not found"* ]] || die "$f: a library is missing on this host: $out"
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out"
  done | sort -u
}

# image_inputs IMAGE: the org.mydev.inputs label of an image, or "".
image_inputs() {
  podman image inspect --format '{{ index .Labels "org.mydev.inputs" }}' "$1" 2>/dev/null || true
}

# build_rootfs OUT.tar CACHE MMDEBSTRAP-ARGS...: mmdebstrap; CACHE (a
# directory name under $DEB_CACHE, or "") keeps the downloaded .debs for the
# next build.
build_rootfs() {
  local out=$1 cache=$2 hooks=()
  shift 2
  if [[ -n $cache ]]; then
    mkdir -p "$DEB_CACHE/$cache"
    hooks=(--skip=essential/unlink
      --setup-hook='mkdir -p "$1"/var/cache/apt/archives/'
      --setup-hook="sync-in $DEB_CACHE/$cache /var/cache/apt/archives/"
      --customize-hook="sync-out /var/cache/apt/archives $DEB_CACHE/$cache")
  fi
  if ! mmdebstrap --quiet --dpkgopt=force-unsafe-io "$@" "${hooks[@]}" "$SUITE" "$out" \
    "$APT_SOURCES" >"$out.log" 2>&1; then
    tail -n 30 "$out.log" >&2
    die "mmdebstrap failed (is the Debian archive reachable? a pinned version gone from it? then apt-get update, and rebuild)"
  fi
}

# podman_image TAR TAG INPUTS [INSTRUCTION...]: FROM scratch + the tar.
podman_image() {
  local tar=$1 tag=$2 inputs=$3; shift 3
  local ctx="$work/ctx.$RANDOM"
  mkdir -p "$ctx"
  ln "$tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$tar" "$ctx/rootfs.tar"
  {
    echo "FROM scratch"
    echo "ADD rootfs.tar /"
    printf '%s\n' "$@"
    echo "LABEL org.mydev.inputs=$inputs"
  } >"$ctx/Containerfile"
  podman build --quiet --timestamp "$SOURCE_DATE_EPOCH" --pull=never --network=none \
    --format oci -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
}

image_id() { podman image inspect --format '{{.Id}}' "$1"; }

# up_to_date IMAGE INPUTS: true (and says so) when IMAGE carries INPUTS and
# neither --force nor --verify-reproducible was given.
up_to_date() {
  [[ $force -eq 0 && $verify -eq 0 && $(image_inputs "$1") == "$2" ]] || return 1
  log "$1 is up to date (inputs $2)"
}

# tag_for IMAGE: where to build it (a scratch tag under --verify-reproducible).
tag_for() {
  if [[ $verify -eq 1 ]]; then echo "${1%:*}:verify-reproducible"; else echo "$1"; fi
}

# verify_same IMAGE SCRATCH: the two have the same ID (then SCRATCH goes).
verify_same() {
  local want got
  want=$(image_id "$1" 2>/dev/null || echo "(no $1)")
  got=$(image_id "$2")
  podman rmi "$2" >/dev/null 2>&1 || true
  [[ $want == "$got" ]] || die "not reproducible: $1 is $want, the rebuild $got"
  log "reproducible: the rebuild of $1 has the same ID ${got:0:12}"
}

# finish IMAGE TAG T0 [TAR]: reports the build, checks reproducibility.
finish() {
  local image=$1 tag=$2 t0=$3 tar=${4:-}
  log "built $tag in $((SECONDS - t0)) s: $(image_id "$tag" | cut -c1-12)${tar:+, root file system $(( $(stat -c %s "$tar") / 1000000 )) MB}"
  if [[ $verify -eq 1 ]]; then verify_same "$image" "$tag"; fi
}

# ------------------------------------------------------------------ prefix
# prepare_prefix: copies the installed files into $work/prefix and finds
# what they load: RUNTIME_PKGS (the packages owning those libraries, pinned),
# $work/all-sonames, and $work/client-sonames (what the client libraries
# load, glibc's excepted: the application's own glibc serves).
RUNTIME_PKGS=()
prepare_prefix() {
  [[ ${#RUNTIME_PKGS[@]} -eq 0 ]] || return 0
  if [[ -z $prefix ]]; then
    log "no --prefix: installing mydev into $work/install (tools/install.sh)"
    "$ROOT/tools/install.sh" "$work/install" >&2
    prefix="$work/install"
  fi
  local f
  for f in "${PREFIX_FILES[@]}"; do
    [[ -f "$prefix/$f" ]] || die "$prefix/$f is missing (is --prefix an installed tree?)"
    install -D -m 0644 "$prefix/$f" "$work/prefix/$f"
  done
  chmod 0755 "$work"/prefix/bin/*
  local paths client_sonames=() path pkg
  local -A pkg_of=()
  mapfile -t paths < <(cd "$work/prefix" && libs "${PREFIX_FILES[@]}")
  printf '%s\n' "${paths[@]##*/}" | sort -u >"$work/all-sonames"
  while read -r path pkg; do pkg_of[$path]=$pkg; done < <(owners "${paths[@]}")
  mapfile -t RUNTIME_PKGS < <(printf '%s\n' "${pkg_of[@]}" | sort -u)
  while read -r path; do
    [[ ${pkg_of[$path]} == libc6 ]] || client_sonames+=("$(basename "$path")")
  done < <(cd "$work/prefix" && libs "${CLIENT_FILES[@]}")
  printf '%s\n' "${client_sonames[@]}" | sort -u >"$work/client-sonames"
}

# ------------------------------------------------------------------ mydevd
build_mydevd() {
  prepare_prefix
  # The runtime libraries' packages and busybox (the entry point's shell
  # and file tools), nothing else.
  local pkgs inputs
  mapfile -t pkgs < <(pinned "${RUNTIME_PKGS[@]}" busybox)
  inputs=$( {
    echo "suite $SUITE epoch $SOURCE_DATE_EPOCH"
    sha256sum "$SELF" "$HERE/mydevd-entrypoint.sh" | awk '{print $1}'
    printf '%s\n' "${pkgs[@]}"
    (cd "$work/prefix" && sha256sum "${PREFIX_FILES[@]}")
  } | sha256sum | cut -c1-32)
  up_to_date "$MYDEVD_IMAGE" "$inputs" && return 0
  local tag t0=$SECONDS
  tag=$(tag_for "$MYDEVD_IMAGE")
  log "building $tag: ${#pkgs[@]} packages pinned (${pkgs[*]})"
  build_rootfs "$work/mydevd.tar" "" --variant=extract --include="$(IFS=,; echo "${pkgs[*]}")" \
    --extract-hook="\"$SELF\" --hook mydevd \"\$1\" \"$work\""
  podman_image "$work/mydevd.tar" "$tag" "$inputs" \
    "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "LABEL org.opencontainers.image.title=mydevd org.opencontainers.image.description=\"mydev capture daemon and dashboard (deploy/container/build.sh)\"" \
    "ENTRYPOINT [\"/usr/local/bin/mydevd-entrypoint\"]" \
    "CMD [\"--socket=/run/mydev/mydevd.sock\", \"--user=root\"]"
  finish "$MYDEVD_IMAGE" "$tag" "$t0" "$work/mydevd.tar"
}

# Debian's essential set with merged /usr and without docs (like
# debian:bookworm-slim), plus the packages given.
ESSENTIAL_ARGS=(--variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*')

# ------------------------------------------------------------------ app
build_app() {
  local pkgs inputs
  mapfile -t pkgs < <(pinned tcpdump)
  inputs=$( {
    echo "suite $SUITE epoch $SOURCE_DATE_EPOCH app ${ESSENTIAL_ARGS[*]}"
    sha256sum "$SELF" | awk '{print $1}'
    printf '%s\n' "${pkgs[@]}"
  } | sha256sum | cut -c1-32)
  up_to_date "$APP_IMAGE" "$inputs" && return 0
  local tag t0=$SECONDS
  tag=$(tag_for "$APP_IMAGE")
  log "building $tag (Debian $SUITE essential + ${pkgs[*]})"
  build_rootfs "$work/app.tar" app "${ESSENTIAL_ARGS[@]}" --include="$(IFS=,; echo "${pkgs[*]}")" \
    --customize-hook="\"$SELF\" --hook app \"\$1\""
  podman_image "$work/app.tar" "$tag" "$inputs" \
    "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin" \
    "LABEL org.opencontainers.image.title=mydev-app org.opencontainers.image.description=\"example application with Debian's tcpdump (deploy/container/build.sh)\"" \
    "USER 1000:1000" \
    "CMD [\"sleep\", \"infinity\"]"
  finish "$APP_IMAGE" "$tag" "$t0"
}

# ------------------------------------------------------------------ systemd-host
# A Debian host with systemd as PID 1, for tests/deploy_systemd_test.py: the
# runtime libraries, systemd, tcpdump, passwd (useradd); mydev itself is
# mounted in by the test and installed with deploy/systemd/install-unit.sh.
build_systemd_host() {
  prepare_prefix
  local pkgs inputs
  mapfile -t pkgs < <(pinned "${RUNTIME_PKGS[@]}" systemd systemd-sysv passwd tcpdump procps)
  inputs=$( {
    echo "suite $SUITE epoch $SOURCE_DATE_EPOCH systemd-host ${ESSENTIAL_ARGS[*]}"
    sha256sum "$SELF" | awk '{print $1}'
    printf '%s\n' "${pkgs[@]}"
  } | sha256sum | cut -c1-32)
  up_to_date "$SYSTEMD_HOST_IMAGE" "$inputs" && return 0
  local tag t0=$SECONDS
  tag=$(tag_for "$SYSTEMD_HOST_IMAGE")
  log "building $tag (Debian $SUITE essential + systemd + the runtime libraries)"
  build_rootfs "$work/systemd-host.tar" systemd-host "${ESSENTIAL_ARGS[@]}" \
    --include="$(IFS=,; echo "${pkgs[*]}")" --customize-hook="\"$SELF\" --hook systemd-host \"\$1\""
  podman_image "$work/systemd-host.tar" "$tag" "$inputs" \
    "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin" \
    "LABEL org.opencontainers.image.title=mydev-systemd-host" \
    "STOPSIGNAL SIGRTMIN+3" \
    "CMD [\"/sbin/init\"]"
  finish "$SYSTEMD_HOST_IMAGE" "$tag" "$t0"
}

case $only in
  "") build_mydevd; build_app ;;
  mydevd) build_mydevd ;;
  app) build_app ;;
  systemd-host) build_systemd_host ;;
esac
# The images these replaced (untagged now), unless a container still uses one.
podman image prune -f --filter label=org.mydev.inputs >/dev/null 2>&1 || true
exit 0
