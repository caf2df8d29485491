// main.cc — mydevd: the capture daemon. Runs in the foreground, logs to
// stderr, stops cleanly (exit 0) on SIGTERM or SIGINT; SIGHUP re-reads the
// remote Stats listener's tokens file (Daemon::Reload), sessions untouched.
//
//   mydevd [--socket PATH] [--config FILE] [--user NAME]
//          [--log_level debug|info|warning|error]      (--help lists them)
//
// Flags (absl/flags) are defined below, each with its help text.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "daemon/control/config.h"
#include "daemon/daemon.h"
#include "daemon/rpc/grpc_log.h"

ABSL_FLAG(std::string, socket, mydev::daemon::kDefaultSocketPath,
          "gRPC Unix socket; the fd hand-off socket is PATH.fds. Both are created 0666.");
ABSL_FLAG(std::string, config, "",
          "text-format mydev.config.Config (proto/config.proto); empty: one synthetic "
          "device mydev0");
ABSL_FLAG(std::string, user, "",
          "once the devices are open, run as this user (needs root); as root without it: "
          "the user `mydevd` if it exists (tools/install.sh creates it), else mydevd stays "
          "root and warns. `--user root` stays root on purpose (daemon/control/capabilities.h)");
ABSL_FLAG(bool, allow_insecure_socket_dir, false,
          "serve from a socket directory that users other than root and mydevd's user can "
          "write, or that sits under such a directory (refused otherwise: they could swap "
          "the sockets or the lock). A sticky directory such as /tmp is not insecure");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");

namespace {

// The account mydevd switches to when started as root without --user.
constexpr char kDefaultUser[] = "mydevd";

}  // namespace

int main(int argc, char** argv) {
  using namespace mydev::daemon;
  // Debian's Abseil is built with absl::Mutex's lock-order graph on: every
  // Lock() then looks itself up in a global graph (under a global lock) —
  // a few microseconds per packet on the immediate-mode path. Lock order is
  // checked where it belongs: clang's -Wthread-safety and the TSan build.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "the mydev capture daemon.\n"
      "usage: mydevd [--socket PATH] [--config FILE] [--user NAME] [--log_level LEVEL]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "mydevd: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  mydev::LogLevel level;
  if (!mydev::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "mydevd: bad --log_level '%s': debug, info, warning or error\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  mydev::SetLogLevel(level);
  RouteGrpcLogs();  // gRPC's own lines too, rate-limited
  const std::string user_name = absl::GetFlag(FLAGS_user);
  const std::string config_path = absl::GetFlag(FLAGS_config);

  DaemonOptions options;
  options.socket_path = absl::GetFlag(FLAGS_socket);
  options.drop_capabilities = true;
  options.allow_insecure_socket_dir = absl::GetFlag(FLAGS_allow_insecure_socket_dir);
  if (!user_name.empty()) {
    absl::StatusOr<UserIdentity> user = LookUpUser(user_name);
    if (!user.ok()) {
      std::fprintf(stderr, "mydevd: --user: %s\n", std::string(user.status().message()).c_str());
      return 2;
    }
    options.run_as = *user;
  } else if (geteuid() == 0) {
    absl::StatusOr<UserIdentity> user = LookUpUser(kDefaultUser);
    if (user.ok()) {
      options.run_as = *user;
    } else {
      MYDEV_LOG(kWarning,
                "running as root: there is no user '%s' to switch to (%s). Create it "
                "(useradd --system --no-create-home --shell /usr/sbin/nologin %s; "
                "tools/install.sh does) or pass --user NAME",
                kDefaultUser, user.status().message(), kDefaultUser);
    }
  }
  if (config_path.empty()) {
    options.config = DefaultConfig();
  } else {
    absl::StatusOr<mydev::config::Config> config = LoadConfigFile(config_path);
    if (!config.ok()) {
      std::fprintf(stderr, "mydevd: %s\n", std::string(config.status().message()).c_str());
      return 1;
    }
    options.config = *config;
  }

  // Signals are taken by sigwait below; every thread started from here on
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Every gRPC connection and session costs descriptors: use all we may.
  absl::StatusOr<rlim_t> nofile = RaiseOpenFileLimit();
  if (nofile.ok())
    MYDEV_LOG(kInfo, "open file limit (RLIMIT_NOFILE) %d", static_cast<uint64_t>(*nofile));
  else
    MYDEV_LOG(kWarning, "keeping the open file limit: %s", nofile.status().ToString());

  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(options);
  if (!daemon.ok()) {
    std::fprintf(stderr, "mydevd: %s\n", daemon.status().ToString().c_str());
    return 1;
  }
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    MYDEV_LOG(kInfo, "SIGHUP received: re-reading the tokens file");
    (void)(*daemon)->Reload();  // logs what it did, or why the old tokens stay
  }
  MYDEV_LOG(kInfo, "%s received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*daemon)->Shutdown();
  daemon->reset();
  return 0;
}
