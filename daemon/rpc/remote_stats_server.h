// remote_stats_server.h — the remote Stats endpoint (config stats_listener):
// a gRPC server of its own (its own thread pool and completion queue, so a
// slow or flooding remote client never takes a thread of the local socket's
// server or of capture) serving only mydev.v1.Stats, gRPC health and
// reflection; TLS from gRPC's FileWatcherCertificateProvider (certificate
// rotation needs no restart); callers authenticated by RemoteStatsAuthenticator;
// its TCP port fronted by a TcpConnectionRelay that caps connections. An
// optional plaintext health-only port (health_address) is a third server
// with the health service alone.
//
//   +--------------+  TLS  +--------------------+  Unix  +--------------------------+
//   | dashboard    |------>| TcpConnectionRelay |------->| gRPC server: Stats,      |
//   | (grpc, curl) |       | (caps connections) |        | health, reflection       |
//   +--------------+       +--------------------+        +--------------------------+
//
// Start in two steps: Bind() while still root (a port below 1024 works),
// Start() once the session manager exists. The gRPC servers listen on Unix
// sockets `<prefix>.stats` and `<prefix>.health` (mode 0600; the relays are
// their only clients).
//
// The TLS certificate/key and client CA files are re-read by gRPC every
// reload_interval (new handshakes use the new ones; open connections keep
// theirs). The tokens file is checked as often, and re-read at once by
// ReloadTokens() (mydevd's SIGHUP). Limits: max_watchers WatchStats streams
// in all, max_watchers_per_client per identity (RESOURCE_EXHAUSTED beyond);
// 8 concurrent calls per connection; 8 KiB of request metadata; a 10 s TLS
// handshake timeout; keepalive pings every 60 s (20 s to answer) and
// 5 minutes of idleness close a connection.
//
//   absl::StatusOr<std::unique_ptr<RemoteStatsServer>> r =
//       RemoteStatsServer::Bind(ResolveStatsListener(config.stats_listener()));
//   ... drop privileges, build the session manager ...
//   (*r)->Start(&manager, "/run/mydevd/mydevd.sock");
//   (*r)->ReloadTokens();   // SIGHUP
//   (*r)->SetServing(false);  // health: NOT_SERVING, then
//   (*r)->Shutdown();
#ifndef MYDEV_DAEMON_RPC_REMOTE_STATS_SERVER_H_
#define MYDEV_DAEMON_RPC_REMOTE_STATS_SERVER_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/control/config.h"
#include "daemon/control/session_manager.h"
#include "daemon/control/stats_tokens_file.h"
#include "daemon/rpc/remote_stats_authenticator.h"
#include "daemon/rpc/stats_service.h"
#include "daemon/rpc/tcp_connection_relay.h"

namespace mydev::daemon {

// gRPC sync-server threads of the remote server beyond max_watchers, for
// short calls (GetStats, health, reflection).
inline constexpr int kRemoteThreadsForCalls = 8;

class RemoteStatsServer {
 public:
  // Binds the TCP port(s). Errors name the config field.
  static absl::StatusOr<std::unique_ptr<RemoteStatsServer>> Bind(
      const StatsListenerSettings& settings);
  ~RemoteStatsServer();

  // Loads the tokens file, starts the gRPC servers on `<socket_prefix>.stats`
  // (and `.health`), then the relays and the tokens-file watcher. Once.
  absl::Status Start(const SessionManager* sessions, const std::string& socket_prefix);

  // Re-reads the tokens file now (logged: how many tokens, or why the old
  // ones stay).
  absl::Status ReloadTokens();

  // Health: SERVING / NOT_SERVING for "", "mydev.v1.Stats" (and, on the
  // health-only port, "mydev.v1.Capture": the daemon as a whole).
  void SetServing(bool serving);

  // Ends WatchStats streams, stops the servers and the relays. Idempotent.
  void Shutdown();

  // The bound addresses (port 0 resolved).
  const InetAddress& address() const { return relay_->address(); }
  std::optional<InetAddress> health_address() const;

  const TcpConnectionRelay& relay() const { return *relay_; }
  const StatsService& stats() const { return *stats_; }

 private:
  explicit RemoteStatsServer(const StatsListenerSettings& settings) : settings_(settings) {}
  absl::Status StartStatsServer(const std::string& path);
  absl::Status StartHealthServer(const std::string& path);
  // Every reload_interval: ReloadIfChanged on the tokens file.
  void WatchTokens();
  void LogReload(const absl::StatusOr<bool>& reloaded, bool forced);

  const StatsListenerSettings settings_;
  std::unique_ptr<TcpConnectionRelay> relay_;
  std::unique_ptr<TcpConnectionRelay> health_relay_;
  std::unique_ptr<StatsTokensFile> tokens_;
  std::shared_ptr<RemoteStatsAuthenticator> auth_;
  std::unique_ptr<StatsService> stats_;
  std::unique_ptr<grpc::Server> server_;
  // The health-only server's catch-all: UNIMPLEMENTED for every method but
  // health (a server needs one service of its own to start).
  grpc::CallbackGenericService unimplemented_;
  std::unique_ptr<grpc::Server> health_server_;
  std::string stats_path_, health_path_;
  std::thread watcher_;
  bool shut_down_ = false;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_REMOTE_STATS_SERVER_H_
