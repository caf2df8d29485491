// daemon.h — mydevd assembled: devices + fan-out, session manager, the gRPC
// server (Capture + Stats, gRPC health and reflection) on a Unix socket it
// accepts on itself, the fd hand-off socket `<socket>.fds`, and — with a
// config stats_listener — the remote Stats endpoint (RemoteStatsServer: TLS,
// client certificates / bearer tokens, its own threads). main.cc only parses
// flags and waits for a signal (SIGHUP: Reload()); tests run the very same
// thing in-process.
//
//   DaemonOptions o;
//   o.socket_path = "/run/mydevd/mydevd.sock";
//   o.config = DefaultConfig();
//   absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
//   ...   // clients: grpc::CreateChannel("unix:" + o.socket_path, ...)
//   (*d)->Reload();     // SIGHUP: re-read the stats tokens file
//   (*d)->Shutdown();   // health NOT_SERVING, rings marked closed, sockets removed
#ifndef MYDEV_DAEMON_DAEMON_H_
#define MYDEV_DAEMON_DAEMON_H_

#include <grpcpp/server.h>
#include <sys/resource.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "daemon/control/capabilities.h"
#include "daemon/control/config.h"
#include "daemon/control/session_manager.h"
#include "daemon/datapath/device_fanout.h"
#include "daemon/rpc/capture_service.h"
#include "daemon/rpc/fd_server.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "daemon/rpc/remote_stats_server.h"
#include "daemon/rpc/stats_service.h"
#include "proto/config.pb.h"

namespace mydev::daemon {

inline constexpr char kDefaultSocketPath[] = "/run/mydevd/mydevd.sock";
// gRPC sync-server threads beyond limits.max_watch_streams, for short calls.
inline constexpr int kThreadsForCalls = 32;

// Raises the soft RLIMIT_NOFILE to the hard limit (mydevd calls it first
// thing); returns the soft limit now in force.
absl::StatusOr<rlim_t> RaiseOpenFileLimit();

struct DaemonOptions {
  std::string socket_path = kDefaultSocketPath;
  mydev::config::Config config;  // validated by Start()
  int socket_mode = 0666;
  // After opening the devices, drop every capability but CAP_NET_RAW, and
  // that too unless an afpacket device is configured (capabilities.h).
  // mydevd sets it; in-process tests leave it off.
  bool drop_capabilities = false;
  // Once the devices are open (and before any thread starts), switch to this
  // user; implies drop_capabilities. A socket directory Start() creates is
  // given to the user, who creates the sockets and removes them at Shutdown.
  std::optional<UserIdentity> run_as;
  // Serve from a socket directory that users other than root, mydevd and
  // run_as can write (or under such a parent): refused otherwise
  // (socket_dir.h). mydevd's --allow_insecure_socket_dir.
  bool allow_insecure_socket_dir = false;
};

class Daemon {
 public:
  // Opens the socket directory through descriptors, creating it (0755) if
  // missing, and refuses it (FAILED_PRECONDITION) when a non-root user
  // other than run_as could write it or a parent (socket_dir.h; unless
  // allow_insecure_socket_dir); then takes an exclusive flock on
  // `<socket>.lock` (0600, root's or run_as's; kept, never removed; holds the
  // owner's pid): ALREADY_EXISTS when another daemon holds it or is live on
  // the socket. After binding, both sockets must be in the directory held.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const DaemonOptions& options);
  ~Daemon();

  // Re-reads what can change without a restart: the remote Stats listener's
  // tokens file (certificates are re-read by gRPC every reload_interval_s).
  // Capture sessions are not touched. Logged; the error if the file did not
  // load (the old tokens stay).
  absl::Status Reload();

  // Sets gRPC health to NOT_SERVING on every listener (health Watch calls
  // hear it before the servers stop), marks every ring closed (reason 1),
  // ends streams, stops gRPC, the sockets (files removed) and the devices.
  // Idempotent.
  void Shutdown();

  SessionManager& sessions() { return *sessions_; }
  // The remote Stats endpoint; null without a config stats_listener.
  const RemoteStatsServer* remote_stats() const { return remote_.get(); }
  const std::string& socket_path() const { return socket_path_; }
  const std::string& fd_socket_path() const { return fd_socket_path_; }

 private:
  Daemon() = default;

  // Start's steps, in this order; each leaves what it made in the Daemon
  // (whose destructor shuts down what earlier steps started, should a later
  // one fail).
  // Opens (creating if missing) and checks the socket directory, keeps it
  // open, and takes the flock on `<socket>.lock`; returns whether the
  // directory was created.
  absl::StatusOr<bool> LockSocketPath(const DaemonOptions& options);
  // Opens every configured device (backend + fan-out, not started).
  absl::Status BuildDevices(const mydev::config::Config& config, const Limits& limits);
  // With a stats_listener: binds its TCP port(s) while still privileged.
  absl::Status BindRemoteStats(const mydev::config::Config& config);
  // With options.drop_capabilities or run_as: becomes run_as and keeps
  // CAP_NET_RAW only for afpacket devices (capabilities.h). Runs while the
  // process has a single thread: after BuildDevices, before BuildServices.
  absl::Status DropPrivilegesIfAsked(const DaemonOptions& options, bool dir_created);
  // The access policy, session manager, Capture and Stats services, and the
  // gRPC server they are registered on (started, with no ports).
  absl::Status BuildServices(const mydev::config::Config& config, const Limits& limits);
  // The gRPC socket (the acceptor; it detects a second live daemon), then
  // the fd hand-off socket.
  absl::Status StartListeners(int socket_mode, const Limits& limits);
  // The remote Stats endpoint's servers and relays (its files checked again,
  // now as the user mydevd runs as).
  absl::Status StartRemoteStats(const mydev::config::Config& config);
  // Starts every device's backend and ticker.
  absl::Status StartDevices();

  std::string socket_path_;
  std::string fd_socket_path_;
  std::vector<std::unique_ptr<DeviceFanout>> devices_;
  std::unique_ptr<SessionManager> sessions_;
  PeerCredentialsTable peers_;
  std::unique_ptr<CaptureService> capture_;
  std::unique_ptr<StatsService> stats_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GrpcUnixAcceptor> acceptor_;
  std::unique_ptr<FdServer> fd_server_;
  std::unique_ptr<RemoteStatsServer> remote_;
  bool shut_down_ = false;
  UniqueFd socket_dir_fd_;  // the checked socket directory (socket_dir.h)
  UniqueFd lock_fd_;        // flock on <socket>.lock, held until Shutdown()
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DAEMON_H_
