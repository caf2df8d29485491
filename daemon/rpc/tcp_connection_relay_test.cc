// tcp_connection_relay_test.cc — the TCP front of the remote Stats listener
// over real loopback TCP and a Unix socket: bytes both ways, half-close
// passed on, the caps (in all, per address) resetting at accept, a backend
// hang-up closing the client, Stop() closing everything.
#include "daemon/rpc/tcp_connection_relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "base/unix_socket.h"

namespace mydev::daemon {
namespace {

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/mydev_relay_test.XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    backend_path_ = dir_ + "/backend.sock";
    absl::StatusOr<UniqueFd> l = ListenUnix(backend_path_, 0600);
    ASSERT_TRUE(l.ok()) << l.status();
    backend_listen_ = std::move(*l);
  }
  void TearDown() override {
    if (relay_) relay_->Stop();
    backend_listen_.reset();
    unlink(backend_path_.c_str());
    rmdir(dir_.c_str());
  }

  void StartRelay(const RelayLimits& limits, const char* address = "127.0.0.1:0") {
    absl::StatusOr<std::unique_ptr<TcpConnectionRelay>> r =
        TcpConnectionRelay::Listen(*InetAddress::Parse(address), "test");
    ASSERT_TRUE(r.ok()) << r.status();
    relay_ = std::move(*r);
    ASSERT_NE(relay_->address().port(), 0);
    ASSERT_TRUE(relay_->Start(backend_path_, limits).ok());
  }

  // A TCP client of the relay, from `from` (a 127.x address).
  UniqueFd Connect(const char* from = "127.0.0.1") {
    UniqueFd fd(socket(relay_->address().family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, from, &src.sin_addr);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
    EXPECT_EQ(connect(fd.get(), relay_->address().addr(), relay_->address().addr_len()), 0)
        << strerror(errno);
    return fd;
  }

  // The backend's side of the next relayed connection.
  UniqueFd AcceptBackend() {
    pollfd p{backend_listen_.get(), POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return UniqueFd();
    return UniqueFd(accept4(backend_listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }

  // Reads exactly n bytes (or until EOF/error/5 s); returns what came.
  static std::string ReadN(int fd, size_t n) {
    std::string out;
    char buf[65536];
    while (out.size() < n) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) != 1) break;
      ssize_t got = read(fd, buf, std::min(sizeof buf, n - out.size()));
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }

  // 0 on EOF, -1 on reset/error, 1 if data came, 2 on timeout.
  static int ReadState(int fd, int timeout_ms = 5000) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return 2;
    char c;
    ssize_t got = read(fd, &c, 1);
    return got > 0 ? 1 : got == 0 ? 0 : -1;
  }

  static bool WaitFor(const std::function<bool()>& predicate) {
    for (int i = 0; i < 500; ++i) {
      if (predicate()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string dir_, backend_path_;
  UniqueFd backend_listen_;
  std::unique_ptr<TcpConnectionRelay> relay_;
};

TEST_F(RelayTest, RelaysBytesBothWaysAndHalfCloses) {
  StartRelay({});
  UniqueFd client = Connect();
  UniqueFd backend = AcceptBackend();
  ASSERT_TRUE(backend.valid());
  // More than the relay's buffers, both ways at once.
  std::string up(1 << 20, 'u'), down(1 << 20, 'd');
  for (size_t i = 0; i < up.size(); i += 4096) up[i] = static_cast<char>(i >> 12);
  std::thread writer([&] {
    ASSERT_EQ(write(client.get(), up.data(), up.size()), static_cast<ssize_t>(up.size()));
    shutdown(client.get(), SHUT_WR);
  });
  std::thread writer2([&] {
    ASSERT_EQ(write(backend.get(), down.data(), down.size()), static_cast<ssize_t>(down.size()));
  });
  EXPECT_EQ(ReadN(backend.get(), up.size()), up);
  EXPECT_EQ(ReadState(backend.get()), 0);  // the client's half-close came through
  EXPECT_EQ(ReadN(client.get(), down.size()), down);
  writer.join();
  writer2.join();
  EXPECT_EQ(relay_->open_connections(), 1u);
  backend.reset();  // the backend (gRPC) closes: so does the client's side
  EXPECT_EQ(ReadState(client.get()), 0);
  EXPECT_TRUE(WaitFor([&] { return relay_->open_connections() == 0; }));
  EXPECT_EQ(relay_->accepted_connections(), 1u);
}

TEST_F(RelayTest, ClientResetClosesTheBackend) {
  StartRelay({});
  UniqueFd client = Connect();
  UniqueFd backend = AcceptBackend();
  linger l{1, 0};
  setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  client.reset();
  EXPECT_EQ(ReadState(backend.get()), 0);
  EXPECT_TRUE(WaitFor([&] { return relay_->open_connections() == 0; }));
}

TEST_F(RelayTest, CapsInAllAndPerAddress) {
  RelayLimits limits;
  limits.max_connections = 3;
  limits.max_per_address = 2;
  StartRelay(limits);
  UniqueFd a1 = Connect("127.0.0.1"), a2 = Connect("127.0.0.1");
  UniqueFd b1 = AcceptBackend(), b2 = AcceptBackend();
  ASSERT_TRUE(WaitFor([&] { return relay_->open_connections() == 2; }));
  UniqueFd a3 = Connect("127.0.0.1");  // third from one address: reset
  EXPECT_EQ(ReadState(a3.get()), -1);
  UniqueFd c1 = Connect("127.0.0.2");  // another address: in
  UniqueFd b3 = AcceptBackend();
  ASSERT_TRUE(b3.valid());
  ASSERT_TRUE(WaitFor([&] { return relay_->open_connections() == 3; }));
  UniqueFd c2 = Connect("127.0.0.3");  // over the total: reset
  EXPECT_EQ(ReadState(c2.get()), -1);
  EXPECT_EQ(relay_->refused_connections(), 2u);
  // Room again once one closes.
  a1.reset();
  EXPECT_EQ(ReadState(b1.get()), 0);  // the client's FIN, passed on
  b1.reset();                         // and the backend closes too
  ASSERT_TRUE(WaitFor([&] { return relay_->open_connections() == 2; }));
  UniqueFd a4 = Connect("127.0.0.1");
  UniqueFd b4 = AcceptBackend();
  ASSERT_TRUE(b4.valid());
  ASSERT_EQ(write(a4.get(), "x", 1), 1);
  EXPECT_EQ(ReadN(b4.get(), 1), "x");
}

TEST_F(RelayTest, NoBackendResetsTheClient) {
  StartRelay({});
  backend_listen_.reset();
  unlink(backend_path_.c_str());
  UniqueFd client = Connect();
  EXPECT_EQ(ReadState(client.get()), -1);
  EXPECT_EQ(relay_->refused_connections(), 1u);
}

TEST_F(RelayTest, StopClosesEverything) {
  StartRelay({});
  UniqueFd client = Connect();
  UniqueFd backend = AcceptBackend();
  ASSERT_TRUE(WaitFor([&] { return relay_->open_connections() == 1; }));
  relay_->Stop();
  EXPECT_EQ(ReadState(client.get()), 0);
  EXPECT_EQ(ReadState(backend.get()), 0);
  EXPECT_EQ(relay_->open_connections(), 0u);
}

TEST_F(RelayTest, AddressInUseIsAnError) {
  StartRelay({});
  absl::StatusOr<std::unique_ptr<TcpConnectionRelay>> again =
      TcpConnectionRelay::Listen(relay_->address(), "again");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos)
      << again.status();
}

}  // namespace
}  // namespace mydev::daemon
