// fd_passing_test.cc — the SCM_RIGHTS hand-off over socketpairs and real
// Unix sockets: fds arrive, errors and timeouts are reported, bad sizes rejected.
#include "shm/fd_passing.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "base/unix_socket.h"
#include "gtest/gtest.h"
#include "shm/ring_consumer.h"
#include "shm/ring_producer.h"

namespace mydev::shm {
namespace {

struct Pair {
  UniqueFd client, daemon;
};
Pair MakePair() {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

HandoffRequest Req(uint64_t id, uint8_t fill) {
  HandoffRequest r;
  r.session_id = id;
  r.token.fill(fill);
  return r;
}

bool SameFile(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// Bazel's TEST_TMPDIR is often longer than a sockaddr_un path allows.
std::string TempPath(const char* name) {
  static const std::string dir = [] {
    static char tmpl[] = "/tmp/mydev-shm-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return std::string("/tmp");
    atexit([] { rmdir(tmpl); });
    return std::string(tmpl);
  }();
  return dir + "/" + name;
}

TEST(FdPassing, FdsArriveAndMapAsTheRing) {
  auto ring = RingProducer::Create({});
  ASSERT_TRUE(ring.ok()) << ring.status();
  Pair p = MakePair();
  std::thread daemon([&] {
    auto req = ReadHandoffRequest(p.daemon.get(), 2000);
    ASSERT_TRUE(req.ok()) << req.status();
    EXPECT_EQ(req->session_id, 0x0102030405060708ull);
    EXPECT_EQ(req->token, Req(0, 0xa5).token);
    ASSERT_TRUE(
        SendFds(p.daemon.get(), (*ring)->ring_fd(), (*ring)->ctl_fd(), (*ring)->event_fd()).ok());
  });
  auto fds = RequestFds(p.client.get(), Req(0x0102030405060708ull, 0xa5), 2000);
  daemon.join();
  ASSERT_TRUE(fds.ok()) << fds.status();
  EXPECT_TRUE(SameFile(fds->ring.get(), (*ring)->ring_fd()));
  EXPECT_TRUE(SameFile(fds->ctl.get(), (*ring)->ctl_fd()));
  EXPECT_TRUE(SameFile(fds->event.get(), (*ring)->event_fd()));
  for (int fd : {fds->ring.get(), fds->ctl.get(), fds->event.get()})
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC) << "MSG_CMSG_CLOEXEC";
  // The received fds are a working ring.
  auto mapped = MapRingForReading(fds->ring.get(), fds->ctl.get());
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  const uint8_t pkt[3] = {7, 8, 9};
  ASSERT_TRUE((*ring)->Write(5, 3, 0, pkt, 3));
  (*ring)->Publish(0);
  const mydev_ring_record* r = mydev_ring_next(mapped->view());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(mydev_ring_record_data(r)[2], 9);
}

TEST(FdPassing, TokenMismatchGetsAnErrorAndNoFds) {
  Pair p = MakePair();
  const HandoffRequest expected = Req(1, 0x11);
  std::thread daemon([&] {
    auto req = ReadHandoffRequest(p.daemon.get(), 2000);
    ASSERT_TRUE(req.ok()) << req.status();
    if (req->token != expected.token) {
      EXPECT_TRUE(SendHandoffError(p.daemon.get(), EACCES).ok());
    } else {
      ADD_FAILURE() << "token should not match";
    }
  });
  auto fds = RequestFds(p.client.get(), Req(1, 0x22), 2000);
  daemon.join();
  EXPECT_EQ(fds.status().code(), absl::StatusCode::kPermissionDenied) << fds.status();
}

TEST(FdPassing, ErrorReplyNeedsNonzeroStatus) {
  Pair p = MakePair();
  EXPECT_EQ(SendHandoffError(p.daemon.get(), 0).code(), absl::StatusCode::kInvalidArgument);
}

TEST(FdPassing, SilentPeerTimesOut) {
  Pair p = MakePair();
  auto req = ReadHandoffRequest(p.daemon.get(), 50);
  EXPECT_EQ(req.status().code(), absl::StatusCode::kDeadlineExceeded) << req.status();
  auto fds = RequestFds(p.client.get(), Req(1, 1), 50);  // daemon never answers
  EXPECT_EQ(fds.status().code(), absl::StatusCode::kDeadlineExceeded) << fds.status();
}

TEST(FdPassing, ShortRequestThenCloseIsRejected) {
  Pair p = MakePair();
  ASSERT_EQ(write(p.client.get(), "0123456789", 10), 10);
  p.client.reset();
  auto req = ReadHandoffRequest(p.daemon.get(), 1000);
  EXPECT_EQ(req.status().code(), absl::StatusCode::kUnavailable) << req.status();
}

TEST(FdPassing, LongRequestIsRejected) {
  Pair p = MakePair();
  char buf[41] = {};
  ASSERT_EQ(write(p.client.get(), buf, sizeof buf), 41);
  auto req = ReadHandoffRequest(p.daemon.get(), 1000);
  EXPECT_EQ(req.status().code(), absl::StatusCode::kInvalidArgument) << req.status();
}

TEST(FdPassing, RequestArrivingInPiecesIsAssembled) {
  Pair p = MakePair();
  const HandoffRequest want = Req(0xdeadbeefcafef00dull, 0x5a);
  std::thread client([&] {
    uint8_t raw[40];
    for (int i = 0; i < 8; ++i) raw[i] = static_cast<uint8_t>(want.session_id >> (8 * i));
    std::memcpy(raw + 8, want.token.data(), 32);
    for (int i = 0; i < 40; i += 7) {
      const int n = i + 7 <= 40 ? 7 : 40 - i;
      ASSERT_EQ(write(p.client.get(), raw + i, n), n);
      usleep(2000);
    }
  });
  auto req = ReadHandoffRequest(p.daemon.get(), 2000);
  client.join();
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->session_id, want.session_id);
  EXPECT_EQ(req->token, want.token);
}

TEST(FdPassing, OkReplyWithoutFdsIsRejected) {
  Pair p = MakePair();
  const uint8_t ok[4] = {0, 0, 0, 0};
  ASSERT_EQ(write(p.daemon.get(), ok, 4), 4);  // a broken daemon: status 0, no fds
  auto fds = RequestFds(p.client.get(), Req(1, 1), 1000);
  EXPECT_EQ(fds.status().code(), absl::StatusCode::kDataLoss) << fds.status();
}

TEST(FdPassing, DaemonClosingEarlyIsUnavailable) {
  Pair p = MakePair();
  p.daemon.reset();
  auto fds = RequestFds(p.client.get(), Req(1, 1), 1000);
  EXPECT_FALSE(fds.ok());
}

TEST(UnixSocket, ListenRemovesStaleSocketAndSetsMode) {
  const std::string path = TempPath("mydev-fdp-");
  unlink(path.c_str());
  {
    auto first = ListenUnix(path, 0600);
    ASSERT_TRUE(first.ok()) << first.status();
    // A second listener while the first lives is refused.
    EXPECT_EQ(ListenUnix(path, 0600).status().code(), absl::StatusCode::kAlreadyExists);
  }  // closed: the socket file stays behind, stale
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  auto again = ListenUnix(path, 0660);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  auto conn = ConnectUnix(path);
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE(fcntl(conn->get(), F_GETFD) & FD_CLOEXEC);
  UniqueFd accepted(accept4(again->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  unlink(path.c_str());
}

TEST(UnixSocket, RefusesToRemoveANonSocketAndBadPaths) {
  const std::string path = TempPath("mydev-notsock-");
  UniqueFd f(open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(f.valid());
  EXPECT_EQ(ListenUnix(path, 0600).status().code(), absl::StatusCode::kFailedPrecondition);
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << "the file must survive";
  unlink(path.c_str());
  EXPECT_EQ(ListenUnix(std::string(200, 'x'), 0600).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConnectUnix("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ConnectUnix(path).ok()) << "nobody listens";
}

}  // namespace
}  // namespace mydev::shm
