// main.cc — mydev-dashboard: watches one or many mydevd over gRPC (one
// WatchStats stream per target) and serves a live web page and Prometheus
// metrics. Unprivileged; mydevd itself stays gRPC-only.
//
//   mydev-dashboard                                  # the local daemon, http://127.0.0.1:9471/
//   mydev-dashboard --target unix:/tmp/h1/mydevd.sock --session_metrics --listen 127.0.0.1:19471
//   mydev-dashboard --target db1:9470 --target db2:9470 --ca ca.crt --token-file tok
//   mydev-dashboard --targets_file /etc/mydev/dashboard-targets.textproto --ca ca.crt
//   mydev-dashboard --help                           # every flag
//
// The main thread is the housekeeping loop: every second it cancels stalled
// streams (the target shows down and reconnects), every 2 s it re-reads a
// changed targets file; SIGINT / SIGTERM end it, then the web server and the
// streams stop.
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "tools/dashboard/fleet_state.h"
#include "tools/dashboard/targets.h"
#include "tools/dashboard/web/web_server.h"
#include "tools/dashboard/web/web_server_flags.h"
#include "tools/stats_client/connection.h"
#include "tools/stats_client/connection_flags.h"
#include "tools/stats_client/flag_spelling.h"

ABSL_FLAG(std::string, targets_file, "",
          "text-format mydev.dashboard.v1.TargetsFile (proto/dashboard.proto): targets with "
          "their own ca/cert/key/token/tls_server_name/plaintext (empty fields: the flags'); "
          "re-read within 2 s of a change, a bad version is logged and the old list kept");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1),
          "WatchStats interval: how often each daemon sends a snapshot, the interval rates "
          "are computed over (the daemon clamps it to [100ms, 60s])");
ABSL_FLAG(absl::Duration, history, absl::Minutes(10),
          "how much rate history per device the page gets (--history / --interval points)");
ABSL_FLAG(bool, session_metrics, false,
          "export per-session series on /metrics (labels target, device, session, uid, comm); "
          "they vanish when the session ends");
ABSL_FLAG(int32_t, max_session_series, 500,
          "with --session_metrics: sessions exported at most (the oldest first); "
          "mydev_session_series_cut_total counts the ones left out");

namespace {

using mydev::dashboard::FleetOptions;
using mydev::dashboard::FleetState;
using mydev::dashboard::TargetConfig;
using mydev::dashboard::TargetsSource;
using mydev::dashboard::TargetWatchers;
using mydev::dashboard::WebServer;

// What --help prints above the flags.
constexpr char kUsage[] =
    "Watches mydevd daemons over gRPC (one WatchStats stream each) and serves a live web\n"
    "page (/), its data (/api/state, /events) and Prometheus metrics (/metrics).\n"
    "\n"
    "usage: mydev-dashboard [--target T]... [--targets_file F] [--listen HOST:PORT] [FLAGS]\n"
    "\n"
    "examples:\n"
    "  mydev-dashboard                                   # the local daemon on 127.0.0.1:9471\n"
    "  mydev-dashboard --target db1:9470 --target db2:9470 --ca ca.crt --token-file tok\n"
    "  mydev-dashboard --targets_file targets.textproto --session_metrics\n"
    "Flag names take '-' or '_': --token-file = --token_file.";

// How often a changed targets file is looked for.
constexpr absl::Duration kTargetsPoll = absl::Seconds(2);

// Prints "mydev-dashboard: message" and returns 2 (bad usage or set-up).
int Fail(const std::string& message) {
  std::fprintf(stderr, "mydev-dashboard: %s\n", message.c_str());
  return 2;
}

// "a, b, c" of the targets' names.
std::string Names(const std::vector<TargetConfig>& targets) {
  std::string out;
  for (const TargetConfig& t : targets) out += (out.empty() ? "" : ", ") + t.name;
  return out.empty() ? "none" : out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage;
  auto ours = [](absl::string_view file) {
    return absl::StrContains(file, "tools/dashboard/") ||
           absl::StrContains(file, "tools/stats_client/");
  };
  usage.contains_helpshort_flags = ours;
  usage.contains_help_flags = ours;
  absl::SetFlagsUsageConfig(usage);
  std::vector<std::string> unknown;
  std::vector<std::string> args = mydev::stats_client::NormalizeFlagSpelling(
      std::vector<std::string>(argv, argv + argc), &unknown);
  if (!unknown.empty()) return Fail("unknown flag " + unknown[0] + " (see --help)");
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(cargs.size()), cargs.data());
  if (rest.size() > 1) return Fail(std::string("unexpected argument ") + rest[1] + " (see --help)");

  FleetOptions options;
  options.interval = absl::GetFlag(FLAGS_interval);
  options.history = absl::GetFlag(FLAGS_history);
  options.metrics.session_metrics = absl::GetFlag(FLAGS_session_metrics);
  const int32_t max_series = absl::GetFlag(FLAGS_max_session_series);
  if (options.interval < absl::Milliseconds(1)) return Fail("--interval must be at least 1ms");
  if (options.history < absl::ZeroDuration()) return Fail("--history must not be negative");
  if (max_series < 0) return Fail("--max_session_series must be >= 0");
  options.metrics.max_session_series = static_cast<size_t>(max_series);
  options.log = [](const std::string& line) { MYDEV_LOG(kInfo, "%s", line); };

  TargetsSource source(mydev::stats_client::ConnectionOptionsFromFlags(),
                       absl::GetFlag(FLAGS_targets_file), std::getenv("MYDEV_SOCKET"));
  absl::StatusOr<std::vector<TargetConfig>> targets = source.Load();
  if (!targets.ok()) return Fail(std::string(targets.status().message()));

  // SIGINT / SIGTERM are taken by the housekeeping loop (sigtimedwait), so
  // every thread started from here on has them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a browser that went away is an error return, not a signal

  FleetState fleet(options);
  TargetWatchers watchers(&fleet, options.interval);
  watchers.Apply(*targets);
  MYDEV_LOG(kInfo, "watching %d target(s): %s", static_cast<int>(targets->size()), Names(*targets));

  absl::StatusOr<std::unique_ptr<WebServer>> server =
      WebServer::Start(mydev::dashboard::WebServerOptionsFromFlags(), &fleet);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  MYDEV_LOG(kInfo, "serving %s (/, /metrics, /api/state, /events)", (*server)->url());

  absl::Time next_poll = absl::Now() + kTargetsPoll;
  while (true) {
    const struct timespec second = {1, 0};
    const int sig = sigtimedwait(&stop_signals, nullptr, &second);
    if (sig == SIGINT || sig == SIGTERM) {
      MYDEV_LOG(kInfo, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    const absl::Time now = absl::Now();
    watchers.CheckStalled(now);
    if (now < next_poll) continue;
    next_poll = now + kTargetsPoll;
    if (!source.FileChanged()) continue;
    absl::StatusOr<std::vector<TargetConfig>> next = source.Load();
    if (!next.ok()) {
      MYDEV_LOG(kWarning, "%s; keeping the previous %d target(s)", next.status().message(),
                static_cast<int>(watchers.size()));
      continue;
    }
    watchers.Apply(*next);
    MYDEV_LOG(kInfo, "%s changed: watching %d target(s): %s", source.file(),
              static_cast<int>(next->size()), Names(*next));
  }
  (*server)->Stop();  // the page's streams first, then the daemons' streams
  return 0;
}
