// inet_address_test.cc — parsing HOST:PORT, loopback and wildcard, printing.
#include "base/inet_address.h"

#include <gtest/gtest.h>

namespace mydev {
namespace {

TEST(InetAddressTest, ParsesV4AndV6) {
  absl::StatusOr<InetAddress> a = InetAddress::Parse("192.0.2.7:9470");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 9470);
  EXPECT_FALSE(a->loopback());
  EXPECT_FALSE(a->wildcard());
  EXPECT_EQ(a->ToString(), "192.0.2.7:9470");
  EXPECT_EQ(a->addr_len(), sizeof(sockaddr_in));

  absl::StatusOr<InetAddress> b = InetAddress::Parse("[2001:db8::7]:0");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->family(), AF_INET6);
  EXPECT_EQ(b->port(), 0);
  EXPECT_EQ(b->ToString(), "[2001:db8::7]:0");
  EXPECT_EQ(b->HostString(), "2001:db8::7");
}

TEST(InetAddressTest, LoopbackAndWildcard) {
  for (const char* t : {"127.0.0.1:1", "127.1.2.3:1", "[::1]:1", "[::ffff:127.0.0.1]:1"})
    EXPECT_TRUE(InetAddress::Parse(t)->loopback()) << t;
  for (const char* t : {"0.0.0.0:1", "[::]:1", "10.0.0.1:1", "[::ffff:10.0.0.1]:1", "128.0.0.1:1"})
    EXPECT_FALSE(InetAddress::Parse(t)->loopback()) << t;
  EXPECT_TRUE(InetAddress::Parse("0.0.0.0:1")->wildcard());
  EXPECT_TRUE(InetAddress::Parse("[::]:1")->wildcard());
  EXPECT_FALSE(InetAddress::Parse("[::1]:1")->wildcard());
}

TEST(InetAddressTest, RejectsWhatIsNotNumericHostPort) {
  for (const char* t : {"", "9470", ":9470", "localhost:9470", "::1:9470", "[::1]9470",
                        "[::1]:", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:+5",
                        "1.2.3:80", "[1.2.3.4]:80", "[::1:80", "1.2.3.4:0x50", "1.2.3.4:123456"}) {
    absl::StatusOr<InetAddress> a = InetAddress::Parse(t);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << t;
    EXPECT_NE(a.status().message().find("HOST:PORT"), std::string::npos) << a.status();
  }
}

TEST(InetAddressTest, FromSockaddrRoundTrips) {
  absl::StatusOr<InetAddress> a = InetAddress::Parse("[::1]:77");
  InetAddress b = InetAddress::FromSockaddr(a->addr(), a->addr_len());
  EXPECT_EQ(b.ToString(), "[::1]:77");
}

}  // namespace
}  // namespace mydev
