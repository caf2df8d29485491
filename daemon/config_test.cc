// config_test.cc — text-format config parsing and validation.
#include "daemon/config.h"

#include <gtest/gtest.h>

namespace mydev::daemon {
namespace {

TEST(ConfigTest, ParsesDevicesAndLimits) {
  absl::StatusOr<mydev::config::Config> c = ParseConfig(R"(
      device { name: "mydev0" synthetic { rate_pps: 20000 seed: 3 } }
      device { name: "mydev12" description: "second" synthetic { count: 5 } }
      limits { max_sessions_per_uid: 2 attach_timeout_ms: 50 default_ring_bytes: 2097152 }
  )", "test.conf");
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
           "limits { default_ring_bytes: 3000000 }",        // not a power of two
           "limits { max_ring_bytes: 65536 }",              // below the ring minimum
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

}  // namespace
}  // namespace mydev::daemon
