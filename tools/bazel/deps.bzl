"""Link flags for Debian 12's system libraries (Bazel cannot download them)."""

ABSL_LINKOPTS = [
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

PROTOBUF_LINKOPTS = ["-lprotobuf"] + ABSL_LINKOPTS

GRPC_LINKOPTS = [
    "-lgrpc++",
    "-lgrpc",
    "-lgpr",
] + PROTOBUF_LINKOPTS

PCAP_LINKOPTS = ["-lpcap"]

GTEST_LINKOPTS = ["-lgtest", "-lgtest_main", "-lpthread"]
