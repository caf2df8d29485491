"""The C and C++ rules every mydev package uses: Bazel's cc_* rules with the
project's compiler checks (MYDEV_COPTS) added to every target, in one place.

    load("//tools/bazel:mydev.bzl", "mydev_cc_library", "mydev_cc_test")

    mydev_cc_library(
        name = "session",
        srcs = ["session.cc"],
        hdrs = ["session.h"],
        deps = ["//third_party/debian:absl"],
    )

What MYDEV_COPTS checks:
  -Wall -Wextra      on every target, every build.
  -Werror            with --config=ci (tools/test.sh): a warning fails CI.
  -Wthread-safety    under clang (--config=clang and every sanitizer config;
                     tools/test.sh builds --config=thread-safety): a field
                     ABSL_GUARDED_BY(mu) touched without mu held is a
                     warning, an error with -Werror. gcc ignores the
                     annotations, so the clang build is the one that checks.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

MYDEV_COPTS = [
    "-Wall",
    "-Wextra",
] + select({
    "//tools/bazel:werror": ["-Werror"],
    "//conditions:default": [],
})

def mydev_cc_library(name, copts = [], **kwargs):
    """cc_library with MYDEV_COPTS."""
    cc_library(name = name, copts = MYDEV_COPTS + copts, **kwargs)

def mydev_cc_binary(name, copts = [], **kwargs):
    """cc_binary with MYDEV_COPTS."""
    cc_binary(name = name, copts = MYDEV_COPTS + copts, **kwargs)

def mydev_cc_test(name, copts = [], deps = [], **kwargs):
    """cc_test with MYDEV_COPTS, linked with GoogleTest's main()."""
    cc_test(
        name = name,
        copts = MYDEV_COPTS + copts,
        deps = deps + ["//third_party/debian:gtest_main"],
        **kwargs
    )
