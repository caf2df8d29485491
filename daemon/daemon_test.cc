// daemon_test.cc — the whole daemon in-process over real Unix sockets: gRPC
// with peer credentials, the fd hand-off, packets through the ring, stats,
// error codes, free-on-disconnect and shutdown.
#include "daemon/daemon.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/unix_socket.h"
#include "daemon/backends/synthetic/synthetic_frame_generator.h"
#include "daemon/control/config.h"
#include "proto/mydev.grpc.pb.h"
#include "shm/fd_passing.h"
#include "shm/ring_consumer.h"

namespace mydev::daemon {
namespace {

using mydev::v1::Capture;
using mydev::v1::Stats;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not TEST_TMPDIR: Unix socket paths must stay under 108 bytes.
    std::string templ = "/tmp/mydevd_test.XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    DaemonOptions o;
    o.socket_path = dir_ + "/run/mydevd.sock";  // "run" does not exist yet
    o.config = DefaultConfig();
    o.config.mutable_device(0)->mutable_synthetic()->set_rate_pps(20000);
    o.config.mutable_limits()->set_attach_timeout_ms(3000);
    o.config.mutable_limits()->set_default_ring_bytes(1 << 20);
    o.config.mutable_limits()->set_max_ring_bytes(8 << 20);
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    auto channel = grpc::CreateChannel("unix:" + o.socket_path, grpc::InsecureChannelCredentials());
    capture_ = Capture::NewStub(channel);
    stats_ = Stats::NewStub(channel);
  }
  void TearDown() override {
    if (daemon_) daemon_->Shutdown();
    rmdir((dir_ + "/run").c_str());
    rmdir(dir_.c_str());
  }

  mydev::v1::OpenSessionResponse Open(bool immediate = true) {
    grpc::ClientContext ctx;
    mydev::v1::OpenSessionRequest req;
    req.set_device("mydev0");
    req.set_immediate(immediate);
    mydev::v1::OpenSessionResponse resp;
    grpc::Status s = capture_->OpenSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  static shm::HandoffRequest HandoffFor(const mydev::v1::OpenSessionResponse& r) {
    shm::HandoffRequest req;
    req.session_id = r.session_id();
    EXPECT_EQ(r.token().size(), shm::kTokenBytes);
    std::copy(r.token().begin(), r.token().end(), req.token.begin());
    return req;
  }

  static mydev::v1::SessionRef Ref(const mydev::v1::OpenSessionResponse& r) {
    mydev::v1::SessionRef ref;
    ref.set_session_id(r.session_id());
    ref.set_token(r.token());
    return ref;
  }

  grpc::StatusCode StatsCode(const mydev::v1::SessionRef& ref, mydev::v1::SessionStats* out) {
    grpc::ClientContext ctx;
    mydev::v1::GetSessionStatsRequest req;
    *req.mutable_session() = ref;
    return capture_->GetSessionStats(&ctx, req, out).error_code();
  }

  bool WaitGone(uint64_t id) {
    for (int i = 0; i < 200; ++i) {
      if (!daemon_->sessions().Exists(id)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Capture::Stub> capture_;
  std::unique_ptr<Stats::Stub> stats_;
};

TEST_F(DaemonTest, SocketsAreWorldWritable) {
  struct stat st;
  ASSERT_EQ(stat(daemon_->socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  ASSERT_EQ(stat(daemon_->fd_socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
}

// Issue 12: any user could open the 0644 lock read-only and hold its flock.
TEST_F(DaemonTest, LockFileIsRootsOnly) {
  struct stat st;
  ASSERT_EQ(lstat((daemon_->socket_path() + ".lock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
}

// Issue 12: a socket directory under one another user can write.
TEST_F(DaemonTest, SocketDirectoryOthersCanWriteIsRefused) {
  const std::string theirs = dir_ + "/theirs";
  ASSERT_EQ(mkdir(theirs.c_str(), 0755), 0);
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  DaemonOptions o;
  o.socket_path = theirs + "/run/mydevd.sock";
  o.config = DefaultConfig();
  absl::Status s = Daemon::Start(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("owned by uid 65534"), std::string::npos) << s;
  EXPECT_NE(access((theirs + "/run").c_str(), F_OK), 0);  // nothing made in it
  o.allow_insecure_socket_dir = true;
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
  EXPECT_TRUE(d.ok()) << d.status();
  if (d.ok()) (*d)->Shutdown();
  unlink((o.socket_path + ".lock").c_str());
  rmdir((theirs + "/run").c_str());
  rmdir(theirs.c_str());
}

TEST_F(DaemonTest, SecondDaemonOnTheSameSocketIsRefused) {
  DaemonOptions o;
  o.socket_path = daemon_->socket_path();
  o.config = DefaultConfig();
  EXPECT_EQ(Daemon::Start(o).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(DaemonTest, CaptureEndToEnd) {
  {
    grpc::ClientContext ctx;
    mydev::v1::ListDevicesResponse devs;
    ASSERT_TRUE(capture_->ListDevices(&ctx, {}, &devs).ok());
    ASSERT_EQ(devs.devices_size(), 1);
    EXPECT_EQ(devs.devices(0).name(), "mydev0");
    EXPECT_EQ(devs.devices(0).backend(), "synthetic");
    EXPECT_EQ(devs.devices(0).dlts(0), DLT_EN10MB);
  }
  mydev::v1::OpenSessionResponse opened = Open();
  EXPECT_EQ(opened.fd_socket(), daemon_->fd_socket_path());
  EXPECT_EQ(opened.snaplen(), 262144u);
  EXPECT_EQ(opened.ring_bytes(), 1u << 20);
  EXPECT_EQ(opened.dlt(), DLT_EN10MB);

  // The daemon saw who we are (SO_PEERCRED through the fd-keyed table).
  mydev::v1::SessionStats st;
  ASSERT_EQ(StatsCode(Ref(opened), &st), grpc::StatusCode::OK);
  EXPECT_EQ(st.uid(), getuid());
  EXPECT_EQ(st.pid(), static_cast<uint32_t>(getpid()));

  absl::StatusOr<UniqueFd> sock = ConnectUnix(opened.fd_socket());
  ASSERT_TRUE(sock.ok()) << sock.status();
  absl::StatusOr<shm::ReceivedFds> fds = shm::RequestFds(sock->get(), HandoffFor(opened), 2000);
  ASSERT_TRUE(fds.ok()) << fds.status();
  absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(fds->ring.get(), fds->ctl.get());
  ASSERT_TRUE(ring.ok()) << ring.status();

  // A second hand-off of the same session is refused.
  {
    absl::StatusOr<UniqueFd> again = ConnectUnix(opened.fd_socket());
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(shm::RequestFds(again->get(), HandoffFor(opened), 2000).ok());
  }

  uint64_t got = 0, last_seq = 0;
  bool increasing = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got < 200 && std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<bool> woke = shm::WaitForData(*ring, fds->event.get(), 1000);
    ASSERT_TRUE(woke.ok()) << woke.status();
    while (const mydev_ring_record* r = mydev_ring_next(ring->view())) {
      std::optional<uint64_t> seq = FindSequence(mydev_ring_record_data(r), r->caplen);
      ASSERT_TRUE(seq.has_value());
      if (got > 0 && *seq <= last_seq) increasing = false;
      last_seq = *seq;
      ++got;
    }
    mydev_ring_release(ring->view());
  }
  EXPECT_GE(got, 200u);
  EXPECT_TRUE(increasing);

  ASSERT_EQ(StatsCode(Ref(opened), &st), grpc::StatusCode::OK);
  EXPECT_GE(st.packets_received(), got);
  EXPECT_EQ(st.packets_dropped(), 0u);

  {
    grpc::ClientContext ctx;
    mydev::v1::StatsSnapshot snap;
    ASSERT_TRUE(stats_->GetStats(&ctx, {}, &snap).ok());
    ASSERT_EQ(snap.devices_size(), 1);
    EXPECT_GE(snap.devices(0).packets_seen(), got);
    EXPECT_EQ(snap.devices(0).sessions(), 1u);
    ASSERT_EQ(snap.sessions_size(), 1);
    EXPECT_EQ(snap.sessions(0).session_id(), opened.session_id());
  }
  {
    grpc::ClientContext ctx;
    mydev::v1::WatchStatsRequest req;
    req.set_interval_ms(100);
    auto reader = stats_->WatchStats(&ctx, req);
    mydev::v1::StatsSnapshot a, b;
    ASSERT_TRUE(reader->Read(&a));
    ASSERT_TRUE(reader->Read(&b));
    EXPECT_GE(b.time_ns() - a.time_ns(), 80'000'000);
    EXPECT_GT(b.devices(0).packets_seen(), a.devices(0).packets_seen());
    ctx.TryCancel();
    while (reader->Read(&a)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  {
    grpc::ClientContext ctx;
    mydev::v1::CloseSessionRequest req;
    *req.mutable_session() = Ref(opened);
    mydev::v1::CloseSessionResponse resp;
    ASSERT_TRUE(capture_->CloseSession(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(StatsCode(Ref(opened), &st), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DaemonTest, ErrorCodes) {
  {
    grpc::ClientContext ctx;
    mydev::v1::OpenSessionRequest req;
    req.set_device("mydev7");
    mydev::v1::OpenSessionResponse resp;
    EXPECT_EQ(capture_->OpenSession(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    mydev::v1::OpenSessionRequest req;
    req.set_device("mydev0");
    req.set_buffer_size(64 << 20);  // above max_ring_bytes
    mydev::v1::OpenSessionResponse resp;
    EXPECT_EQ(capture_->OpenSession(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  mydev::v1::OpenSessionResponse opened = Open();
  {
    grpc::ClientContext ctx;
    mydev::v1::SetFilterRequest req;
    *req.mutable_session() = Ref(opened);
    mydev::v1::BpfInsn* jump = req.add_insns();  // jeq #0, jt +9: out of range
    jump->set_code(0x15);
    jump->set_jt(9);
    mydev::v1::BpfInsn* ret = req.add_insns();
    ret->set_code(0x06);
    ret->set_k(65535);
    mydev::v1::SetFilterResponse resp;
    grpc::Status s = capture_->SetFilter(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_FALSE(s.error_message().empty());
  }
  {
    grpc::ClientContext ctx;
    mydev::v1::SetFilterRequest req;
    *req.mutable_session() = Ref(opened);
    mydev::v1::BpfInsn* ret = req.add_insns();
    ret->set_code(0x06);
    ret->set_k(128);
    mydev::v1::SetFilterResponse resp;
    EXPECT_TRUE(capture_->SetFilter(&ctx, req, &resp).ok());
  }
  mydev::v1::SessionStats st;
  ASSERT_EQ(StatsCode(Ref(opened), &st), grpc::StatusCode::OK);
  EXPECT_TRUE(st.filter_set());
  mydev::v1::SessionRef wrong = Ref(opened);
  wrong.mutable_token()->at(0) ^= 0x55;
  EXPECT_EQ(StatsCode(wrong, &st), grpc::StatusCode::PERMISSION_DENIED);
  mydev::v1::SessionRef missing = Ref(opened);
  missing.set_session_id(opened.session_id() + 1000);
  EXPECT_EQ(StatsCode(missing, &st), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext ctx;
    mydev::v1::InjectRequest req;
    *req.mutable_session() = Ref(opened);
    req.set_packet(std::string(60, 'x'));
    mydev::v1::InjectResponse resp;
    EXPECT_EQ(capture_->Inject(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    grpc::ClientContext ctx;
    mydev::v1::SetDataLinkRequest req;
    *req.mutable_session() = Ref(opened);
    req.set_dlt(105);
    mydev::v1::SetDataLinkResponse resp;
    EXPECT_EQ(capture_->SetDataLink(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // The fd hand-off with a wrong token is refused and the session survives.
  absl::StatusOr<UniqueFd> sock = ConnectUnix(opened.fd_socket());
  ASSERT_TRUE(sock.ok());
  shm::HandoffRequest bad = HandoffFor(opened);
  bad.token[5] ^= 1;
  EXPECT_FALSE(shm::RequestFds(sock->get(), bad, 2000).ok());
  EXPECT_TRUE(daemon_->sessions().Exists(opened.session_id()));
}

TEST_F(DaemonTest, ClosingTheFdSocketFreesTheSession) {
  mydev::v1::OpenSessionResponse opened = Open();
  absl::StatusOr<UniqueFd> sock = ConnectUnix(opened.fd_socket());
  ASSERT_TRUE(sock.ok());
  absl::StatusOr<shm::ReceivedFds> fds = shm::RequestFds(sock->get(), HandoffFor(opened), 2000);
  ASSERT_TRUE(fds.ok()) << fds.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(daemon_->sessions().Exists(opened.session_id()));
  auto t0 = std::chrono::steady_clock::now();
  sock->reset();  // what the kernel does when the client dies
  EXPECT_TRUE(WaitGone(opened.session_id()));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
}

TEST_F(DaemonTest, ShutdownClosesRingsAndRemovesSockets) {
  mydev::v1::OpenSessionResponse opened = Open();
  absl::StatusOr<UniqueFd> sock = ConnectUnix(opened.fd_socket());
  ASSERT_TRUE(sock.ok());
  absl::StatusOr<shm::ReceivedFds> fds = shm::RequestFds(sock->get(), HandoffFor(opened), 2000);
  ASSERT_TRUE(fds.ok()) << fds.status();
  absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(fds->ring.get(), fds->ctl.get());
  ASSERT_TRUE(ring.ok());
  daemon_->Shutdown();
  EXPECT_TRUE(mydev_ring_closed(ring->view()));
  EXPECT_EQ(ring->header()->close_reason, MYDEV_RING_CLOSE_SHUTDOWN);
  EXPECT_NE(access(daemon_->socket_path().c_str(), F_OK), 0);
  EXPECT_NE(access(daemon_->fd_socket_path().c_str(), F_OK), 0);
  char c;
  EXPECT_EQ(read(sock->get(), &c, 1), 0);  // the daemon hung up
}

}  // namespace
}  // namespace mydev::daemon
