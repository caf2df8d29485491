// daemon_remote_stats_test.cc — the daemon with a remote Stats listener,
// in-process, on loopback (plaintext, as allowed there; TLS is exercised by
// tests/remote_stats_e2e_test.py): bearer tokens and their scopes, Capture
// UNIMPLEMENTED over TCP, per-client WatchStats caps, gRPC health on the
// local socket, the remote listener and the health-only port, Reload().
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>

#include "absl/strings/str_cat.h"
#include "daemon/control/config.h"
#include "daemon/daemon.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {
namespace {

namespace v1 = mydev::v1;

constexpr char kSessionsToken[] = "0123456789abcdef0123456789abcdef";
constexpr char kDevicesToken[] = "fedcba9876543210fedcba9876543210";
constexpr char kLaterToken[] = "aaaabbbbccccddddeeeeffff00001111";

// A unary call by method name with raw bytes (no generated stub): how a
// client that never compiled the .proto calls grpc.health.v1.Health.
grpc::Status RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& request, std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp,
                 [&done](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  response->clear();
  std::vector<grpc::Slice> slices;
  if (s.ok() && resp.Dump(&slices).ok())
    for (const grpc::Slice& sl : slices)
      response->append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return s;
}

// grpc.health.v1.Health/Check for `service`: the status number (1 SERVING,
// 2 NOT_SERVING), or -1 with the call's error in *error.
int HealthOf(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
             grpc::StatusCode* error = nullptr) {
  std::string request = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
  std::string response;
  grpc::Status s = RawCall(channel, "/grpc.health.v1.Health/Check", request, &response);
  if (error) *error = s.error_code();
  if (!s.ok()) return -1;
  if (response.size() == 2 && response[0] == 0x08) return response[1];
  return response.empty() ? 0 : -1;
}

class DaemonRemoteStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/mydevd_remote_test.XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    tokens_ = dir_ + "/tokens";
    WriteTokens(
        absl::StrCat(kSessionsToken, " sessions grafana\n", kDevicesToken, " devices wall\n"));
    DaemonOptions o;
    o.socket_path = dir_ + "/mydevd.sock";
    o.config = DefaultConfig();
    o.config.mutable_device(0)->mutable_synthetic()->set_rate_pps(1000);
    mydev::config::StatsListener* l = o.config.mutable_stats_listener();
    l->set_address("127.0.0.1:0");
    l->set_plaintext(true);
    l->set_tokens_file(tokens_);
    l->set_max_watchers(3);
    l->set_max_watchers_per_client(2);
    l->set_health_address("127.0.0.1:0");
    l->set_reload_interval_s(3600);  // only Reload() re-reads, here
    ASSERT_TRUE(ValidateConfig(o.config).ok()) << ValidateConfig(o.config);
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    ASSERT_NE(daemon_->remote_stats(), nullptr);
    local_ = grpc::CreateChannel("unix:" + o.socket_path, grpc::InsecureChannelCredentials());
    remote_ = grpc::CreateChannel(daemon_->remote_stats()->address().ToString(),
                                  grpc::InsecureChannelCredentials());
    health_ = grpc::CreateChannel(daemon_->remote_stats()->health_address()->ToString(),
                                  grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (daemon_) daemon_->Shutdown();
    unlink(tokens_.c_str());
    rmdir(dir_.c_str());
  }
  void WriteTokens(const std::string& text) {
    std::ofstream(tokens_ + ".new") << text;
    ASSERT_EQ(rename((tokens_ + ".new").c_str(), tokens_.c_str()), 0);
  }
  static void Authorize(grpc::ClientContext* ctx, const char* token) {
    if (token) ctx->AddMetadata("authorization", std::string("Bearer ") + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  grpc::Status RemoteGetStats(const char* token, v1::StatsSnapshot* snap) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    return v1::Stats::NewStub(remote_)->GetStats(&ctx, v1::GetStatsRequest(), snap);
  }
  // Opens a capture session on the local socket (kept open by the test).
  void OpenSession() {
    grpc::ClientContext ctx;
    v1::OpenSessionRequest req;
    req.set_device("mydev0");
    v1::OpenSessionResponse resp;
    ASSERT_TRUE(v1::Capture::NewStub(local_)->OpenSession(&ctx, req, &resp).ok());
  }

  std::string dir_, tokens_;
  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<grpc::Channel> local_, remote_, health_;
};

TEST_F(DaemonRemoteStatsTest, TokensAndScopes) {
  OpenSession();
  v1::StatsSnapshot snap;
  grpc::Status s = RemoteGetStats(nullptr, &snap);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("Bearer TOKEN"), std::string::npos) << s.error_message();
  s = RemoteGetStats("0123456789abcdef0123456789abcdeX", &snap);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "unknown bearer token");

  ASSERT_TRUE(RemoteGetStats(kSessionsToken, &snap).ok());
  EXPECT_EQ(snap.scope(), v1::STATS_SCOPE_SESSIONS);
  EXPECT_EQ(snap.host(), HostName());
  ASSERT_EQ(snap.sessions_size(), 1);
  EXPECT_EQ(snap.sessions(0).uid(), getuid());  // the sessions scope sees owners
  EXPECT_EQ(snap.devices_size(), 1);

  snap.Clear();
  ASSERT_TRUE(RemoteGetStats(kDevicesToken, &snap).ok());
  EXPECT_EQ(snap.scope(), v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(snap.sessions_size(), 0);
  EXPECT_EQ(snap.devices_size(), 1);
  EXPECT_EQ(snap.devices(0).sessions(), 1u);  // counters still say there is one

  // The local socket: today's rules, scope LOCAL.
  snap.Clear();
  grpc::ClientContext ctx;
  ASSERT_TRUE(v1::Stats::NewStub(local_)->GetStats(&ctx, v1::GetStatsRequest(), &snap).ok());
  EXPECT_EQ(snap.scope(), v1::STATS_SCOPE_LOCAL);
  EXPECT_EQ(snap.sessions_size(), 1);
}

TEST_F(DaemonRemoteStatsTest, CaptureIsUnimplementedOverTcp) {
  grpc::ClientContext ctx;
  Authorize(&ctx, kSessionsToken);
  v1::ListDevicesResponse resp;
  grpc::Status s =
      v1::Capture::NewStub(remote_)->ListDevices(&ctx, v1::ListDevicesRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(DaemonRemoteStatsTest, WatchStatsCappedPerClientAndInAll) {
  auto stub = v1::Stats::NewStub(remote_);
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::StatsSnapshot>>> streams;
  auto open = [&](const char* token) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    Authorize(ctxs.back().get(), token);
    v1::WatchStatsRequest req;
    req.set_interval_ms(100);
    streams.push_back(stub->WatchStats(ctxs.back().get(), req));
    v1::StatsSnapshot snap;
    if (streams.back()->Read(&snap)) return grpc::Status::OK;
    return streams.back()->Finish();
  };
  EXPECT_TRUE(open(kSessionsToken).ok());
  EXPECT_TRUE(open(kSessionsToken).ok());
  grpc::Status third = open(kSessionsToken);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(third.error_message().find("token grafana already has 2 WatchStats streams "
                                       "(stats_listener.max_watchers_per_client 2)"),
            std::string::npos)
      << third.error_message();
  EXPECT_TRUE(open(kDevicesToken).ok());
  grpc::Status fourth = open(kDevicesToken);
  EXPECT_EQ(fourth.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(fourth.error_message().find("(stats_listener.max_watchers 3)"), std::string::npos)
      << fourth.error_message();
  EXPECT_EQ(daemon_->remote_stats()->stats().watch_streams(), 3u);
  for (auto& c : ctxs) c->TryCancel();
  // The local socket's streams are counted apart.
  grpc::ClientContext local_ctx;
  auto local_stream = v1::Stats::NewStub(local_)->WatchStats(&local_ctx, v1::WatchStatsRequest());
  v1::StatsSnapshot snap;
  EXPECT_TRUE(local_stream->Read(&snap));
  local_ctx.TryCancel();
}

TEST_F(DaemonRemoteStatsTest, HealthOnEveryListener) {
  for (const char* service : {"", "mydev.v1.Stats", "mydev.v1.Capture"}) {
    EXPECT_EQ(HealthOf(local_, service), 1) << service;
    EXPECT_EQ(HealthOf(health_, service), 1) << service;
  }
  EXPECT_EQ(HealthOf(remote_, ""), 1);
  EXPECT_EQ(HealthOf(remote_, "mydev.v1.Stats"), 1);
  grpc::StatusCode code;
  EXPECT_EQ(HealthOf(remote_, "mydev.v1.Capture", &code), -1);  // not served there
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
  // The health-only port serves nothing else: no Stats, no reflection.
  grpc::ClientContext ctx;
  Authorize(&ctx, kSessionsToken);
  v1::StatsSnapshot snap;
  EXPECT_EQ(v1::Stats::NewStub(health_)->GetStats(&ctx, v1::GetStatsRequest(), &snap).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  std::string response;
  EXPECT_EQ(RawCall(health_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "",
                    &response)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(DaemonRemoteStatsTest, ReloadRereadsTheTokensFile) {
  v1::StatsSnapshot snap;
  EXPECT_EQ(RemoteGetStats(kLaterToken, &snap).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  WriteTokens(absl::StrCat(kLaterToken, " devices later\n"));
  // Not yet: the file is checked every hour here.
  EXPECT_EQ(RemoteGetStats(kLaterToken, &snap).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(daemon_->Reload().ok());
  EXPECT_TRUE(RemoteGetStats(kLaterToken, &snap).ok());
  EXPECT_EQ(RemoteGetStats(kSessionsToken, &snap).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A broken file: Reload says so, the tokens in force stay.
  WriteTokens("broken\n");
  EXPECT_EQ(daemon_->Reload().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(RemoteGetStats(kLaterToken, &snap).ok());
}

TEST_F(DaemonRemoteStatsTest, ShutdownSaysNotServingFirst) {
  daemon_->Shutdown();
  grpc::StatusCode code;
  EXPECT_EQ(HealthOf(remote_, "", &code), -1);  // gone
  EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace mydev::daemon
