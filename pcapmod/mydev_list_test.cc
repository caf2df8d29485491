// mydev_list_test.cc — mydev_list.c's direct ListDevices call against a real
// gRPC server (Debian's gRPC, the Capture service of proto/mydev.proto) on a
// Unix socket: the devices as sent, answers larger than HTTP/2's default
// frame and window sizes, truncation, an error status, and peers that are
// absent, stale, silent, hang up or answer what it does not understand.
#include "pcapmod/mydev_list.h"

#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev {
namespace {

namespace pb = ::mydev::v1;

// Not TEST_TMPDIR: Unix socket paths must stay under 108 bytes.
std::string TempSocket() {
  static int n = 0;
  return "/tmp/mydev_list_test." + std::to_string(getpid()) + "." + std::to_string(++n);
}

class FakeCapture final : public pb::Capture::Service {
 public:
  grpc::Status ListDevices(grpc::ServerContext*, const pb::ListDevicesRequest*,
                           pb::ListDevicesResponse* resp) override {
    if (!error_.ok()) return error_;
    *resp = answer_;
    return grpc::Status::OK;
  }
  pb::ListDevicesResponse answer_;
  grpc::Status error_ = grpc::Status::OK;
};

class ListTest : public ::testing::Test {
 protected:
  void StartServer() {
    path_ = TempSocket();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + path_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    if (!path_.empty()) unlink(path_.c_str());
  }
  pb::Device* AddDevice(const std::string& name, const std::string& description, uint32_t flags) {
    pb::Device* d = service_.answer_.add_devices();
    d->set_name(name);
    d->set_description(description);
    d->set_backend("synthetic");
    d->add_dlts(1);
    d->add_dlts(105);
    d->set_pcap_flags(flags);
    d->set_can_inject(true);
    return d;
  }
  int List(size_t max, int timeout_ms = 5000) {
    devs_.assign(max + 1, mydev_device_desc{});
    std::memset(devs_.data(), 0x5a, sizeof(mydev_device_desc) * devs_.size());
    err_[0] = '\0';
    return mydev_list_devices_lite(path_.c_str(), timeout_ms, devs_.data(), max, &n_, err_);
  }

  std::string path_;
  FakeCapture service_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<mydev_device_desc> devs_;
  size_t n_ = 99;
  char err_[MYDEV_ERRBUF_SIZE];
};

TEST_F(ListTest, ListsTheDevicesAsSent) {
  StartServer();
  AddDevice("mydev0", "mydev synthetic traffic generator", 0x36);
  AddDevice("mydev1", "", 0);
  AddDevice("mydev7", "afpacket on veth0 (\xc3\xa9t\xc3\xa9)", 0xffffffffu);
  ASSERT_EQ(List(64), 0) << err_;
  ASSERT_EQ(n_, 3u);
  EXPECT_STREQ(devs_[0].name, "mydev0");
  EXPECT_STREQ(devs_[0].description, "mydev synthetic traffic generator");
  EXPECT_EQ(devs_[0].pcap_flags, 0x36u);
  EXPECT_STREQ(devs_[1].name, "mydev1");
  EXPECT_STREQ(devs_[1].description, "");
  EXPECT_EQ(devs_[1].pcap_flags, 0u);
  EXPECT_STREQ(devs_[2].description, "afpacket on veth0 (\xc3\xa9t\xc3\xa9)");
  EXPECT_EQ(devs_[2].pcap_flags, 0xffffffffu);
}

TEST_F(ListTest, NoDevices) {
  StartServer();
  ASSERT_EQ(List(64), 0) << err_;
  EXPECT_EQ(n_, 0u);
}

// ~300 KB: many DATA frames (16 KiB each at most) and more than the default
// 64 KiB flow-control window; only the first max devices are written.
TEST_F(ListTest, LargeAnswerStopsAtMax) {
  StartServer();
  for (int i = 0; i < 1000; ++i)
    AddDevice("mydev" + std::to_string(i), std::string(250, 'a' + i % 26), i);
  ASSERT_EQ(List(64), 0) << err_;
  ASSERT_EQ(n_, 64u);
  EXPECT_STREQ(devs_[63].name, "mydev63");
  EXPECT_EQ(devs_[63].pcap_flags, 63u);
  // Truncated to the field, NUL-terminated; the slot after max untouched.
  EXPECT_EQ(std::strlen(devs_[63].description), sizeof(devs_[63].description) - 1);
  EXPECT_EQ(devs_[63].description[0], 'a' + 63 % 26);
  EXPECT_EQ(static_cast<unsigned char>(devs_[64].name[0]), 0x5a);
}

TEST_F(ListTest, LongNameTruncated) {
  StartServer();
  AddDevice(std::string(100, 'n'), "d", 1);
  ASSERT_EQ(List(4), 0) << err_;
  ASSERT_EQ(n_, 1u);
  EXPECT_EQ(std::string(devs_[0].name), std::string(sizeof(devs_[0].name) - 1, 'n'));
}

TEST_F(ListTest, ErrorStatusIsAnError) {
  StartServer();
  AddDevice("mydev0", "x", 0);
  service_.error_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "not now");
  EXPECT_EQ(List(64), -1);
  EXPECT_EQ(n_, 0u);
  EXPECT_NE(std::string(err_).find("error status"), std::string::npos) << err_;
}

TEST_F(ListTest, NoSocketIsNoDaemon) {
  path_ = TempSocket();
  EXPECT_EQ(List(64), MYDEV_LIST_NO_DAEMON);
  EXPECT_EQ(n_, 0u);
}

// A raw listening socket: stale (closed) gives "no daemon"; silent times
// out; one that hangs up at once is an error; none leaves SIGPIPE.
class RawPeer {
 public:
  explicit RawPeer(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
  }
  ~RawPeer() {
    if (fd_ >= 0) close(fd_);
  }
  int fd_;
};

TEST_F(ListTest, StaleSocketIsNoDaemon) {
  path_ = TempSocket();
  { RawPeer gone(path_); }  // the file stays, nobody accepts
  EXPECT_EQ(List(64), MYDEV_LIST_NO_DAEMON);
}

TEST_F(ListTest, SilentPeerTimesOut) {
  path_ = TempSocket();
  RawPeer silent(path_);  // the kernel accepts into the backlog; nobody answers
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(List(64, 200), -1);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_GE(ms, 150);
  EXPECT_LT(ms, 5000);
  EXPECT_NE(std::string(err_).find("in time"), std::string::npos) << err_;
}

TEST_F(ListTest, PeerHangingUpIsAnError) {
  path_ = TempSocket();
  RawPeer peer(path_);
  std::thread closer([&] {
    int c = accept(peer.fd_, nullptr, nullptr);
    if (c >= 0) close(c);
  });
  EXPECT_EQ(List(64), -1);
  closer.join();
  EXPECT_NE(err_[0], '\0');
}

// A peer that answers with something this client does not read as gRPC:
// the caller is told to ask again through the gRPC library.
TEST_F(ListTest, AnswerNotUnderstood) {
  path_ = TempSocket();
  RawPeer peer(path_);
  std::thread answer([&] {
    int c = accept(peer.fd_, nullptr, nullptr);
    if (c < 0) return;
    // A 20,000-byte frame: over the 16,384 the client allows.
    const unsigned char big[9] = {0x00, 0x4e, 0x20, 0x04, 0, 0, 0, 0, 0};
    (void)!write(c, big, sizeof big);
    char buf[512];
    while (read(c, buf, sizeof buf) > 0) {
    }
    close(c);
  });
  EXPECT_EQ(List(64), MYDEV_LIST_NOT_UNDERSTOOD);
  answer.join();
  EXPECT_NE(std::string(err_).find("larger"), std::string::npos) << err_;
}

}  // namespace
}  // namespace mydev
