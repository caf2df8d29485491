// command_options.h — what mydevctl's subcommands are told: the flags'
// values, checked (flags.cc makes them; commands.h takes them).
//
//   CommandOptions o;
//   o.format = OutputFormat::kJson;
//   o.connection.targets = {"host:9470"};
#ifndef MYDEV_TOOLS_MYDEVCTL_COMMAND_OPTIONS_H_
#define MYDEV_TOOLS_MYDEVCTL_COMMAND_OPTIONS_H_

#include <string>

#include "absl/time/time.h"
#include "tools/mydevctl/printers.h"
#include "tools/mydevctl/top_model.h"
#include "tools/stats_client/connection.h"

namespace mydev::ctl {

// Everything a subcommand may read, from the flags.
struct CommandOptions {
  stats_client::ConnectionOptions connection;
  absl::Duration timeout = absl::Seconds(5);   // --timeout_ms: each unary call's deadline
  OutputFormat format = OutputFormat::kTable;  // --format (devices, sessions, stats)
  int watch_ms = -1;                           // --watch: stream every MS; -1 = one snapshot
  std::string service;                         // --service (health): "" = the whole server
  absl::Duration interval = absl::Seconds(1);  // --interval_ms (top)
  SortKey sort = SortKey::kRate;               // --sort (top): the initial order
  std::string device;                          // --device (top): the initial filter
};

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_COMMAND_OPTIONS_H_
