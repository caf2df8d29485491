// daemon.cc — see daemon.h.
#include "daemon/daemon.h"

#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "daemon/backends/backend_factory.h"
#include "daemon/control/capabilities.h"
#include "daemon/control/config.h"
#include "daemon/socket_dir.h"
#include "shm/ring_abi.h"

namespace mydev::daemon {
namespace {

// The directory the socket files go in ("." for a bare name).
std::string SocketDirectory(const std::string& socket_path) {
  size_t slash = socket_path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : socket_path.substr(0, slash);
}

// The socket's file name in that directory.
std::string SocketName(const std::string& socket_path) {
  size_t slash = socket_path.rfind('/');
  return slash == std::string::npos ? socket_path : socket_path.substr(slash + 1);
}

// Switches to options.run_as and drops the capabilities no device needs
// (capabilities.h). The sockets are created after this, by the user, who
// must be able to remove them at shutdown: a socket directory mydevd has
// just made (dir_created), or the default /run/mydevd, is given to the user
// first; any other must already be writable by the user.
absl::Status DropDaemonPrivileges(const DaemonOptions& options, int dir_fd, bool dir_created,
                                  bool needs_net_raw) {
  PrivilegeDrop drop;
  drop.user = options.run_as;
  drop.keep_net_raw = needs_net_raw;
  const std::string dir = SocketDirectory(options.socket_path);
  if (drop.user && drop.user->uid != geteuid() &&
      (dir_created || dir == SocketDirectory(kDefaultSocketPath))) {
    if (fchown(dir_fd, drop.user->uid, drop.user->gid) != 0)
      return absl::ErrnoToStatus(
          errno, absl::StrCat("giving the socket directory ", dir, " to user ", drop.user->name));
  }
  absl::StatusOr<bool> dropped = DropPrivileges(drop);
  if (!dropped.ok()) return dropped.status();
  if (!*dropped) return absl::OkStatus();
  MYDEV_LOG(kInfo, "running as uid %d gid %d%s, capabilities: %s", getuid(), getgid(),
            drop.user ? absl::StrCat(" (user ", drop.user->name, ")") : "",
            needs_net_raw ? "CAP_NET_RAW only (afpacket devices)" : "none");
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    return absl::FailedPreconditionError(
        absl::StrCat("uid ", getuid(), " cannot create the sockets in ", dir, " (", strerror(errno),
                     "): give the directory to that user, or point --socket into a directory "
                     "mydevd creates itself"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<rlim_t> RaiseOpenFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return absl::ErrnoToStatus(errno, "getrlimit");
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0)
      return absl::ErrnoToStatus(errno, "setrlimit(RLIMIT_NOFILE)");
    rl = raised;
  }
  return rl.rlim_cur;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options) {
  if (absl::Status s = ValidateConfig(options.config); !s.ok()) return s;
  if (options.socket_path.empty()) return absl::InvalidArgumentError("empty socket path");
  const Limits limits = ResolveLimits(options.config.limits());
  std::unique_ptr<Daemon> d(new Daemon());
  d->socket_path_ = options.socket_path;
  d->fd_socket_path_ = options.socket_path + ".fds";
  // On an error below, ~Daemon shuts down what the earlier steps started.
  absl::StatusOr<bool> dir_created = d->LockSocketPath(options);
  if (!dir_created.ok()) return dir_created.status();
  if (absl::Status s = d->BuildDevices(options.config, limits); !s.ok()) return s;
  if (absl::Status s = d->BindRemoteStats(options.config); !s.ok()) return s;
  if (absl::Status s = d->DropPrivilegesIfAsked(options, *dir_created); !s.ok()) return s;
  if (absl::Status s = d->BuildServices(options.config, limits); !s.ok()) return s;
  if (absl::Status s = d->StartListeners(options.socket_mode, limits); !s.ok()) return s;
  for (const std::string& path : {d->socket_path_, d->fd_socket_path_})
    if (absl::Status s = VerifySocketInDirectory(d->socket_dir_fd_.get(), SocketName(path), path);
        !s.ok())
      return s;
  if (absl::Status s = d->StartRemoteStats(options.config); !s.ok()) return s;
  if (absl::Status s = d->StartDevices(); !s.ok()) return s;
  d->sessions_->StartReaper();
  MYDEV_LOG(kInfo, "listening on %s (fds on %s)", d->socket_path_, d->fd_socket_path_);
  return d;
}

absl::StatusOr<bool> Daemon::LockSocketPath(const DaemonOptions& options) {
  SocketDirPolicy policy;
  if (options.run_as) {
    policy.run_as_uid = options.run_as->uid;
    policy.run_as_gid = options.run_as->gid;
  }
  policy.allow_insecure = options.allow_insecure_socket_dir;
  const std::string dir = SocketDirectory(socket_path_);
  bool dir_created = false;
  absl::StatusOr<UniqueFd> dir_fd = OpenSocketDirectory(dir, policy, &dir_created);
  if (!dir_fd.ok()) return dir_fd.status();
  socket_dir_fd_ = std::move(*dir_fd);
  // Before anything touches the sockets: two daemons started at the same
  // instant on a stale socket could both find nobody listening.
  absl::StatusOr<UniqueFd> lock =
      LockFileAt(socket_dir_fd_.get(), dir, SocketName(socket_path_) + ".lock", policy);
  if (!lock.ok()) return lock.status();
  lock_fd_ = std::move(*lock);
  return dir_created;
}

absl::Status Daemon::BuildDevices(const mydev::config::Config& config, const Limits& limits) {
  for (const mydev::config::DeviceConfig& dc : config.device()) {
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(dc);
    if (!b.ok()) return b.status();
    devices_.push_back(
        std::make_unique<DeviceFanout>(std::move(*b), limits.tick, limits.uid_cpu_share));
    devices_.back()->set_share_rings(dc.share_rings());
  }
  return absl::OkStatus();
}

absl::Status Daemon::BindRemoteStats(const mydev::config::Config& config) {
  if (!config.has_stats_listener()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<RemoteStatsServer>> remote =
      RemoteStatsServer::Bind(ResolveStatsListener(config.stats_listener()));
  if (!remote.ok()) return remote.status();
  remote_ = std::move(*remote);
  return absl::OkStatus();
}

absl::Status Daemon::DropPrivilegesIfAsked(const DaemonOptions& options, bool dir_created) {
  // Devices are open and no thread runs yet: become options.run_as and keep
  // CAP_NET_RAW only for afpacket devices (capabilities.h).
  if (!options.drop_capabilities && !options.run_as) return absl::OkStatus();
  const bool needs_net_raw = std::any_of(devices_.begin(), devices_.end(), [](const auto& dev) {
    return dev->info().backend == "afpacket";
  });
  return DropDaemonPrivileges(options, socket_dir_fd_.get(), dir_created, needs_net_raw);
}

absl::Status Daemon::BuildServices(const mydev::config::Config& config, const Limits& limits) {
  absl::StatusOr<AccessPolicy> access = BuildAccessPolicy(config);
  if (!access.ok()) return access.status();
  std::vector<DeviceFanout*> runtimes;
  for (const auto& dev : devices_) runtimes.push_back(dev.get());
  sessions_ = std::make_unique<SessionManager>(limits, runtimes, std::move(*access));
  capture_ = std::make_unique<CaptureService>(sessions_.get(), &peers_, fd_socket_path_);
  stats_ = std::make_unique<StatsService>(
      sessions_.get(), &peers_,
      WatchLimits{limits.max_watch_streams, limits.max_watch_streams_per_uid});

  // Every server built from here on serves grpc.health.v1.Health and
  // grpc.reflection.v1alpha.ServerReflection (//third_party/debian:grpc_reflection).
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;  // no listening ports: the acceptor feeds it fds
  builder.RegisterService(capture_.get());
  builder.RegisterService(stats_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_message_bytes));
  // A bounded sync-server pool: every WatchStats stream may hold a thread,
  // and kThreadsForCalls more serve the short calls (OpenSession, ...). A
  // call that finds no thread gets RESOURCE_EXHAUSTED, never a new thread.
  grpc::ResourceQuota quota("mydevd");
  quota.SetMaxThreads(static_cast<int>(limits.max_watch_streams) + kThreadsForCalls);
  builder.SetResourceQuota(quota);
  server_ = builder.BuildAndStart();
  if (!server_) return absl::InternalError("gRPC server failed to start");
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus("mydev.v1.Capture", true);
    health->SetServingStatus("mydev.v1.Stats", true);
    health->SetServingStatus(true);
  }
  return absl::OkStatus();
}

absl::Status Daemon::StartListeners(int socket_mode, const Limits& limits) {
  // The gRPC socket first: it is what detects a second live daemon.
  ConnectionLimits connection_limits;
  connection_limits.max_per_uid = limits.max_connections_per_uid;
  absl::StatusOr<std::unique_ptr<GrpcUnixAcceptor>> acceptor =
      GrpcUnixAcceptor::Start(socket_path_, socket_mode, server_.get(), &peers_, connection_limits);
  if (!acceptor.ok()) return acceptor.status();
  acceptor_ = std::move(*acceptor);
  absl::StatusOr<std::unique_ptr<FdServer>> fds =
      FdServer::Start(fd_socket_path_, socket_mode, sessions_.get(), limits.attach_timeout);
  if (!fds.ok()) return fds.status();
  fd_server_ = std::move(*fds);
  return absl::OkStatus();
}

absl::Status Daemon::StartRemoteStats(const mydev::config::Config& config) {
  if (!remote_) return absl::OkStatus();
  // Checked at start as the starting user; gRPC re-reads the files later as
  // the user mydevd runs as now.
  if (absl::Status s = CheckStatsListenerFiles(config.stats_listener()); !s.ok())
    return absl::Status(s.code(), absl::StrCat(s.message(), " (mydevd runs as uid ", getuid(),
                                               " gid ", getgid(), ")"));
  return remote_->Start(sessions_.get(), socket_path_);
}

absl::Status Daemon::Reload() {
  if (!remote_) {
    MYDEV_LOG(kInfo, "reload: nothing to re-read (no stats_listener configured)");
    return absl::OkStatus();
  }
  return remote_->ReloadTokens();
}

absl::Status Daemon::StartDevices() {
  for (auto& dev : devices_) {
    if (absl::Status s = dev->Start(); !s.ok())
      return absl::Status(s.code(), absl::StrCat("starting ", dev->info().name, ": ", s.message()));
    MYDEV_LOG(kInfo, "device %s up (%s: %s)", dev->info().name, dev->info().backend,
              dev->info().description);
  }
  return absl::OkStatus();
}

Daemon::~Daemon() { Shutdown(); }

void Daemon::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Health first: probes and watchers see NOT_SERVING before anything stops.
  if (server_ && server_->GetHealthCheckService())
    server_->GetHealthCheckService()->SetServingStatus(false);
  if (remote_) remote_->SetServing(false);
  if (sessions_) sessions_->CloseAllRings(MYDEV_RING_CLOSE_SHUTDOWN);
  if (acceptor_) acceptor_->Stop();
  if (stats_) stats_->Shutdown();
  if (remote_) remote_->Shutdown();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (fd_server_) fd_server_->Stop();
  for (auto& dev : devices_) dev->Stop();
  if (acceptor_) MYDEV_LOG(kInfo, "stopped; removed %s", socket_path_);
  lock_fd_.reset();  // the next daemon may start
}

}  // namespace mydev::daemon
