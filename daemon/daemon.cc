// daemon.cc — see daemon.h.
#include "daemon/daemon.h"

#include <sys/stat.h>

#include <cerrno>

#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/backend_factory.h"
#include "daemon/capabilities.h"
#include "daemon/config.h"
#include "daemon/log.h"

namespace mydev::daemon {
namespace {

// mkdir -p of the socket's directory, new components 0755.
absl::Status MakeParentDirs(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return absl::OkStatus();
  std::string dir = path.substr(0, slash);
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return absl::ErrnoToStatus(errno, absl::StrCat("creating the socket directory ", prefix));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options) {
  if (absl::Status s = ValidateConfig(options.config); !s.ok()) return s;
  if (options.socket_path.empty()) return absl::InvalidArgumentError("empty socket path");
  const Limits limits = ResolveLimits(options.config.limits());
  std::unique_ptr<Daemon> d(new Daemon());
  d->socket_path_ = options.socket_path;
  d->fd_socket_path_ = options.socket_path + ".fds";
  if (absl::Status s = MakeParentDirs(d->socket_path_); !s.ok()) return s;

  std::vector<DeviceRuntime*> runtimes;
  for (const mydev::config::DeviceConfig& dc : options.config.device()) {
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(dc);
    if (!b.ok()) return b.status();
    d->devices_.push_back(std::make_unique<DeviceRuntime>(std::move(*b), limits.tick));
    runtimes.push_back(d->devices_.back().get());
  }
  // Devices are open and no thread runs yet: keep only CAP_NET_RAW (capabilities.h).
  if (options.drop_capabilities) {
    absl::StatusOr<bool> dropped = DropCapabilitiesExceptNetRaw();
    if (!dropped.ok()) return dropped.status();
    if (*dropped) MYDEV_LOG(kInfo, "dropped every capability except CAP_NET_RAW");
  }
  absl::StatusOr<AccessPolicy> access = BuildAccessPolicy(options.config);
  if (!access.ok()) return access.status();
  d->sessions_ = std::make_unique<SessionManager>(limits, runtimes, std::move(*access));
  d->capture_ = std::make_unique<CaptureService>(d->sessions_.get(), &d->peers_,
                                                 d->fd_socket_path_);
  d->stats_ = std::make_unique<StatsService>(d->sessions_.get(), &d->peers_);

  grpc::ServerBuilder builder;  // no listening ports: the acceptor feeds it fds
  builder.RegisterService(d->capture_.get());
  builder.RegisterService(d->stats_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_message_bytes));
  d->server_ = builder.BuildAndStart();
  if (!d->server_) return absl::InternalError("gRPC server failed to start");

  // The gRPC socket first: it is what detects a second live daemon.
  absl::StatusOr<std::unique_ptr<GrpcUnixAcceptor>> acceptor = GrpcUnixAcceptor::Start(
      d->socket_path_, options.socket_mode, d->server_.get(), &d->peers_);
  if (!acceptor.ok()) return acceptor.status();  // ~Daemon shuts the rest down
  d->acceptor_ = std::move(*acceptor);
  absl::StatusOr<std::unique_ptr<FdServer>> fds = FdServer::Start(
      d->fd_socket_path_, options.socket_mode, d->sessions_.get(), limits.attach_timeout);
  if (!fds.ok()) return fds.status();
  d->fd_server_ = std::move(*fds);

  for (auto& dev : d->devices_) {
    if (absl::Status s = dev->Start(); !s.ok())
      return absl::Status(s.code(), absl::StrCat("starting ", dev->info().name, ": ", s.message()));
    MYDEV_LOG(kInfo, "device %s up (%s: %s)", dev->info().name, dev->info().backend,
              dev->info().description);
  }
  d->sessions_->StartReaper();
  MYDEV_LOG(kInfo, "listening on %s (fds on %s)", d->socket_path_, d->fd_socket_path_);
  return d;
}

Daemon::~Daemon() { Shutdown(); }

void Daemon::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (sessions_) sessions_->CloseAllRings(kCloseReasonShutdown);
  if (acceptor_) acceptor_->Stop();
  if (stats_) stats_->Shutdown();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (fd_server_) fd_server_->Stop();
  for (auto& dev : devices_) dev->Stop();
  if (acceptor_) MYDEV_LOG(kInfo, "stopped; removed %s", socket_path_);
}

}  // namespace mydev::daemon
