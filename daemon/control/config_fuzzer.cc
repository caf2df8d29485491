// config_fuzzer.cc — libFuzzer target for mydevd's config file: protobuf
// TextFormat parsing plus mydev's validation, limits and access policy. Any
// text must give a config or an error that names the problem; never a crash.
//
// Input: the config file's text. Seeds: testdata/fuzz/config_fuzzer/ (the
// example configs and variations; tools/fuzz.sh runs it).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/control/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<mydev::config::Config> config = mydev::daemon::ParseConfig(text, "fuzz.conf");
  if (!config.ok()) {
    if (config.status().message().empty()) std::abort();  // errors say why
    return 0;
  }
  // A config ParseConfig accepted is valid: everything downstream must work.
  if (!mydev::daemon::ValidateConfig(*config).ok()) std::abort();
  mydev::daemon::Limits limits = mydev::daemon::ResolveLimits(config->limits());
  if (limits.max_ring_bytes == 0 || limits.max_bpf_insns == 0 || limits.max_sessions_per_uid == 0)
    std::abort();  // zeros are replaced by defaults
  absl::StatusOr<mydev::daemon::AccessPolicy> access = mydev::daemon::BuildAccessPolicy(*config);
  if (!access.ok() && access.status().message().empty()) std::abort();
  for (const auto& device : config->device())
    if (!mydev::daemon::IsValidDeviceName(device.name())) std::abort();
  return 0;
}
