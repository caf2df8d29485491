// access_daemon_test.cc — access rules through the real daemon: gRPC over its
// Unix socket, the caller's identity from SO_PEERCRED. To be another user, a
// helper thread switches only its own effective uid/gid (raw setresuid /
// setresgid syscalls act on the calling thread, unlike glibc's wrappers),
// connects, and switches back; the kernel records the credentials at
// connect(), and gRPC then talks over that fd. Needs root: skipped otherwise.
#include <grpcpp/create_channel.h>
#include <grpcpp/create_channel_posix.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "daemon/control/access_policy.h"
#include "daemon/control/config.h"
#include "daemon/daemon.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {
namespace {

using mydev::v1::Capture;
using mydev::v1::Stats;

constexpr uint32_t kNobody = 65534;
constexpr uint32_t kStranger = 1500;  // no user-database entry needed

constexpr char kConfig[] = R"(
    device { name: "mydev0" synthetic { rate_pps: 1000 } access { inject { user: "nobody" } } }
    device { name: "mydev1" synthetic { rate_pps: 1000 } access { capture { user: "0" } } }
    limits { default_ring_bytes: 1048576 attach_timeout_ms: 3000 }
    user_limits { user: "nobody" max_sessions: 1 }
)";

// Connects to path as uid/gid (this thread only); -1 with errno on failure.
int ConnectAs(const std::string& path, uint32_t uid, uint32_t gid) {
  int fd = -1, err = 0;
  std::thread t([&] {
    if (syscall(SYS_setresgid, -1, gid, -1) != 0 || syscall(SYS_setresuid, -1, uid, -1) != 0) {
      err = errno;
      syscall(SYS_setresgid, -1, 0, -1);
      return;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
    // Back to root (the saved uid is still 0) before the thread ends.
    syscall(SYS_setresuid, -1, 0, -1);
    syscall(SYS_setresgid, -1, 0, -1);
  });
  t.join();
  errno = err;
  return fd;
}

class AccessDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to connect as other users";
    std::string templ = "/tmp/mydevd_access.XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);  // other users must reach the socket
    absl::StatusOr<mydev::config::Config> config = ParseConfig(kConfig, "test.conf");
    ASSERT_TRUE(config.ok()) << config.status();
    DaemonOptions o;
    o.socket_path = dir_ + "/mydevd.sock";
    o.config = *config;
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
  }
  void TearDown() override {
    if (daemon_) daemon_->Shutdown();
    if (!dir_.empty()) rmdir(dir_.c_str());
  }

  struct Client {
    std::unique_ptr<Capture::Stub> capture;
    std::unique_ptr<Stats::Stub> stats;
  };

  Client As(uint32_t uid, uint32_t gid) {
    int fd = ConnectAs(daemon_->socket_path(), uid, gid);
    EXPECT_GE(fd, 0) << "connect as uid " << uid << ": " << std::strerror(errno);
    auto channel = grpc::CreateInsecureChannelFromFd("mydevd", fd);
    return Client{Capture::NewStub(channel), Stats::NewStub(channel)};
  }

  static grpc::Status Open(Client& c, const char* device, mydev::v1::OpenSessionResponse* out) {
    grpc::ClientContext ctx;
    mydev::v1::OpenSessionRequest req;
    req.set_device(device);
    return c.capture->OpenSession(&ctx, req, out);
  }

  static grpc::Status Inject(Client& c, const mydev::v1::OpenSessionResponse& opened) {
    grpc::ClientContext ctx;
    mydev::v1::InjectRequest req;
    req.mutable_session()->set_session_id(opened.session_id());
    req.mutable_session()->set_token(opened.token());
    req.set_packet(std::string(60, 'x'));
    mydev::v1::InjectResponse resp;
    return c.capture->Inject(&ctx, req, &resp);
  }

  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(AccessDaemonTest, CaptureRuleUsesPeerCredentials) {
  Client nobody = As(kNobody, kNobody);
  mydev::v1::OpenSessionResponse opened;
  grpc::Status s = Open(nobody, "mydev1", &opened);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(),
            "user nobody (uid 65534) may not capture on mydev1: not in device mydev1's capture "
            "users/groups");
  EXPECT_TRUE(Open(nobody, "mydev0", &opened).ok());  // no capture rule: open to all
  Client root = As(0, 0);
  EXPECT_TRUE(Open(root, "mydev1", &opened).ok());  // root may always
}

TEST_F(AccessDaemonTest, InjectIsCheckedBeforeTheBackend) {
  Client nobody = As(kNobody, kNobody);
  Client stranger = As(kStranger, kStranger);
  mydev::v1::OpenSessionResponse mine, theirs;
  ASSERT_TRUE(Open(nobody, "mydev0", &mine).ok());
  ASSERT_TRUE(Open(stranger, "mydev0", &theirs).ok());
  // Granted: reaches the backend, which (synthetic) cannot inject.
  EXPECT_EQ(Inject(nobody, mine).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // Not granted: refused before the backend.
  grpc::Status s = Inject(stranger, theirs);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(),
            "uid 1500 may not inject on mydev0: not in device mydev0's inject users/groups");
}

TEST_F(AccessDaemonTest, PerUserSessionLimit) {
  Client nobody = As(kNobody, kNobody);
  mydev::v1::OpenSessionResponse opened;
  ASSERT_TRUE(Open(nobody, "mydev0", &opened).ok());
  grpc::Status s = Open(nobody, "mydev0", &opened);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  Client stranger = As(kStranger, kStranger);  // the default limit (64)
  EXPECT_TRUE(Open(stranger, "mydev0", &opened).ok());
}

TEST_F(AccessDaemonTest, StatsHideOtherUsersOwners) {
  Client nobody = As(kNobody, kNobody);
  Client root = As(0, 0);
  mydev::v1::OpenSessionResponse n, r;
  ASSERT_TRUE(Open(nobody, "mydev0", &n).ok());
  ASSERT_TRUE(Open(root, "mydev0", &r).ok());
  auto owners = [](Client& c) {
    grpc::ClientContext ctx;
    mydev::v1::StatsSnapshot snap;
    EXPECT_TRUE(c.stats->GetStats(&ctx, {}, &snap).ok());
    std::map<uint64_t, std::pair<uint32_t, uint32_t>> out;  // id -> uid, pid
    for (const auto& s : snap.sessions()) out[s.session_id()] = {s.uid(), s.pid()};
    EXPECT_EQ(snap.devices_size(), 2);  // counters for everyone
    return out;
  };
  const uint32_t pid = static_cast<uint32_t>(getpid());
  auto seen_by_nobody = owners(nobody);
  ASSERT_EQ(seen_by_nobody.size(), 2u);
  EXPECT_EQ(seen_by_nobody[n.session_id()], std::make_pair(kNobody, pid));    // its own
  EXPECT_EQ(seen_by_nobody[r.session_id()], std::make_pair(kHiddenUid, 0u));  // root's: hidden
  auto seen_by_root = owners(root);
  EXPECT_EQ(seen_by_root[n.session_id()], std::make_pair(kNobody, pid));
  EXPECT_EQ(seen_by_root[r.session_id()], std::make_pair(0u, pid));
}

}  // namespace
}  // namespace mydev::daemon
