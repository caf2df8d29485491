"""absl_tsan_archive: a repository whose archive.bzl holds ABSL_TSAN_ARCHIVE,
the absolute path of build/absl-tsan/lib/libabsl_tsan.a in this workspace
(written by tools/build-absl-tsan.sh; linked under --config=tsan by third_party/debian/BUILD).

    # WORKSPACE
    load("//tools/bazel:absl_tsan_archive.bzl", "absl_tsan_archive")
    absl_tsan_archive(name = "absl_tsan")
    # a .bzl file
    load("@absl_tsan//:archive.bzl", "ABSL_TSAN_ARCHIVE")

Linker flags cannot name a workspace file relative to the link's working
directory (the execroot), hence the absolute path. The archive is not a
declared input: after rebuilding it, `bazel clean` relinks the tsan tests.
"""

def _absl_tsan_archive_impl(rctx):
    root = rctx.path(Label("@//:WORKSPACE")).dirname
    rctx.file("BUILD", "")
    rctx.file(
        "archive.bzl",
        "ABSL_TSAN_ARCHIVE = %r\n" % ("%s/build/absl-tsan/lib/libabsl_tsan.a" % root),
    )

absl_tsan_archive = repository_rule(
    implementation = _absl_tsan_archive_impl,
    local = True,
)
