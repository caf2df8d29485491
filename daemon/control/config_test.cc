// config_test.cc — text-format config parsing and validation.
#include "daemon/control/config.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mydev::daemon
