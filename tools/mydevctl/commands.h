// commands.h — mydevctl's subcommands, each given its options and the
// resolved targets, each returning the process's exit status (0 fine, 1 a
// target failed or is not SERVING, 2 bad usage). main.cc maps names to them.
//
//   CommandOptions o = ...;                       // from the flags (flags.h)
//   absl::StatusOr<ClientSecurity> sec = ClientSecurity::Load(o.connection);
//   return RunSnapshotCommand(Sections::kSessions, ResolveTargets(o.connection, env), *sec, o);
#ifndef MYDEV_TOOLS_MYDEVCTL_COMMANDS_H_
#define MYDEV_TOOLS_MYDEVCTL_COMMANDS_H_

#include <string>
#include <vector>

#include "tools/mydevctl/command_options.h"
#include "tools/mydevctl/printers.h"
#include "tools/stats_client/connection.h"

namespace mydev::ctl {

// `devices`, `sessions`, `stats`: one GetStats per target, printed in the
// chosen format; with --watch, a WatchStats stream from one target until it
// ends or ^C.
int RunSnapshotCommand(Sections sections, const std::vector<stats_client::Target>& targets,
                       const stats_client::ClientSecurity& security, const CommandOptions& options);

// `health`: grpc.health.v1.Health/Check on each target; prints the status
// (one target: "SERVING"; several: "LABEL: SERVING" each); 0 only when every
// target is SERVING.
int RunHealth(const std::vector<stats_client::Target>& targets,
              const stats_client::ClientSecurity& security, const CommandOptions& options);

// `top`: the live full-screen view until q or ^C (top_command.cc).
int RunTop(const std::vector<stats_client::Target>& targets,
           const stats_client::ClientSecurity& security, const CommandOptions& options);

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_COMMANDS_H_
