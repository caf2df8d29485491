"""Link flags for Debian 12's system libraries (Bazel cannot download them).

Under --config=tsan (--define=absl=tsan) Abseil is not Debian's uninstrumented
libabsl_*.so but build/absl-tsan/lib/libabsl_tsan.a (same version, built with
-fsanitize=thread by tools/build-absl-tsan.sh), so
ThreadSanitizer sees absl::Mutex. Debian's gRPC links the system libabsl itself,
so a binary that needs gRPC cannot be built under --config=tsan (two copies of
absl): its link fails on purpose, naming the reason.
"""

load("@absl_tsan//:archive.bzl", "ABSL_TSAN_ARCHIVE")

_SYSTEM_ABSL_LINKOPTS = [
    "-labsl_statusor",
    "-labsl_status",
    "-labsl_cord",
    "-labsl_cordz_info",
    "-labsl_cord_internal",
    "-labsl_cordz_functions",
    "-labsl_cordz_handle",
    "-labsl_exponential_biased",
    "-labsl_str_format_internal",
    "-labsl_synchronization",
    "-labsl_graphcycles_internal",
    "-labsl_stacktrace",
    "-labsl_symbolize",
    "-labsl_debugging_internal",
    "-labsl_demangle_internal",
    "-labsl_malloc_internal",
    "-labsl_time",
    "-labsl_civil_time",
    "-labsl_time_zone",
    "-labsl_strings",
    "-labsl_strings_internal",
    "-labsl_int128",
    "-labsl_throw_delegate",
    "-labsl_bad_optional_access",
    "-labsl_bad_variant_access",
    "-labsl_hash",
    "-labsl_city",
    "-labsl_low_level_hash",
    "-labsl_raw_hash_set",
    "-labsl_base",
    "-labsl_spinlock_wait",
    "-labsl_raw_logging_internal",
    "-labsl_log_severity",
    "-labsl_strerror",
    "-lpthread",
]

ABSL_LINKOPTS = select({
    "//tools/bazel:absl_tsan": [ABSL_TSAN_ARCHIVE, "-lpthread"],
    "//conditions:default": _SYSTEM_ABSL_LINKOPTS,
})

PROTOBUF_LINKOPTS = ["-lprotobuf"] + ABSL_LINKOPTS

GRPC_LINKOPTS = select({
    "//tools/bazel:absl_tsan": [
        # Fails the link: "cannot find -lgrpc_..._under_config_tsan".
        "-lgrpc_links_system_absl_so_it_cannot_link_under_config_tsan",
    ],
    "//conditions:default": ["-lgrpc++", "-lgrpc", "-lgpr", "-lprotobuf"] + _SYSTEM_ABSL_LINKOPTS,
})

PCAP_LINKOPTS = ["-lpcap"]

GTEST_LINKOPTS = ["-lgtest", "-lgtest_main", "-lpthread"]
