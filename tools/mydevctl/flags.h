// flags.h — mydevctl's command-line flags (absl flags, defined in flags.cc,
// listed by --help) and the CommandOptions they make. Any flag name may be
// spelled with dashes (tools/stats_client/flag_spelling.h): --token-file =
// --token_file. The connection flags are tools/stats_client/connection_flags.h.
//
//   mydevctl sessions --format=json
//   mydevctl top --target h1:9470 --target h2:9470 --ca ca.crt --token-file t --interval_ms 500
#ifndef MYDEV_TOOLS_MYDEVCTL_FLAGS_H_
#define MYDEV_TOOLS_MYDEVCTL_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "tools/mydevctl/command_options.h"
#include "tools/stats_client/connection_flags.h"  // --socket, --target, --ca, ...

// Every subcommand.
ABSL_DECLARE_FLAG(int32_t, timeout_ms);
// devices, sessions, stats.
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(int32_t, watch);
// health.
ABSL_DECLARE_FLAG(std::string, service);
// top.
ABSL_DECLARE_FLAG(int32_t, interval_ms);
ABSL_DECLARE_FLAG(std::string, sort);
ABSL_DECLARE_FLAG(std::string, device);

namespace mydev::ctl {

// The parsed flags as CommandOptions; an error names the flag and what it takes.
absl::Status CommandOptionsFromFlags(CommandOptions* out);

// Makes --help list the flags of tools/mydevctl/ (absl's default lists only
// those of a file named after the program).
void ConfigureFlagsHelp();

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_FLAGS_H_
