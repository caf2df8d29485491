// flags.cc — the definitions of mydevctl's flags (see flags.h) and their
// checking into CommandOptions.
#include "tools/mydevctl/flags.h"

#include "absl/flags/flag.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(int32_t, timeout_ms, 5000,
          "deadline of each GetStats / health Check call, in milliseconds");
ABSL_FLAG(std::string, format, "table",
          "devices, sessions, stats: table (for people), json (protobuf's JSON mapping, one "
          "object per line and target), or kv (\"key=value\" lines for scripts, as "
          "mydev-stats printed them)");
ABSL_FLAG(int32_t, watch, -1,
          "devices, sessions, stats: print a snapshot every MS milliseconds (a WatchStats "
          "stream from one target) until ^C; -1: one snapshot");
ABSL_FLAG(std::string, service, "",
          "health: the service to check (e.g. mydev.v1.Stats); empty: the whole server");
ABSL_FLAG(int32_t, interval_ms, 1000,
          "top: milliseconds between snapshots, the interval rates are computed over "
          "(the daemon clamps it to [100, 60000])");
ABSL_FLAG(std::string, sort, "rate",
          "top: the session table's first order: rate, drops or fill (keys r, d, f)");
ABSL_FLAG(std::string, device, "",
          "top: show only this device's rows at first (keys / or i change it)");

namespace mydev::ctl {

using stats_client::ConnectionOptions;

absl::Status CommandOptionsFromFlags(CommandOptions* out) {
  out->connection = stats_client::ConnectionOptionsFromFlags();

  const int32_t timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  if (timeout_ms <= 0) return absl::InvalidArgumentError("--timeout_ms must be > 0");
  out->timeout = absl::Milliseconds(timeout_ms);
  const std::string format = absl::GetFlag(FLAGS_format);
  if (!ParseOutputFormat(format, &out->format)) {
    return absl::InvalidArgumentError(absl::StrCat("--format=", format, ": table, json or kv"));
  }
  out->watch_ms = absl::GetFlag(FLAGS_watch);
  if (out->watch_ms < -1) return absl::InvalidArgumentError("--watch: milliseconds, or -1");
  out->service = absl::GetFlag(FLAGS_service);
  const int32_t interval_ms = absl::GetFlag(FLAGS_interval_ms);
  if (interval_ms <= 0) return absl::InvalidArgumentError("--interval_ms must be > 0");
  out->interval = absl::Milliseconds(interval_ms);
  const std::string sort = absl::GetFlag(FLAGS_sort);
  if (!ParseSortKey(sort, &out->sort)) {
    return absl::InvalidArgumentError(absl::StrCat("--sort=", sort, ": rate, drops or fill"));
  }
  out->device = absl::GetFlag(FLAGS_device);
  return absl::OkStatus();
}

void ConfigureFlagsHelp() {
  absl::FlagsUsageConfig config;
  auto ours = [](absl::string_view file) {
    return absl::StrContains(file, "tools/mydevctl/") ||
           absl::StrContains(file, "tools/stats_client/");
  };
  config.contains_helpshort_flags = ours;
  config.contains_help_flags = ours;
  absl::SetFlagsUsageConfig(config);
}

}  // namespace mydev::ctl
