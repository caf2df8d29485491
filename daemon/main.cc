// main.cc — mydevd: the capture daemon. Runs in the foreground, logs to
// stderr, stops cleanly (exit 0) on SIGTERM or SIGINT.
//
//   mydevd [--socket PATH] [--config FILE] [--user NAME]
//          [--log-level debug|info|warning|error]
//
//   --socket  gRPC Unix socket (default /run/mydevd/mydevd.sock); the fd
//             hand-off socket is PATH.fds. Both are created 0666.
//   --config  text-format mydev.config.Config (proto/config.proto); without
//             it, one synthetic device mydev0.
//   --user    once the devices are open, run as this user (needs root);
//             as root without it: the user `mydevd` if it exists (tools/install.sh
//             creates it), else mydevd stays root and warns. `--user root`
//             stays root on purpose. See daemon/capabilities.h.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

namespace {

// The account mydevd switches to when started as root without --user.
constexpr char kDefaultUser[] = "mydevd";

constexpr char kUsage[] =
    "usage: mydevd [--socket PATH] [--config FILE] [--user NAME]\n"
    "              [--log-level debug|info|warning|error]\n";

// Accepts "--flag value" and "--flag=value". Returns false on a missing value.
bool TakeFlag(int argc, char** argv, int* i, const char* name, std::string* out) {
  const char* arg = argv[*i];
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '=') {
    *out = arg + n + 1;
    return true;
  }
  if (arg[n] != '\0') return false;
  if (*i + 1 >= argc) {
    std::fprintf(stderr, "mydevd: %s needs a value\n%s", name, kUsage);
    std::exit(2);
  }
  *out = argv[++*i];
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mydev::daemon;
  std::string socket_path = kDefaultSocketPath, config_path, log_level, user_name;
  for (int i = 1; i < argc; ++i) {
    if (TakeFlag(argc, argv, &i, "--socket", &socket_path) ||
        TakeFlag(argc, argv, &i, "--config", &config_path) ||
        TakeFlag(argc, argv, &i, "--log-level", &log_level) ||
        TakeFlag(argc, argv, &i, "--user", &user_name))
      continue;
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "mydevd: unknown argument '%s'\n%s", argv[i], kUsage);
    return 2;
  }
  if (!log_level.empty()) {
    LogLevel level;
    if (!ParseLogLevel(log_level, &level)) {
      std::fprintf(stderr, "mydevd: bad --log-level '%s'\n%s", log_level.c_str(), kUsage);
      return 2;
    }
    SetLogLevel(level);
  }

  DaemonOptions options;
  options.socket_path = socket_path;
  options.drop_capabilities = true;
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
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
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
  sigwait(&stop_signals, &sig);
  MYDEV_LOG(kInfo, "%s received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*daemon)->Shutdown();
  daemon->reset();
  return 0;
}
