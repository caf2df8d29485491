#!/bin/bash
# build-absl-tsan.sh — builds the Abseil libraries mydev links, from Debian's
# own source package (the version of the installed libabsl-dev, so its headers
# are the ones in /usr/include), with clang -fsanitize=thread, into one static
# archive: build/absl-tsan/lib/libabsl_tsan.a (ignored by git).
# `bazel test --config=tsan` links that archive instead of Debian's
# uninstrumented libabsl_*.so, so ThreadSanitizer sees absl::Mutex/CondVar.
# Idempotent; silent when the archive is already there. Needs clang, cmake,
# dpkg-dev and a deb-src entry (tools/bootstrap.sh sets those up).
# Usage: ./tools/build-absl-tsan.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/build/absl-tsan"
ARCHIVE="$OUT/lib/libabsl_tsan.a"
VERSION="$(dpkg-query -W -f='${Version}' libabsl-dev 2>/dev/null)" || {
  echo "build-absl-tsan: libabsl-dev is not installed (run tools/bootstrap.sh)" >&2; exit 1; }
STAMP="$OUT/lib/VERSION"

# The absl CMake targets behind //third_party/debian:absl's link flags (their own
# dependencies are built too; every library built goes into the archive).
TARGETS=(statusor status cord str_format_internal
  synchronization time strings hash raw_hash_set
  bad_optional_access bad_variant_access symbolize stacktrace)

log() { echo "build-absl-tsan: $*" >&2; }

[[ -f "$ARCHIVE" && "$(cat "$STAMP" 2>/dev/null)" == "$VERSION" ]] && exit 0

src="$OUT/src"
if [[ "$(cat "$src/.mydev-version" 2>/dev/null)" != "$VERSION" ]]; then
  log "fetching abseil $VERSION source (apt-get source)"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get source -qq "abseil=$VERSION" >/dev/null 2>&1) || {
    log "apt-get source abseil=$VERSION failed (is a deb-src entry reachable? see tools/bootstrap.sh)"
    rm -rf "$tmp"; exit 1; }
  rm -rf "$src"
  mkdir -p "$OUT"
  mv "$tmp"/abseil-*/ "$src"
  rm -rf "$tmp"
  echo "$VERSION" > "$src/.mydev-version"
fi

# Headers must be exactly the installed ones (Debian patches options.h: the
# inline namespace and which std types absl aliases).
while IFS= read -r h; do
  cmp -s "/usr/include/$h" "$src/$h" || {
    log "$src/$h differs from /usr/include/$h: wrong source version"; exit 1; }
done < <(cd /usr/include && find absl -type f)

log "building abseil $VERSION with clang -fsanitize=thread (about a minute on 2 cores)"
obj="$OUT/obj"
flags="-fsanitize=thread -fno-omit-frame-pointer -g -O1"
CC=clang CXX=clang++ cmake -S "$src" -B "$obj" -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON >"$OUT/cmake.log" 2>&1 || {
  log "cmake configure failed: see $OUT/cmake.log"; exit 1; }
cmake --build "$obj" -j"$(nproc)" --target "${TARGETS[@]}" >>"$OUT/cmake.log" 2>&1 || {
  log "build failed: see $OUT/cmake.log"; exit 1; }

# One archive: the linker then resolves the libraries' mutual references
# whatever order they come in.
mkdir -p "$OUT/lib"
rm -f "$ARCHIVE" "$STAMP"
{
  echo "CREATE $ARCHIVE"
  find "$obj/absl" -name 'libabsl_*.a' | sort | sed 's/^/ADDLIB /'
  echo "SAVE"
  echo "END"
} | ar -M
ranlib "$ARCHIVE"
echo "$VERSION" > "$STAMP"
log "wrote $ARCHIVE"
