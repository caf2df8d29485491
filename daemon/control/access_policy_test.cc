// access_policy_test.cc — device capture/inject rules (users, groups, names,
// numbers, defaults, root), per-user limits, stats viewers, and config errors
// for names that do not resolve. Uses the accounts every Debian system has:
// root (0), nobody (65534), groups root (0), adm (4), nogroup (65534).
#include "daemon/control/access_policy.h"

#include <gtest/gtest.h>

#include "daemon/control/config.h"

namespace mydev::daemon {
namespace {

Caller Make(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}, std::string name = "") {
  Caller c;
  c.uid = uid;
  c.gid = gid;
  c.groups = std::move(groups);
  c.name = std::move(name);
  return c;
}

AccessPolicy PolicyFrom(const std::string& text) {
  absl::StatusOr<mydev::config::Config> c = ParseConfig(text, "test.conf");
  EXPECT_TRUE(c.ok()) << c.status();
  absl::StatusOr<AccessPolicy> p = BuildAccessPolicy(*c);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

TEST(AccessRulesTest, ResolvesNamesAndNumbers) {
  EXPECT_EQ(*ResolveUser("root"), 0u);
  EXPECT_EQ(*ResolveUser("nobody"), 65534u);
  EXPECT_EQ(*ResolveUser("4242"), 4242u);  // numeric needs no entry
  EXPECT_EQ(*ResolveGroup("adm"), 4u);
  EXPECT_EQ(*ResolveGroup("777"), 777u);
  EXPECT_EQ(ResolveUser("no-such-user-mydev").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveGroup("no-such-group-mydev").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ResolveUser("4294967295").ok());  // (uid_t)-1 is not a user
  EXPECT_FALSE(ResolveUser("99999999999").ok());
  EXPECT_FALSE(ResolveUser("").ok());
}

TEST(AccessRulesTest, LooksUpCallerNameAndGroups) {
  Caller root = LookUpCaller(0, 0);
  EXPECT_EQ(root.name, "root");
  EXPECT_NE(std::find(root.groups.begin(), root.groups.end(), 0u), root.groups.end());
  EXPECT_EQ(DescribeCaller(LookUpCaller(65534, 65534)), "user nobody (uid 65534)");
  Caller ghost = LookUpCaller(54321, 54321);
  EXPECT_TRUE(ghost.name.empty());
  EXPECT_TRUE(ghost.groups.empty());
  EXPECT_EQ(DescribeCaller(ghost), "uid 54321");
}

TEST(AccessRulesTest, DeviceWithoutAccessIsOpenForCaptureClosedForInject) {
  AccessPolicy p = PolicyFrom(R"(device { name: "mydev0" synthetic {} })");
  Caller nobody = Make(65534, 65534, {65534}, "nobody");
  EXPECT_TRUE(p.CheckCapture(nobody, "mydev0").ok());
  absl::Status inject = p.CheckInject(nobody, "mydev0");
  EXPECT_EQ(inject.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(inject.message().find("user nobody (uid 65534) may not inject on mydev0"),
            std::string::npos)
      << inject;
  EXPECT_NE(inject.message().find("no one but root"), std::string::npos) << inject;
  // Root may always.
  EXPECT_TRUE(p.CheckInject(Make(0, 0), "mydev0").ok());
}

TEST(AccessRulesTest, CaptureListedUsersAndGroups) {
  AccessPolicy p = PolicyFrom(R"(
      device { name: "mydev1" synthetic {}
        access { capture { user: "nobody" user: "1234" group: "adm" group: "2000" } } }
  )");
  EXPECT_TRUE(p.CheckCapture(Make(65534, 65534), "mydev1").ok());           // user by name
  EXPECT_TRUE(p.CheckCapture(Make(1234, 1234), "mydev1").ok());             // user by uid
  EXPECT_TRUE(p.CheckCapture(Make(1500, 4), "mydev1").ok());                // primary gid adm
  EXPECT_TRUE(p.CheckCapture(Make(1500, 1500, {1500, 4}), "mydev1").ok());  // supplementary
  EXPECT_TRUE(p.CheckCapture(Make(1500, 1500, {2000}), "mydev1").ok());     // gid by number
  EXPECT_TRUE(p.CheckCapture(Make(0, 0), "mydev1").ok());                   // root, not listed
  absl::Status denied = p.CheckCapture(Make(1500, 1500, {1500, 27}, "eve"), "mydev1");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "user eve (uid 1500) may not capture on mydev1: not in device mydev1's capture "
            "users/groups");
  // Inject is not granted by capture.
  EXPECT_EQ(p.CheckInject(Make(65534, 65534), "mydev1").code(),
            absl::StatusCode::kPermissionDenied);
  // A device the policy does not know (no access block) stays open.
  EXPECT_TRUE(p.CheckCapture(Make(1500, 1500), "mydev9").ok());
}

TEST(AccessRulesTest, AccessWithoutCaptureKeepsCaptureOpenAndEmptyCaptureClosesIt) {
  AccessPolicy p = PolicyFrom(R"(
      device { name: "mydev1" synthetic {} access { inject { group: "nogroup" } } }
      device { name: "mydev2" synthetic {} access { capture {} } }
      device { name: "mydev3" synthetic {} access { capture { everyone: true } inject { everyone: true } } }
  )");
  Caller nobody = Make(65534, 65534, {65534}, "nobody");
  Caller other = Make(1500, 1500);
  EXPECT_TRUE(p.CheckCapture(other, "mydev1").ok());
  EXPECT_TRUE(p.CheckInject(nobody, "mydev1").ok());
  absl::Status inject = p.CheckInject(other, "mydev1");
  EXPECT_EQ(inject.message(),
            "uid 1500 may not inject on mydev1: not in device mydev1's inject users/groups");
  EXPECT_EQ(p.CheckCapture(other, "mydev2").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(p.CheckCapture(Make(0, 0), "mydev2").ok());
  EXPECT_TRUE(p.CheckCapture(other, "mydev3").ok());
  EXPECT_TRUE(p.CheckInject(other, "mydev3").ok());
}

TEST(AccessRulesTest, PerUserLimitsOverrideDefaults) {
  AccessPolicy p = PolicyFrom(R"(
      limits { max_sessions_per_uid: 5 max_ring_bytes_per_uid: 33554432 }
      user_limits { user: "nobody" max_sessions: 1 }
      user_limits { user: "1234" max_ring_bytes_total: 8388608 }
  )");
  EXPECT_EQ(p.LimitsFor(65534).max_sessions, 1u);
  EXPECT_EQ(p.LimitsFor(65534).max_ring_bytes, 32u << 20);  // default kept
  EXPECT_EQ(p.LimitsFor(1234).max_sessions, 5u);
  EXPECT_EQ(p.LimitsFor(1234).max_ring_bytes, 8u << 20);
  EXPECT_EQ(p.LimitsFor(7).max_sessions, 5u);
  // No config at all: the built-in defaults.
  AccessPolicy none = PolicyFrom("");
  EXPECT_EQ(none.LimitsFor(7).max_sessions, Limits{}.max_sessions_per_uid);
  EXPECT_EQ(none.LimitsFor(7).max_ring_bytes, Limits{}.max_ring_bytes_per_uid);
}

TEST(AccessRulesTest, StatsViewers) {
  AccessPolicy closed = PolicyFrom("");
  EXPECT_TRUE(closed.MaySeeOwner(Make(0, 0), 1000));         // root
  EXPECT_TRUE(closed.MaySeeOwner(Make(1000, 1000), 1000));   // own session
  EXPECT_FALSE(closed.MaySeeOwner(Make(1001, 1001), 1000));  // someone else's
  AccessPolicy open = PolicyFrom(R"(stats_viewers { group: "adm" user: "1001" })");
  EXPECT_TRUE(open.MaySeeOwner(Make(1001, 1001), 1000));
  EXPECT_TRUE(open.MaySeeOwner(Make(1002, 1002, {4}), 1000));
  EXPECT_FALSE(open.MaySeeOwner(Make(1003, 1003), 1000));
}

TEST(AccessRulesTest, UnknownNamesAreConfigErrors) {
  struct Case {
    const char* text;
    const char* want;  // in the message
  } cases[] = {
      {R"(device { name: "mydev1" synthetic {} access { capture { user: "no-such-user-mydev" } } })",
       "device mydev1 access.capture: unknown user 'no-such-user-mydev'"},
      {R"(device { name: "mydev1" synthetic {} access { inject { group: "no-such-group-mydev" } } })",
       "device mydev1 access.inject: unknown group 'no-such-group-mydev'"},
      {R"(user_limits { user: "no-such-user-mydev" max_sessions: 1 })",
       "user_limits 0: unknown user 'no-such-user-mydev'"},
      {R"(user_limits { user: "nobody" } user_limits { user: "65534" })", "listed more than once"},
      {R"(stats_viewers { user: "no-such-user-mydev" })", "stats_viewers: unknown user"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<mydev::config::Config> parsed = ParseConfig(c.text, "bad.conf");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("bad.conf: "), std::string::npos) << parsed.status();
    EXPECT_NE(parsed.status().message().find(c.want), std::string::npos) << parsed.status();
  }
}

}  // namespace
}  // namespace mydev::daemon
