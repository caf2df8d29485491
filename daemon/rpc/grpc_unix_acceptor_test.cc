// grpc_unix_acceptor_test.cc — the acceptor's connection accounting against a real
// gRPC server: a uid over its cap is closed at accept, and the end of a
// connection is seen whoever ends it (the peer, or gRPC itself: a bad
// preface, max connection age), without the acceptor's dup keeping it open.
#include "daemon/rpc/grpc_unix_acceptor.h"

#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/unix_socket.h"
#include "gtest/gtest.h"
#include "proto/mydev.grpc.pb.h"
#include "shm/fd_passing.h"

namespace mydev::daemon {
namespace {

// Not TEST_TMPDIR: Unix socket paths must stay under 108 bytes.
std::string TempSocket() {
  static int n = 0;
  return "/tmp/mydev_acceptor_test." + std::to_string(getpid()) + "." + std::to_string(++n);
}

// Polls cond every 10 ms for up to timeout_ms.
template <typename Cond>
bool WaitFor(Cond cond, int timeout_ms = 3000) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// 0 when the daemon side hung up within timeout_ms, -2 on timeout.
ssize_t ReadEof(int fd, int timeout_ms) {
  pollfd p = {fd, POLLIN, 0};
  for (;;) {
    if (poll(&p, 1, timeout_ms) <= 0) return -2;
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return n < 0 ? -1 : 0;  // else: gRPC's SETTINGS/GOAWAY bytes, read on
  }
}

class AcceptorTest : public ::testing::Test {
 protected:
  void StartServer(const ConnectionLimits& limits, int max_age_ms = 0) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&unimplemented_);  // every call: UNIMPLEMENTED
    if (max_age_ms > 0) {
      builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, max_age_ms);
      builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 100);
    }
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    path_ = TempSocket();
    unlink(path_.c_str());
    auto a = GrpcUnixAcceptor::Start(path_, 0600, server_.get(), &peers_, limits);
    ASSERT_TRUE(a.ok()) << a.status();
    acceptor_ = std::move(*a);
  }
  void TearDown() override {
    if (acceptor_) acceptor_->Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }
  UniqueFd Connect() {
    absl::StatusOr<UniqueFd> c = ConnectUnix(path_);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : UniqueFd();
  }
  grpc::StatusCode CallOnce(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = mydev::v1::Stats::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    mydev::v1::GetStatsRequest req;
    mydev::v1::StatsSnapshot resp;
    return stub->GetStats(&ctx, req, &resp).error_code();
  }

  mydev::v1::Stats::Service unimplemented_;
  PeerCredentialsTable peers_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GrpcUnixAcceptor> acceptor_;
  std::string path_;
};

TEST_F(AcceptorTest, CapPerUidClosesTheNextConnectionAtOnce) {
  ConnectionLimits limits;
  limits.max_per_uid = 3;
  limits.root_exempt = false;
  StartServer(limits);
  const uid_t me = getuid();
  std::vector<UniqueFd> held;
  for (int i = 0; i < 3; ++i) held.push_back(Connect());
  ASSERT_TRUE(WaitFor([&] { return acceptor_->ConnectionsOf(me) == 3; }));
  UniqueFd fourth = Connect();
  EXPECT_EQ(ReadEof(fourth.get(), 2000), 0) << "the 4th connection was not closed";
  EXPECT_EQ(acceptor_->refused_connections(), 1u);
  EXPECT_EQ(acceptor_->ConnectionsOf(me), 3u);
  // The held ones are still served by gRPC: not hung up.
  pollfd p = {held[0].get(), POLLRDHUP, 0};
  EXPECT_EQ(poll(&p, 1, 100), 0);

  // The peer closes one: room for exactly one more.
  held.pop_back();
  ASSERT_TRUE(WaitFor([&] { return acceptor_->ConnectionsOf(me) == 2; }));
  auto channel = grpc::CreateChannel("unix:" + path_, grpc::InsecureChannelCredentials());
  EXPECT_EQ(CallOnce(channel), grpc::StatusCode::UNIMPLEMENTED);  // reached the server
  EXPECT_EQ(acceptor_->ConnectionsOf(me), 3u);
  channel.reset();
  held.clear();
  EXPECT_TRUE(WaitFor([&] { return acceptor_->open_connections() == 0; }))
      << acceptor_->open_connections() << " connections still counted";
}

TEST_F(AcceptorTest, RootIsExemptByDefault) {
  if (getuid() != 0) GTEST_SKIP() << "needs root";
  ConnectionLimits limits;
  limits.max_per_uid = 1;
  StartServer(limits);
  std::vector<UniqueFd> held;
  for (int i = 0; i < 5; ++i) held.push_back(Connect());
  EXPECT_TRUE(WaitFor([&] { return acceptor_->ConnectionsOf(0) == 5; }));
  EXPECT_EQ(acceptor_->refused_connections(), 0u);
}

// gRPC ends a connection whose first bytes are not HTTP/2: it shuts the
// socket down, the dup sees it and is closed, so the peer sees EOF.
TEST_F(AcceptorTest, ConnectionGrpcClosesIsReleasedAndThePeerSeesEof) {
  ConnectionLimits limits;
  limits.root_exempt = false;
  StartServer(limits);
  std::vector<UniqueFd> bad;
  for (int i = 0; i < 20; ++i) {
    bad.push_back(Connect());
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(send(bad.back().get(), junk, sizeof junk - 1, MSG_NOSIGNAL),
              static_cast<ssize_t>(sizeof junk - 1));
  }
  for (auto& c : bad) EXPECT_EQ(ReadEof(c.get(), 3000), 0) << "gRPC's close did not reach the peer";
  EXPECT_TRUE(WaitFor([&] { return acceptor_->open_connections() == 0; }))
      << acceptor_->open_connections() << " connections still counted";
}

// A live HTTP/2 connection that gRPC closes on its own (max connection age)
// while the client still holds its channel.
TEST_F(AcceptorTest, ConnectionClosedByServerAgeIsReleased) {
  ConnectionLimits limits;
  limits.root_exempt = false;
  StartServer(limits, /*max_age_ms=*/300);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 60000);  // stay away once closed
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 60000);
  auto channel =
      grpc::CreateCustomChannel("unix:" + path_, grpc::InsecureChannelCredentials(), args);
  EXPECT_EQ(CallOnce(channel), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_GE(acceptor_->open_connections(), 1u);
  EXPECT_TRUE(WaitFor([&] { return acceptor_->open_connections() == 0; }, 5000))
      << acceptor_->open_connections() << " connections still counted";
}

TEST_F(AcceptorTest, NoDescriptorHeadroomRefusesEveryone) {
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  ConnectionLimits limits;
  limits.fd_headroom = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 30));
  StartServer(limits);
  UniqueFd c = Connect();
  EXPECT_EQ(ReadEof(c.get(), 2000), 0);
  EXPECT_EQ(acceptor_->refused_connections(), 1u);
  EXPECT_EQ(acceptor_->open_connections(), 0u);
}

}  // namespace
}  // namespace mydev::daemon
