// config.h — mydevd's configuration: the text-format file (proto/config.proto)
// parsed with protobuf's TextFormat, validated, and its limits resolved.
//
//   absl::StatusOr<mydev::config::Config> c = LoadConfigFile("/etc/mydevd.conf");
//   if (!c.ok()) { print(c.status()); exit(1); }   // "…:3:7: Expected identifier…"
//   Limits limits = ResolveLimits(c->limits());     // zeros replaced by defaults
//   absl::StatusOr<AccessPolicy> access = BuildAccessPolicy(*c);   // who may do what
//
//   mydev::config::Config d = DefaultConfig();     // no file: one synthetic mydev0
//
//   // The remote Stats listener (stats_listener { ... }), defaults filled in:
//   StatsListenerSettings s = ResolveStatsListener(c->stats_listener());
//   // A refused listener names the field, its line and the fix:
//   //   "site.conf:12:12: stats_listener.address '0.0.0.0:9470': plaintext is
//   //    allowed only on a loopback address ..."
#ifndef MYDEV_DAEMON_CONTROL_CONFIG_H_
#define MYDEV_DAEMON_CONTROL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/inet_address.h"
#include "daemon/control/access_policy.h"
#include "proto/config.pb.h"
#include "proto/mydev.pb.h"

namespace mydev::daemon {

// Every limit the daemon enforces, with defaults filled in.
struct Limits {
  uint64_t default_ring_bytes = 4ull << 20;
  uint64_t max_ring_bytes = 256ull << 20;
  uint32_t max_sessions_per_uid = 64;
  uint32_t max_bpf_insns = 4096;
  absl::Duration attach_timeout = absl::Seconds(5);
  uint32_t max_message_bytes = 4u << 20;
  absl::Duration tick = absl::Milliseconds(10);
  uint64_t max_ring_bytes_per_uid = 1ull << 30;  // all of one uid's rings together
  uint32_t max_connections_per_uid = 128;        // gRPC connections; root exempt
  uint32_t max_watch_streams = 16;               // WatchStats streams in all
  uint32_t max_watch_streams_per_uid = 4;        // root exempt
  double uid_cpu_share = 0.25;  // of a device thread, per uid, while two or more uids share it
  uint64_t max_ring_bytes_total = 4ull << 30;  // every user's rings (ResolveLimits: RAM / 4)
  uint64_t ring_bytes_reserved_for_root = 256ull << 20;  // of the total (= max_ring_bytes)
};

// The remote Stats listener (config stats_listener), validated, with
// defaults filled in.
struct StatsListenerSettings {
  InetAddress address;
  bool plaintext = false;
  std::string cert_file, key_file, client_ca_file;  // TLS; client_ca_file "" = no mutual TLS
  std::string tokens_file;                          // "" = no bearer tokens
  mydev::v1::StatsScope client_cert_scope = mydev::v1::STATS_SCOPE_SESSIONS;
  uint32_t max_watchers = 32;
  uint32_t max_watchers_per_client = 4;
  uint32_t max_connections = 256;
  uint32_t max_connections_per_address = 32;
  std::optional<InetAddress> health_address;  // the plaintext health-only port
  absl::Duration reload_interval = absl::Seconds(10);
};

inline constexpr char kDefaultDeviceDescription[] = "mydev synthetic traffic generator";
// replay { speed } other than 0 (as fast as possible) must lie in this range.
inline constexpr double kMinReplaySpeed = 0.001;
inline constexpr double kMaxReplaySpeed = 1e6;

// Parses text-format config; errors carry "name:line:column: message".
absl::StatusOr<mydev::config::Config> ParseConfig(absl::string_view text, absl::string_view name);
absl::StatusOr<mydev::config::Config> LoadConfigFile(const std::string& path);

// Checks device names ("mydev<N>", unique), backends, limits, access rules
// (every user and group name must resolve) and the stats listener
// (ValidateStatsListener).
absl::Status ValidateConfig(const mydev::config::Config& config);

// The stats listener's rules: a numeric HOST:PORT; TLS (cert_file + key_file)
// on every address, plaintext only on loopback and only with `plaintext:
// true`; client_ca_file and/or tokens_file; every file readable and of the
// right kind (PEM certificate, PEM key, a tokens file that parses); limits in
// range. Errors begin with the field ("stats_listener.address '…': …"), and
// say what to change.
absl::Status ValidateStatsListener(const mydev::config::StatsListener& listener);

// Only the files of the stats listener: readable now, by this process (the
// daemon checks again once it has switched to its own user).
absl::Status CheckStatsListenerFiles(const mydev::config::StatsListener& listener);

// Defaults filled in. Call on a validated listener.
StatsListenerSettings ResolveStatsListener(const mydev::config::StatsListener& listener);

// One synthetic device "mydev0" at the default rate.
mydev::config::Config DefaultConfig();

// Replaces zeros by defaults. Call on a validated config.
Limits ResolveLimits(const mydev::config::Limits& limits);

// The access rules of a validated config, with its limits as defaults.
absl::StatusOr<AccessPolicy> BuildAccessPolicy(const mydev::config::Config& config);

// True for "mydev<N>" with N a decimal number without leading zeros.
bool IsValidDeviceName(absl::string_view name);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_CONFIG_H_
