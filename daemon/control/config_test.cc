// config_test.cc — text-format config parsing and validation.
#include "daemon/control/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/text_format.h"

namespace mydev::daemon {
namespace {

TEST(ConfigTest, ParsesDevicesAndLimits) {
  absl::StatusOr<mydev::config::Config> c = ParseConfig(R"(
      device { name: "mydev0" synthetic { rate_pps: 20000 seed: 3 } }
      device { name: "mydev12" description: "second" synthetic { count: 5 } }
      limits { max_sessions_per_uid: 2 attach_timeout_ms: 50 default_ring_bytes: 2097152 }
  )",
                                                        "test.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->device_size(), 2);
  EXPECT_EQ(c->device(0).synthetic().rate_pps(), 20000u);
  EXPECT_EQ(c->device(1).name(), "mydev12");
  Limits l = ResolveLimits(c->limits());
  EXPECT_EQ(l.max_sessions_per_uid, 2u);
  EXPECT_EQ(l.attach_timeout, absl::Milliseconds(50));
  EXPECT_EQ(l.default_ring_bytes, 2u << 20);
  EXPECT_EQ(l.max_ring_bytes, 256u << 20);  // default kept
  EXPECT_EQ(l.max_bpf_insns, 4096u);
}

TEST(ConfigTest, SyntaxErrorNamesFileAndLine) {
  absl::StatusOr<mydev::config::Config> c =
      ParseConfig("device {\n  name: \"mydev0\"\n  synthetic { rate: 1 }\n}\n", "my.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("my.conf:3:"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("rate"), std::string::npos) << c.status();
}

TEST(ConfigTest, RejectsBadAndDuplicateNames) {
  for (const char* text : {
           R"(device { name: "eth0" synthetic {} })",
           R"(device { name: "mydev" synthetic {} })",
           R"(device { name: "mydev01" synthetic {} })",
           R"(device { name: "mydev1x" synthetic {} })",
           R"(device { name: "mydev1" synthetic {} } device { name: "mydev1" synthetic {} })",
           R"(device { name: "mydev1" })",
       }) {
    absl::StatusOr<mydev::config::Config> c = ParseConfig(text, "x");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ConfigTest, RejectsBadLimits) {
  for (const char* text : {
           "limits { default_ring_bytes: 3000000 }",  // not a power of two
           "limits { max_ring_bytes: 65536 }",        // below the ring minimum
           "limits { default_ring_bytes: 8388608 max_ring_bytes: 4194304 }",
           "limits { max_bpf_insns: 70000 }",
       }) {
    EXPECT_EQ(ParseConfig(text, "x").status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ConfigTest, DefaultIsOneSyntheticDevice) {
  mydev::config::Config c = DefaultConfig();
  ASSERT_TRUE(ValidateConfig(c).ok());
  ASSERT_EQ(c.device_size(), 1);
  EXPECT_EQ(c.device(0).name(), "mydev0");
  EXPECT_TRUE(c.device(0).has_synthetic());
  EXPECT_FALSE(c.device(0).description().empty());
}

TEST(ConfigTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadConfigFile("/nonexistent/mydevd.conf").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ConfigTest, DeviceNames) {
  EXPECT_TRUE(IsValidDeviceName("mydev0"));
  EXPECT_TRUE(IsValidDeviceName("mydev42"));
  EXPECT_FALSE(IsValidDeviceName("mydev"));
  EXPECT_FALSE(IsValidDeviceName("mydev-1"));
  EXPECT_FALSE(IsValidDeviceName("MYDEV0"));
}

TEST(ConfigTest, ParsesReplayAndAccess) {
  absl::StatusOr<mydev::config::Config> c = ParseConfig(R"(
      device { name: "mydev2" replay { path: "/x.pcap" speed: 1.0 loop: false } }
      device { name: "mydev3" replay { path: "/y.pcapng" }
               access { capture { user: "nobody" group: "adm" } inject { user: "0" } } }
      limits { max_ring_bytes_per_uid: 67108864 }
      user_limits { user: "nobody" max_sessions: 3 }
      stats_viewers { group: "adm" }
  )",
                                                        "test.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->device(0).replay().has_speed());
  EXPECT_FALSE(c->device(1).replay().has_speed());  // the factory reads this as 1.0
  EXPECT_EQ(ResolveLimits(c->limits()).max_ring_bytes_per_uid, 64u << 20);
  EXPECT_EQ(ResolveLimits({}).max_ring_bytes_per_uid, 1u << 30);
  absl::StatusOr<AccessPolicy> p = BuildAccessPolicy(*c);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->LimitsFor(65534).max_sessions, 3u);
  EXPECT_EQ(p->LimitsFor(65534).max_ring_bytes, 64u << 20);
}

TEST(ConfigTest, RejectsBadReplay) {
  for (const char* text : {
           R"(device { name: "mydev2" replay { } })",  // no path
           R"(device { name: "mydev2" replay { path: "/x" speed: -1 } })",
           R"(device { name: "mydev2" replay { path: "/x" speed: 0.0001 } })",
           R"(device { name: "mydev2" replay { path: "/x" speed: 1e9 } })",
           R"(device { name: "mydev2" replay { path: "/x" speed: nan } })",
       }) {
    absl::StatusOr<mydev::config::Config> c = ParseConfig(text, "x");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find("mydev2"), std::string::npos) << c.status();
  }
  EXPECT_TRUE(ParseConfig(R"(device { name: "mydev2" replay { path: "/x" speed: 0 } })", "x").ok());
}

TEST(ConfigTest, UnknownUserIsAClearConfigError) {
  absl::StatusOr<mydev::config::Config> c = ParseConfig(
      R"(device { name: "mydev1" synthetic {} access { capture { user: "no-such-user-mydev" } } })",
      "site.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "site.conf: device mydev1 access.capture: unknown user 'no-such-user-mydev' (not in "
            "the user database; give a uid number instead)");
}

// deploy/mydevd.example.conf is documentation that must stay valid.
TEST(ConfigTest, ExampleConfigParses) {
  absl::StatusOr<mydev::config::Config> c = LoadConfigFile("deploy/mydevd.example.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->device_size(), 4);
  EXPECT_TRUE(c->device(0).has_synthetic());
  EXPECT_TRUE(c->device(1).has_replay());
  EXPECT_EQ(c->device(3).afpacket().interface(), "eth0");
  EXPECT_TRUE(c->device(1).access().has_capture());
  EXPECT_FALSE(c->device(1).access().has_inject());
  EXPECT_EQ(c->user_limits_size(), 2);
  EXPECT_TRUE(c->has_stats_viewers());
  absl::StatusOr<AccessPolicy> p = BuildAccessPolicy(*c);
  ASSERT_TRUE(p.ok()) << p.status();
  Caller nobody = LookUpCaller(65534, 65534);
  EXPECT_EQ(p->CheckCapture(nobody, "mydev1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(p->CheckCapture(nobody, "mydev0").ok());
  EXPECT_TRUE(p->CheckInject(nobody, "mydev2").ok());
  EXPECT_EQ(p->LimitsFor(65534).max_sessions, 2u);
}

// The example's stats_listener block is commented out (its files do not
// exist here): uncommented, it must still be valid text format with the
// fields spelled right.
TEST(ConfigTest, ExampleStatsListenerBlockParses) {
  std::ifstream in("deploy/mydevd.example.conf");
  std::string line, block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "# stats_listener {")) inside = true;
    if (!inside) continue;
    block += line.substr(line.size() >= 2 ? 2 : line.size()) + "\n";
    if (line == "# }") break;
  }
  ASSERT_FALSE(block.empty());
  mydev::config::Config c;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(block, &c)) << block;
  EXPECT_EQ(c.stats_listener().address(), "[::]:9470");
  EXPECT_FALSE(c.stats_listener().tls().client_ca_file().empty());
  EXPECT_EQ(c.stats_listener().max_connections_per_address(), 32u);
  EXPECT_EQ(c.stats_listener().health_address(), ":9471");
}

// ---------------------------------------------------------------- stats_listener

// PEM-looking files and a tokens file in TEST_TMPDIR; ParseConfig text with
// $CERT, $KEY, $CA, $TOKENS, $BAD replaced by their paths.
class StatsListenerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/stats_listener." + std::to_string(getpid());
    mkdir(dir_.c_str(), 0700);
    Write("server.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    Write("server.key", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
    Write("ca.crt", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n");
    Write("tokens", "0123456789abcdef0123456789abcdef sessions grafana\n");
    Write("bad-tokens", "# fine\n0123456789abcdef0123456789abcdef everything grafana\n");
    Write("not-pem", "hello\n");
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  absl::StatusOr<mydev::config::Config> Parse(const std::string& text) {
    return ParseConfig(absl::StrReplaceAll(text, {{"$CERT", dir_ + "/server.crt"},
                                                  {"$KEY", dir_ + "/server.key"},
                                                  {"$CA", dir_ + "/ca.crt"},
                                                  {"$TOKENS", dir_ + "/tokens"},
                                                  {"$BADTOKENS", dir_ + "/bad-tokens"},
                                                  {"$NOTPEM", dir_ + "/not-pem"}}),
                       "site.conf");
  }
  // The config is refused with a message that contains `says`.
  void ExpectRefused(const std::string& text, const std::string& says) {
    absl::StatusOr<mydev::config::Config> c = Parse(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(says), std::string::npos)
        << "got: " << c.status().message() << "\nwanted: " << says;
  }
  std::string dir_;
};

TEST_F(StatsListenerConfigTest, TlsWithCertificatesAndTokens) {
  absl::StatusOr<mydev::config::Config> c = Parse(R"(
      stats_listener {
        address: "[::]:9470"
        tls { cert_file: "$CERT" key_file: "$KEY" client_ca_file: "$CA" }
        tokens_file: "$TOKENS"
        client_cert_scope: "devices"
        max_watchers: 8
        health_address: ":9471"
        reload_interval_s: 2
      })");
  ASSERT_TRUE(c.ok()) << c.status();
  StatsListenerSettings s = ResolveStatsListener(c->stats_listener());
  EXPECT_EQ(s.address.ToString(), "[::]:9470");
  EXPECT_FALSE(s.plaintext);
  EXPECT_EQ(s.client_ca_file, dir_ + "/ca.crt");
  EXPECT_EQ(s.client_cert_scope, mydev::v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(s.max_watchers, 8u);
  EXPECT_EQ(s.max_watchers_per_client, 4u);  // defaults
  EXPECT_EQ(s.max_connections, 256u);
  EXPECT_EQ(s.max_connections_per_address, 32u);
  ASSERT_TRUE(s.health_address.has_value());
  EXPECT_EQ(s.health_address->ToString(), "127.0.0.1:9471");  // ":PORT" is loopback
  EXPECT_EQ(s.reload_interval, absl::Seconds(2));
}

TEST_F(StatsListenerConfigTest, PlaintextOnLoopbackWithTokens) {
  for (const char* address : {"127.0.0.1:9470", "[::1]:9470"}) {
    absl::StatusOr<mydev::config::Config> c =
        Parse(absl::StrCat(R"(stats_listener { address: ")", address,
                           R"(" plaintext: true tokens_file: "$TOKENS" })"));
    ASSERT_TRUE(c.ok()) << c.status();
    StatsListenerSettings s = ResolveStatsListener(c->stats_listener());
    EXPECT_TRUE(s.plaintext);
    EXPECT_EQ(s.client_cert_scope, mydev::v1::STATS_SCOPE_SESSIONS);
    EXPECT_EQ(s.reload_interval, absl::Seconds(10));
    EXPECT_FALSE(s.health_address.has_value());
  }
}

TEST_F(StatsListenerConfigTest, PlaintextOffLoopbackNamesTheLineAndTheFix) {
  absl::StatusOr<mydev::config::Config> c = Parse(
      "device { name: \"mydev0\" synthetic {} }\n"
      "stats_listener {\n"
      "  tokens_file: \"$TOKENS\"\n"
      "  address: \"0.0.0.0:9470\"\n"
      "  plaintext: true\n"
      "}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "site.conf:4:3: stats_listener.address '0.0.0.0:9470': plaintext is allowed only on "
            "a loopback address (127.0.0.1, [::1]): remove `plaintext: true` and add tls { "
            "cert_file: \"server.crt\" key_file: \"server.key\" }, or listen on 127.0.0.1 or "
            "[::1]");
}

TEST_F(StatsListenerConfigTest, RefusalsNameTheFieldAndTheFix) {
  ExpectRefused(R"(stats_listener { tokens_file: "$TOKENS" })",
                "site.conf:1:1: stats_listener.address is empty: set HOST:PORT");
  ExpectRefused(R"(stats_listener { address: "localhost:9470" plaintext: true })",
                "stats_listener.address 'localhost:9470' has no numeric IPv4 host");
  ExpectRefused(R"(stats_listener { address: "[::]:9470" tokens_file: "$TOKENS" })",
                "site.conf:1:1: stats_listener.tls: TLS is required on [::]:9470: add tls { "
                "cert_file");
  // Loopback too: TLS unless plaintext is asked for.
  ExpectRefused(R"(stats_listener { address: "127.0.0.1:9470" tokens_file: "$TOKENS" })",
                "stats_listener.tls: TLS is required on 127.0.0.1:9470");
  ExpectRefused(R"(stats_listener { address: "127.0.0.1:1" plaintext: true
                                   tls { cert_file: "$CERT" key_file: "$KEY" }
                                   tokens_file: "$TOKENS" })",
                "stats_listener.plaintext: `plaintext: true` and a tls { } block contradict");
  ExpectRefused(
      R"(stats_listener { address: "[::]:9470" tls { cert_file: "$CERT" key_file: "$KEY" } })",
      "stats_listener: no way to authenticate callers: set tls.client_ca_file");
  ExpectRefused(
      R"(stats_listener { address: "[::]:1" tls { cert_file: "$CERT" key_file: "/nonexistent/k" }
                                   tokens_file: "$TOKENS" })",
      "stats_listener.tls.key_file '/nonexistent/k': cannot read it (No "
      "such file or directory): check the path, and that the user mydevd runs as may "
      "read it");
  ExpectRefused(R"(stats_listener { address: "[::]:1" tls { cert_file: "$NOTPEM" key_file: "$KEY" }
                                   tokens_file: "$TOKENS" })",
                "stats_listener.tls.cert_file '" + dir_ +
                    "/not-pem' is not a PEM certificate (it has no '-----BEGIN CERTIFICATE-----' "
                    "line)");
  ExpectRefused(R"(stats_listener { address: "[::]:1" tls { cert_file: "$CERT" key_file: "$CERT" }
                                   tokens_file: "$TOKENS" })",
                "stats_listener.tls.key_file '" + dir_ + "/server.crt' is not a PEM private key");
  ExpectRefused(R"(stats_listener { address: "[::]:1"
                                   tls { cert_file: "$CERT" key_file: "$KEY" client_ca_file: "$NOTPEM" } })",
                "stats_listener.tls.client_ca_file '" + dir_ + "/not-pem' is not a PEM CA");
  ExpectRefused(
      R"(stats_listener { address: "127.0.0.1:1" plaintext: true tokens_file: "$BADTOKENS" })",
      "stats_listener.tokens_file: " + dir_ +
          "/bad-tokens:2: the second field (SCOPE) must be `devices` or `sessions`");
  ExpectRefused(
      R"(stats_listener { address: "[::]:1" tls { cert_file: "/dev/zero" key_file: "$KEY" }
                                   tokens_file: "$TOKENS" })",
      "stats_listener.tls.cert_file '/dev/zero' is not a regular file: give a PEM file");
  ExpectRefused(
      R"(stats_listener { address: "127.0.0.1:1" plaintext: true tokens_file: "/nonexistent/t" })",
      "stats_listener.tokens_file: cannot read the tokens file /nonexistent/t");
  ExpectRefused(R"(stats_listener { address: "127.0.0.1:1" plaintext: true tokens_file: "$TOKENS"
                                   client_cert_scope: "sessions" })",
                "stats_listener.client_cert_scope is set, but no client certificate is accepted");
  ExpectRefused(
      R"(stats_listener { address: "[::]:1" tls { cert_file: "$CERT" key_file: "$KEY" client_ca_file: "$CA" }
                                   client_cert_scope: "all" })",
      "stats_listener.client_cert_scope 'all' must be `devices` or `sessions`");
  ExpectRefused(R"(stats_listener { address: "127.0.0.1:9470" plaintext: true tokens_file: "$TOKENS"
                                   health_address: ":9470" })",
                "stats_listener.health_address ':9470' uses the port of stats_listener.address");
  ExpectRefused(R"(stats_listener { address: "127.0.0.1:9470" plaintext: true tokens_file: "$TOKENS"
                                   health_address: "health:1" })",
                "stats_listener.health_address 'health:1' has no numeric IPv4 host");
  ExpectRefused(R"(stats_listener { address: "127.0.0.1:9470" plaintext: true tokens_file: "$TOKENS"
                                   max_watchers: 5000 })",
                "stats_listener.max_watchers 5000: at most 1024");
}

}  // namespace
}  // namespace mydev::daemon
