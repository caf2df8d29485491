"""mydev_fuzzer: a libFuzzer target plus a test that replays its seed corpus.

    mydev_fuzzer(
        name = "bpf_program_fuzzer",          # srcs = ["bpf_program_fuzzer.cc"]
        deps = [":bpf_program"],
    )

makes
  :bpf_program_fuzzer              libFuzzer binary, tags manual+fuzz; build it with
                                   `bazel build --config=fuzz` (clang -fsanitize=fuzzer,...)
  :bpf_program_fuzzer_seeds_test   a cc_test running every file of
                                   testdata/fuzz/bpf_program_fuzzer/ through the target
                                   once (a crash found by fuzzing, saved there, stays a
                                   regression test); runs in every `bazel test`.
Both get MYDEV_COPTS (mydev.bzl) and any copts given.
"""

load("//tools/bazel:mydev.bzl", "MYDEV_COPTS")
load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")

def mydev_fuzzer(name, deps = [], srcs = None, size = "small", copts = []):
    srcs = srcs or [name + ".cc"]
    corpus = "testdata/fuzz/" + name
    cc_binary(
        name = name,
        srcs = srcs,
        copts = MYDEV_COPTS + copts,
        deps = deps,
        tags = ["manual", "fuzz"],
    )
    cc_test(
        name = name + "_seeds_test",
        size = size,
        srcs = srcs,
        copts = MYDEV_COPTS + copts,
        deps = deps + ["//tools/fuzzing:seed_runner"],
        data = native.glob([corpus + "/**"]),
        args = [native.package_name() + "/" + corpus],
        tags = ["fuzz_seeds"],
    )
