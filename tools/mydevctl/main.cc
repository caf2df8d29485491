// main.cc — mydevctl: mydevd's operator tool (replaces mydev-stats). Reads
// the read-only Stats service of the local daemon or of remote ones, checks
// health, and shows a live full-screen view.
//
//   mydevctl stats                          # devices and sessions, as a table
//   mydevctl sessions --format=json
//   mydevctl stats --format=kv --watch 1000
//   mydevctl health && echo up
//   mydevctl top                            # live view of the local daemon; q quits
//   mydevctl top --target h1:9470 --target h2:9470 --ca ca.crt --cert me.crt --key me.key
//   mydevctl --help                         # subcommands and every flag
//
// Flags: flags.h (any name also with dashes: flag_spelling.h); subcommands:
// commands.h.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/mydevctl/commands.h"
#include "tools/mydevctl/flags.h"
#include "tools/stats_client/connection.h"
#include "tools/stats_client/flag_spelling.h"

namespace {

// What --help prints above the flags.
constexpr char kUsage[] =
    "mydevd's operator tool: device and session counters, health, a live view.\n"
    "\n"
    "usage: mydevctl SUBCOMMAND [FLAGS]\n"
    "\n"
    "subcommands:\n"
    "  devices    the devices: state, link type, packets, bytes, drops, sessions\n"
    "  sessions   the capture sessions: owner, command, counters, ring size and fill\n"
    "  stats      both (what mydev-stats printed, and more)\n"
    "             these three take --format=table|json|kv and --watch MS (a live stream)\n"
    "  health     the gRPC health check (grpc.health.v1; --service NAME); prints the\n"
    "             status; exit status 0 only when SERVING (for exec probes)\n"
    "  top        full-screen live view, like htop: per device pps, bit/s and drop % over\n"
    "             the last --interval_ms; sessions (host, id, device, user, pps, drops,\n"
    "             drop %, ring fill %, command) sorted by rate; rows whose ring is >= 50%\n"
    "             full or that dropped stand out; a target that goes away shows DOWN and\n"
    "             comes back by itself.\n"
    "             keys: r sort by rate, d by drops, f by ring fill, / or i filter by device\n"
    "             (type a name, Enter), Esc clear the filter, q quit\n"
    "\n"
    "where: the local socket (--socket PATH, else $MYDEV_SOCKET, else\n"
    "/run/mydevd/mydevd.sock), or each --target HOST:PORT (a daemon's stats_listener;\n"
    "repeatable) over TLS: --ca FILE verifies the server, --cert FILE --key FILE add a\n"
    "client certificate (mutual TLS), --token-file FILE sends a bearer token;\n"
    "--plaintext for a loopback listener configured without TLS. --target unix:PATH\n"
    "names another local socket. Flag names take '-' or '_': --token-file = --token_file.\n"
    "\n"
    "examples:\n"
    "  mydevctl stats\n"
    "  mydevctl sessions --format=json\n"
    "  mydevctl top --target db1:9470 --target db2:9470 --ca ca.crt --token-file ~/.mydev-token\n"
    "  mydevctl health --target 127.0.0.1:9471 --plaintext\n"
    "\n"
    "exit status: 0 done; 1 a target failed, or health is not SERVING; 2 bad usage";

}  // namespace

int main(int argc, char** argv) {
  using namespace mydev::ctl;
  using mydev::stats_client::ClientSecurity;
  using mydev::stats_client::ResolveTargets;
  using mydev::stats_client::Target;
  absl::SetProgramUsageMessage(kUsage);
  ConfigureFlagsHelp();
  std::vector<std::string> unknown;
  std::vector<std::string> args = mydev::stats_client::NormalizeFlagSpelling(
      std::vector<std::string>(argv, argv + argc), &unknown);
  if (!unknown.empty()) {
    std::fprintf(stderr, "mydevctl: unknown flag %s (see mydevctl --help)\n", unknown[0].c_str());
    return 2;
  }
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(cargs.size()), cargs.data());
  if (rest.size() != 2) {
    std::fprintf(stderr, "mydevctl: %s (see mydevctl --help)\n",
                 rest.size() < 2 ? "which subcommand? devices, sessions, stats, health or top"
                                 : "one subcommand at a time");
    return 2;
  }
  const std::string command = rest[1];
  CommandOptions options;
  if (absl::Status s = CommandOptionsFromFlags(&options); !s.ok()) {
    std::fprintf(stderr, "mydevctl: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(options.connection);
  if (!security.ok()) {
    std::fprintf(stderr, "mydevctl: %s\n", std::string(security.status().message()).c_str());
    return 2;
  }
  const std::vector<Target> targets =
      ResolveTargets(options.connection, std::getenv("MYDEV_SOCKET"));
  if (command == "devices")
    return RunSnapshotCommand(Sections::kDevices, targets, *security, options);
  if (command == "sessions")
    return RunSnapshotCommand(Sections::kSessions, targets, *security, options);
  if (command == "stats") return RunSnapshotCommand(Sections::kAll, targets, *security, options);
  if (command == "health") return RunHealth(targets, *security, options);
  if (command == "top") return RunTop(targets, *security, options);
  std::fprintf(stderr,
               "mydevctl: unknown subcommand '%s': devices, sessions, stats, health or top "
               "(see mydevctl --help)\n",
               command.c_str());
  return 2;
}
