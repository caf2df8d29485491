// remote_stats_server.cc — see remote_stats_server.h.
#include "daemon/rpc/remote_stats_server.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "proto/enum_names.h"

namespace mydev::daemon {
namespace {

constexpr char kStatsService[] = "mydev.v1.Stats";
constexpr char kCaptureService[] = "mydev.v1.Capture";
constexpr int kMaxRequestBytes = 4096;       // GetStats, WatchStats, reflection requests
constexpr int kMaxStreamsPerConnection = 8;  // concurrent calls on one connection
constexpr int kMaxMetadataBytes = 8192;
constexpr int kHandshakeTimeoutMs = 10000;
constexpr int kKeepaliveTimeMs = 60000;
constexpr int kKeepaliveTimeoutMs = 20000;
constexpr int kMaxIdleMs = 5 * 60 * 1000;
constexpr int kHealthServerThreads = 4;

// Removes the reflection plugin (which libgrpc++_reflection registers for
// every server) from one server: the health-only port serves health alone.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                    return p->name() == "proto_server_reflection";
                                  }),
                   plugins->end());
  }
};

// The channel arguments both remote servers share: bounded calls and
// metadata, a handshake timeout, dead or idle peers reaped.
void AddRemoteChannelArguments(grpc::ServerBuilder* b) {
  b->SetMaxReceiveMessageSize(kMaxRequestBytes);
  b->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  b->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
  b->AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, kHandshakeTimeoutMs);
  b->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  b->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  b->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  b->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, kMaxIdleMs);
  b->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  b->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  b->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
}

absl::Status WithField(absl::string_view field, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(field, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteStatsServer>> RemoteStatsServer::Bind(
    const StatsListenerSettings& settings) {
  std::unique_ptr<RemoteStatsServer> r(new RemoteStatsServer(settings));
  absl::StatusOr<std::unique_ptr<TcpConnectionRelay>> relay =
      TcpConnectionRelay::Listen(settings.address, "stats");
  if (!relay.ok()) return WithField("stats_listener.address", relay.status());
  r->relay_ = std::move(*relay);
  if (settings.health_address) {
    absl::StatusOr<std::unique_ptr<TcpConnectionRelay>> health =
        TcpConnectionRelay::Listen(*settings.health_address, "health");
    if (!health.ok()) return WithField("stats_listener.health_address", health.status());
    r->health_relay_ = std::move(*health);
  }
  return r;
}

RemoteStatsServer::~RemoteStatsServer() { Shutdown(); }

std::optional<InetAddress> RemoteStatsServer::health_address() const {
  if (!health_relay_) return std::nullopt;
  return health_relay_->address();
}

absl::Status RemoteStatsServer::Start(const SessionManager* sessions,
                                      const std::string& socket_prefix) {
  if (stats_) return absl::FailedPreconditionError("the remote Stats server was started already");
  if (!settings_.tokens_file.empty()) {
    absl::StatusOr<std::unique_ptr<StatsTokensFile>> tokens =
        StatsTokensFile::Open(settings_.tokens_file);
    if (!tokens.ok()) return WithField("stats_listener.tokens_file", tokens.status());
    tokens_ = std::move(*tokens);
    struct stat st {};
    if (stat(settings_.tokens_file.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
      MYDEV_LOG(kWarning,
                "the tokens file %s is readable by others (mode %04o): chmod 0600 it, it holds "
                "secrets",
                settings_.tokens_file, st.st_mode & 07777);
  }
  auth_ = std::make_shared<RemoteStatsAuthenticator>(
      tokens_.get(), !settings_.client_ca_file.empty(), settings_.client_cert_scope);
  stats_ = std::make_unique<StatsService>(
      sessions, auth_,
      WatchLimits{settings_.max_watchers, settings_.max_watchers_per_client,
                  "stats_listener.max_watchers", "stats_listener.max_watchers_per_client"});
  stats_path_ = socket_prefix + ".stats";
  if (absl::Status s = StartStatsServer(stats_path_); !s.ok()) return s;
  if (health_relay_) {
    health_path_ = socket_prefix + ".health";
    if (absl::Status s = StartHealthServer(health_path_); !s.ok()) return s;
  }
  RelayLimits limits;
  limits.max_connections = settings_.max_connections;
  limits.max_per_address = settings_.max_connections_per_address;
  if (absl::Status s = relay_->Start(stats_path_, limits); !s.ok()) return s;
  if (health_relay_) {
    if (absl::Status s = health_relay_->Start(health_path_, limits); !s.ok()) return s;
  }
  if (tokens_) watcher_ = std::thread([this] { WatchTokens(); });
  SetServing(true);

  std::vector<std::string> auth;
  if (!settings_.client_ca_file.empty())
    auth.push_back(absl::StrCat("client certificates (scope ",
                                StatsScopeName(settings_.client_cert_scope), ")"));
  if (tokens_) auth.push_back(absl::StrCat(tokens_->Current()->size(), " bearer tokens"));
  MYDEV_LOG(kInfo, "remote Stats on %s (%s; %s; at most %d connections, %d WatchStats streams)%s",
            relay_->address().ToString(), settings_.plaintext ? "plaintext" : "TLS",
            absl::StrJoin(auth, " + "), settings_.max_connections, settings_.max_watchers,
            health_relay_ ? absl::StrCat("; health-only port ", health_relay_->address().ToString())
                          : "");
  return absl::OkStatus();
}

absl::Status RemoteStatsServer::StartStatsServer(const std::string& path) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (settings_.plaintext) {
    creds = grpc::InsecureServerCredentials();
  } else {
    // gRPC's own file watcher re-reads the files every reload_interval.
    const unsigned refresh = static_cast<unsigned>(
        std::max<int64_t>(1, absl::ToInt64Seconds(settings_.reload_interval)));
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
    if (settings_.client_ca_file.empty())
      provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          settings_.key_file, settings_.cert_file, refresh);
    else
      provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          settings_.key_file, settings_.cert_file, settings_.client_ca_file, refresh);
    grpc::experimental::TlsServerCredentialsOptions options(provider);
    options.watch_identity_key_cert_pairs();
    if (settings_.client_ca_file.empty()) {
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    } else {
      options.watch_root_certs();
      // With tokens too, a certificate is optional (but verified if sent);
      // with certificates alone, required.
      options.set_cert_request_type(
          tokens_ ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                  : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    }
    creds = grpc::experimental::TlsServerCredentials(options);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, creds);
  builder.RegisterService(stats_.get());
  AddRemoteChannelArguments(&builder);
  // Its own bounded pool: every WatchStats stream may hold a thread, and
  // kRemoteThreadsForCalls more serve short calls; beyond, a call gets
  // RESOURCE_EXHAUSTED rather than a thread.
  grpc::ResourceQuota quota("mydevd-remote-stats");
  quota.SetMaxThreads(static_cast<int>(settings_.max_watchers) + kRemoteThreadsForCalls);
  builder.SetResourceQuota(quota);
  server_ = builder.BuildAndStart();
  if (!server_)
    return absl::InternalError(
        absl::StrCat("the remote Stats gRPC server did not start on unix:", path));
  chmod(path.c_str(), 0600);  // the relay is its only client
  return absl::OkStatus();
}

absl::Status RemoteStatsServer::StartHealthServer(const std::string& path) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.SetOption(std::make_unique<WithoutReflection>());
  builder.RegisterCallbackGenericService(&unimplemented_);
  AddRemoteChannelArguments(&builder);
  grpc::ResourceQuota quota("mydevd-health");
  quota.SetMaxThreads(kHealthServerThreads);
  builder.SetResourceQuota(quota);
  health_server_ = builder.BuildAndStart();
  if (!health_server_)
    return absl::InternalError(absl::StrCat("the health gRPC server did not start on unix:", path));
  chmod(path.c_str(), 0600);
  return absl::OkStatus();
}

void RemoteStatsServer::SetServing(bool serving) {
  if (server_ && server_->GetHealthCheckService()) {
    server_->GetHealthCheckService()->SetServingStatus(kStatsService, serving);
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }
  if (health_server_ && health_server_->GetHealthCheckService()) {
    grpc::HealthCheckServiceInterface* health = health_server_->GetHealthCheckService();
    health->SetServingStatus(kStatsService, serving);
    health->SetServingStatus(kCaptureService, serving);
    health->SetServingStatus(serving);
  }
}

absl::Status RemoteStatsServer::ReloadTokens() {
  if (!tokens_) {
    MYDEV_LOG(kInfo, "no tokens file to re-read (stats_listener.tokens_file is unset)");
    return absl::OkStatus();
  }
  absl::StatusOr<bool> reloaded = tokens_->Reload();
  LogReload(reloaded, true);
  return reloaded.status();
}

void RemoteStatsServer::LogReload(const absl::StatusOr<bool>& reloaded, bool forced) {
  std::shared_ptr<const StatsTokens> now = tokens_->Current();
  if (!reloaded.ok()) {
    MYDEV_LOG(kWarning, "the tokens file was not re-read: %s; the %d tokens read before stay",
              reloaded.status().message(), now->size());
    return;
  }
  if (!*reloaded) return;
  std::vector<std::string> names;
  for (const StatsTokens::Entry& e : now->entries()) {
    if (names.size() == 10) {
      names.push_back("...");
      break;
    }
    names.push_back(absl::StrCat(e.name, " (", StatsScopeName(e.scope), ")"));
  }
  MYDEV_LOG(kInfo, "re-read the tokens file %s (%s): %d tokens%s%s", tokens_->path(),
            forced ? "SIGHUP" : "it changed", now->size(), names.empty() ? "" : ": ",
            absl::StrJoin(names, ", "));
}

void RemoteStatsServer::WatchTokens() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), settings_.reload_interval)) return;
    }
    LogReload(tokens_->ReloadIfChanged(), false);
  }
}

void RemoteStatsServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
  SetServing(false);
  if (stats_) stats_->Shutdown();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(1);
  if (server_) server_->Shutdown(deadline);
  if (health_server_) health_server_->Shutdown(deadline);
  if (relay_) relay_->Stop();
  if (health_relay_) health_relay_->Stop();
  for (const std::string& path : {stats_path_, health_path_})
    if (!path.empty()) unlink(path.c_str());
}

}  // namespace mydev::daemon
