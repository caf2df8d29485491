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
  EXPECT_NE(std::string(err_).find("error status 14: not now"), std::string::npos) << err_;
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
  // nghttp2's verdict, the code of the GOAWAY it sent.
  EXPECT_NE(std::string(err_).find("FRAME_SIZE_ERROR"), std::string::npos) << err_;
}

// ---------------------------------------------------------- arbitrary answers

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  f += static_cast<char>(payload.size() >> 16);
  f += static_cast<char>(payload.size() >> 8);
  f += static_cast<char>(payload.size());
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>(stream >> shift);
  return f + payload;
}

// HPACK: :status 200 (static table 8), content-type (static 31) as a
// literal with incremental indexing, no Huffman.
const std::string kResponseHeaders =
    "\x88\x5f\x10"
    "application/grpc";

// HPACK: a literal header with a new name, incremental indexing.
std::string Literal(const std::string& name, const std::string& value) {
  return std::string("\x40") + static_cast<char>(name.size()) + name +
         static_cast<char>(value.size()) + value;
}

const std::string kSettings = Frame(0x4, 0, 0, std::string("\0\x3\0\0\0\x64", 6));

// What a gRPC server sends for ListDevices, with a PING and padding thrown in.
std::string ValidAnswer() {
  pb::ListDevicesResponse resp;
  for (int i = 0; i < 3; ++i) {
    pb::Device* d = resp.add_devices();
    d->set_name("mydev" + std::to_string(i));
    d->set_description("device " + std::to_string(i));
    d->set_backend("synthetic");
    d->add_dlts(1);
    d->set_pcap_flags(0x30 + i);
  }
  std::string body = resp.SerializeAsString();
  std::string msg(1, '\0');
  for (int shift = 24; shift >= 0; shift -= 8) msg += static_cast<char>(body.size() >> shift);
  msg += body;
  std::string padded = std::string(1, '\3') + msg.substr(0, 7) + std::string(3, '\0');
  return Frame(0x4, 0, 0, std::string("\0\x3\0\0\0\x64", 6)) +  // SETTINGS
         Frame(0x6, 0, 0, "12345678") +                         // PING
         Frame(0x4, 0x1, 0, "") +                               // SETTINGS ACK
         Frame(0x1, 0x4, 1, kResponseHeaders) +                 // HEADERS
         Frame(0x0, 0x8, 1, padded) +                           // DATA, padded
         Frame(0x8, 0, 0, std::string("\0\0\x10\0", 4)) +       // WINDOW_UPDATE
         Frame(0x0, 0, 1, msg.substr(7)) +                      // DATA
         Frame(0x1, 0x5, 1, "\x40\x0bgrpc-status\x01\x30");     // trailers
}

// Feeds answer to mydev_list_devices_on through a socketpair whose far end
// then shuts down its writing side (so a truncated answer ends at once).
int ListFrom(const std::string& answer, std::vector<mydev_device_desc>& devs, size_t max, size_t* n,
             char* err) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -100;
  EXPECT_EQ(write(sv[1], answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
  shutdown(sv[1], SHUT_WR);
  devs.assign(max, mydev_device_desc{});
  int rc = mydev_list_devices_on(sv[0], 2000, devs.data(), max, n, err);
  close(sv[0]);
  close(sv[1]);
  return rc;
}

TEST(ListAnswerTest, ValidAnswerWithPaddingAndPing) {
  std::vector<mydev_device_desc> devs;
  size_t n = 99;
  char err[MYDEV_ERRBUF_SIZE] = "";
  ASSERT_EQ(ListFrom(ValidAnswer(), devs, 8, &n, err), 0) << err;
  ASSERT_EQ(n, 3u);
  EXPECT_STREQ(devs[2].name, "mydev2");
  EXPECT_STREQ(devs[2].description, "device 2");
  EXPECT_EQ(devs[2].pcap_flags, 0x32u);
}

// The response's header blocks are decoded (nghttp2's HPACK) and judged:
// grpc-status, :status, content-type, and the gRPC message prefix.
TEST(ListAnswerTest, HeadersAndTrailersAreRead) {
  std::vector<mydev_device_desc> devs;
  size_t n = 99;
  char err[MYDEV_ERRBUF_SIZE] = "";
  const std::string one_device = std::string("\x0a\x08\x0a\x06mydev0", 10);
  auto message = [](const std::string& body, char flag = 0) {
    std::string m(1, flag);
    for (int shift = 24; shift >= 0; shift -= 8) m += static_cast<char>(body.size() >> shift);
    return m + body;
  };
  auto answer = [&](const std::string& headers, const std::string& data,
                    const std::string& trailers) {
    return kSettings + Frame(0x1, 0x4, 1, headers) + Frame(0x0, 0, 1, data) +
           Frame(0x1, 0x5, 1, trailers);
  };
  const std::string ok_trailers = Literal("grpc-status", "0");

  ASSERT_EQ(ListFrom(answer(kResponseHeaders, message(one_device), ok_trailers), devs, 4, &n, err),
            0)
      << err;
  ASSERT_EQ(n, 1u);
  EXPECT_STREQ(devs[0].name, "mydev0");

  // Trailers-only: an error status, its message in err.
  std::string trailers_only =
      kSettings + Frame(0x1, 0x5, 1,
                        kResponseHeaders + Literal("grpc-status", "7") +
                            Literal("grpc-message", "uid 1000 may not list %e2%9c%97 100%"));
  EXPECT_EQ(ListFrom(trailers_only, devs, 4, &n, err), -1);
  EXPECT_EQ(n, 0u);
  // grpc-message is percent-decoded; a stray '%' stays.
  EXPECT_NE(std::string(err).find("error status 7: uid 1000 may not list \xe2\x9c\x97 100%"),
            std::string::npos)
      << err;

  // A message, then an error status: an error all the same.
  EXPECT_EQ(ListFrom(answer(kResponseHeaders, message(one_device), Literal("grpc-status", "13")),
                     devs, 4, &n, err),
            -1);
  EXPECT_EQ(n, 0u);

  // Not a gRPC answer as this client reads it: the gRPC library is asked.
  struct {
    const char* what;
    std::string answer;
  } not_understood[] = {
      {"no grpc-status", answer(kResponseHeaders, message(one_device), Literal("x-other", "0"))},
      {"status 404",
       answer(std::string("\x8d\x5f\x10") + "application/grpc", message(one_device), ok_trailers)},
      {"text/html", answer("\x88\x5f\x09text/html", message(one_device), ok_trailers)},
      {"application/grpcx",
       answer(std::string("\x88\x5f\x11") + "application/grpcx", message(one_device), ok_trailers)},
      {"no content-type", answer("\x88", message(one_device), ok_trailers)},
      {"compressed", answer(kResponseHeaders, message(one_device, 1), ok_trailers)},
      {"two messages",
       answer(kResponseHeaders, message(one_device) + message(one_device), ok_trailers)},
      {"no message", answer(kResponseHeaders, "", ok_trailers)},
      {"not protobuf", answer(kResponseHeaders, message("\x0a\x7f"), ok_trailers)},
  };
  for (const auto& t : not_understood) {
    EXPECT_EQ(ListFrom(t.answer, devs, 4, &n, err), MYDEV_LIST_NOT_UNDERSTOOD) << t.what;
    EXPECT_EQ(n, 0u) << t.what;
    EXPECT_NE(err[0], '\0') << t.what;
  }

  // application/grpc+proto is gRPC's too.
  EXPECT_EQ(ListFrom(answer(std::string("\x88\x5f\x16") + "application/grpc+proto",
                            message(one_device), ok_trailers),
                     devs, 4, &n, err),
            0)
      << err;
}

// Every truncation, and 3,000 corrupted copies (a fixed seed): an answer,
// an error or "not understood", never a crash, an overrun (`bazel test
// --config=asan-ubsan //pcapmod:mydev_list_test`) or a string without its NUL.
TEST(ListAnswerTest, TruncatedAndCorruptedAnswers) {
  const std::string valid = ValidAnswer();
  std::vector<mydev_device_desc> devs;
  size_t n;
  char err[MYDEV_ERRBUF_SIZE];
  auto check = [&](const std::string& answer) {
    int rc = ListFrom(answer, devs, 2, &n, err);
    ASSERT_TRUE(rc == 0 || rc == -1 || rc == MYDEV_LIST_NOT_UNDERSTOOD) << rc;
    ASSERT_LE(n, 2u);
    if (rc != 0) {
      ASSERT_EQ(n, 0u);
    }
    for (size_t i = 0; i < n; ++i) {
      ASSERT_NE(std::memchr(devs[i].name, '\0', sizeof(devs[i].name)), nullptr);
      ASSERT_NE(std::memchr(devs[i].description, '\0', sizeof(devs[i].description)), nullptr);
    }
  };
  for (size_t len = 0; len < valid.size(); ++len) {
    int rc = ListFrom(valid.substr(0, len), devs, 2, &n, err);
    EXPECT_NE(rc, 0) << "a truncated answer (" << len << " bytes) taken as complete";
  }
  uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u, seed >> 8; };
  for (int round = 0; round < 3000; ++round) {
    std::string answer = valid;
    int flips = 1 + next() % 6;
    for (int i = 0; i < flips; ++i) answer[next() % answer.size()] = static_cast<char>(next());
    if (next() % 4 == 0) answer.resize(next() % answer.size());
    check(answer);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace mydev
