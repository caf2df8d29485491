// stats_service_test.cc — what each Stats caller is shown (ScopeSnapshot:
// local owner hiding incl. comm/cmdline, the devices and sessions scopes) and
// how the remote listener decides who calls (RemoteStatsAuthenticator::Check).
#include "daemon/rpc/stats_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "daemon/control/access_policy.h"
#include "daemon/control/stats_tokens_file.h"
#include "daemon/rpc/remote_stats_authenticator.h"

namespace mydev::daemon {
namespace {

namespace v1 = mydev::v1;

constexpr uint32_t kOwner = 4001, kViewer = 4002, kStranger = 4003;

v1::StatsSnapshot FullSnapshot() {
  v1::StatsSnapshot snap;
  snap.add_devices()->set_name("mydev0");
  v1::SessionStats* s = snap.add_sessions();
  s->set_session_id(7);
  s->set_device("mydev0");
  s->set_uid(kOwner);
  s->set_pid(1234);
  s->set_comm("tcpdump");
  s->set_cmdline("tcpdump -i mydev0 -w secret-case-42.pcap");
  s->set_packets_received(99);
  return snap;
}

StatsCaller LocalCaller(std::optional<uint32_t> uid) {
  StatsCaller c;
  c.scope = v1::STATS_SCOPE_LOCAL;
  if (uid) c.local = Caller{*uid, *uid, {}, ""};
  return c;
}

AccessPolicy PolicyWithViewer() {
  mydev::config::Config config;
  config.mutable_stats_viewers()->add_user(std::to_string(kViewer));
  absl::StatusOr<AccessPolicy> p = AccessPolicy::FromConfig(config, 64, 1ull << 30);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

TEST(ScopeSnapshotTest, LocalShowsOwnersOnlyToWhoMaySee) {
  const AccessPolicy policy = PolicyWithViewer();
  for (uint32_t uid : {0u, kOwner, kViewer}) {
    v1::StatsSnapshot snap = FullSnapshot();
    ScopeSnapshot(LocalCaller(uid), policy, &snap);
    EXPECT_EQ(snap.scope(), v1::STATS_SCOPE_LOCAL);
    ASSERT_EQ(snap.sessions_size(), 1);
    EXPECT_EQ(snap.sessions(0).uid(), kOwner) << uid;
    EXPECT_EQ(snap.sessions(0).pid(), 1234u);
    EXPECT_EQ(snap.sessions(0).comm(), "tcpdump");
    EXPECT_FALSE(snap.sessions(0).cmdline().empty());
  }
  for (std::optional<uint32_t> uid :
       {std::optional<uint32_t>(kStranger), std::optional<uint32_t>()}) {
    v1::StatsSnapshot snap = FullSnapshot();
    ScopeSnapshot(LocalCaller(uid), policy, &snap);
    ASSERT_EQ(snap.sessions_size(), 1);
    const v1::SessionStats& s = snap.sessions(0);
    EXPECT_EQ(s.uid(), kHiddenUid);
    EXPECT_EQ(s.pid(), 0u);
    EXPECT_EQ(s.comm(), "");
    EXPECT_EQ(s.cmdline(), "");
    EXPECT_EQ(s.packets_received(), 99u);  // counters stay
    EXPECT_EQ(s.session_id(), 7u);
  }
}

TEST(ScopeSnapshotTest, DevicesScopeHasNoSessionRows) {
  StatsCaller c;
  c.scope = v1::STATS_SCOPE_DEVICES;
  v1::StatsSnapshot snap = FullSnapshot();
  ScopeSnapshot(c, PolicyWithViewer(), &snap);
  EXPECT_EQ(snap.scope(), v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(snap.sessions_size(), 0);
  EXPECT_EQ(snap.devices_size(), 1);
}

TEST(ScopeSnapshotTest, SessionsScopeShowsEverything) {
  StatsCaller c;
  c.scope = v1::STATS_SCOPE_SESSIONS;
  v1::StatsSnapshot snap = FullSnapshot();
  ScopeSnapshot(c, PolicyWithViewer(), &snap);
  EXPECT_EQ(snap.scope(), v1::STATS_SCOPE_SESSIONS);
  ASSERT_EQ(snap.sessions_size(), 1);
  EXPECT_EQ(snap.sessions(0).uid(), kOwner);
  EXPECT_EQ(snap.sessions(0).cmdline(), "tcpdump -i mydev0 -w secret-case-42.pcap");
}

TEST(ScopeSnapshotTest, UnspecifiedScopeIsTreatedAsDevices) {
  StatsCaller c;
  c.scope = v1::STATS_SCOPE_UNSPECIFIED;
  v1::StatsSnapshot snap = FullSnapshot();
  ScopeSnapshot(c, PolicyWithViewer(), &snap);
  EXPECT_EQ(snap.scope(), v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(snap.sessions_size(), 0);
}

TEST(HostNameTest, IsTheMachines) {
  char name[256] = {};
  ASSERT_EQ(gethostname(name, sizeof name - 1), 0);
  EXPECT_EQ(HostName(), name);
}

constexpr char kGood[] = "0123456789abcdef0123456789abcdef";
constexpr char kViewOnly[] = "fedcba9876543210fedcba9876543210";

class RemoteAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    path_ = std::string(tmp ? tmp : "/tmp") + "/stats-tokens." + std::to_string(getpid());
    std::ofstream(path_) << kGood << " sessions grafana\n" << kViewOnly << " devices wall\n";
    absl::StatusOr<std::unique_ptr<StatsTokensFile>> f = StatsTokensFile::Open(path_);
    ASSERT_TRUE(f.ok()) << f.status();
    tokens_ = std::move(*f);
  }
  void TearDown() override { unlink(path_.c_str()); }

  static void ExpectRefused(const absl::StatusOr<StatsCaller>& c, absl::string_view says) {
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_NE(c.status().message().find(says), std::string::npos) << c.status();
    EXPECT_EQ(c.status().message().find("0123456789abcdef"), std::string::npos) << c.status();
  }

  std::string path_;
  std::unique_ptr<StatsTokensFile> tokens_;
};

TEST_F(RemoteAuthTest, TokensGiveTheirScopeAndName) {
  RemoteStatsAuthenticator auth(tokens_.get(), true, v1::STATS_SCOPE_SESSIONS);
  absl::StatusOr<StatsCaller> c = auth.Check({{std::string("Bearer ") + kGood}, std::nullopt});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scope, v1::STATS_SCOPE_SESSIONS);
  EXPECT_EQ(c->client, "token grafana");
  EXPECT_FALSE(c->exempt_from_client_cap);
  c = auth.Check({{std::string("bearer  ") + kViewOnly}, std::nullopt});  // scheme: any case
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scope, v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(c->client, "token wall");
  EXPECT_EQ(auth.refused(), 0u);
}

TEST_F(RemoteAuthTest, CertificateGetsTheCertScope) {
  RemoteStatsAuthenticator auth(tokens_.get(), true, v1::STATS_SCOPE_DEVICES);
  absl::StatusOr<StatsCaller> c = auth.Check({{}, std::string("CN=dash,O=ops")});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scope, v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(c->client, "cert CN=dash,O=ops");
  // A token, when sent, decides (here a broader scope than the cert's).
  c = auth.Check({{std::string("Bearer ") + kGood}, std::string("CN=dash,O=ops")});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->client, "token grafana");
}

TEST_F(RemoteAuthTest, RefusesMissingWrongAndUnknownCredentials) {
  RemoteStatsAuthenticator auth(tokens_.get(), true, v1::STATS_SCOPE_SESSIONS);
  ExpectRefused(auth.Check({}), "no credentials: present a client certificate signed by");
  ExpectRefused(auth.Check({}), "or `authorization: Bearer TOKEN`");
  ExpectRefused(auth.Check({{"Bearer 0123456789abcdef0123456789abcdeX"}, std::nullopt}),
                "unknown bearer token");
  ExpectRefused(auth.Check({{"Bearer "}, std::nullopt}), "unknown bearer token");
  ExpectRefused(auth.Check({{std::string("Basic ") + kGood}, std::nullopt}), "not `Bearer TOKEN`");
  ExpectRefused(auth.Check({{kGood}, std::nullopt}), "not `Bearer TOKEN`");
  ExpectRefused(
      auth.Check({{std::string("Bearer ") + kGood, std::string("Bearer ") + kGood}, std::nullopt}),
      "more than one authorization header");
  // A bad token is refused even with a good certificate.
  ExpectRefused(auth.Check({{"Bearer nope-nope-nope-nope"}, std::string("CN=dash")}),
                "unknown bearer token");
  EXPECT_EQ(auth.refused(), 8u);
}

TEST_F(RemoteAuthTest, WithoutTokensFileTokensAreRefused) {
  RemoteStatsAuthenticator certs_only(nullptr, true, v1::STATS_SCOPE_SESSIONS);
  ExpectRefused(certs_only.Check({{std::string("Bearer ") + kGood}, std::nullopt}),
                "takes no bearer tokens");
  ExpectRefused(certs_only.Check({}), "present a client certificate");
  RemoteStatsAuthenticator tokens_only(tokens_.get(), false, v1::STATS_SCOPE_SESSIONS);
  ExpectRefused(tokens_only.Check({}), "present `authorization: Bearer TOKEN` metadata");
}

TEST_F(RemoteAuthTest, SeesTokensFileChanges) {
  RemoteStatsAuthenticator auth(tokens_.get(), false, v1::STATS_SCOPE_SESSIONS);
  ASSERT_TRUE(auth.Check({{std::string("Bearer ") + kGood}, std::nullopt}).ok());
  std::ofstream(path_ + ".new") << kViewOnly << " sessions wall2\n";
  ASSERT_EQ(rename((path_ + ".new").c_str(), path_.c_str()), 0);
  ASSERT_TRUE(*tokens_->Reload());
  ExpectRefused(auth.Check({{std::string("Bearer ") + kGood}, std::nullopt}),
                "unknown bearer token");
  absl::StatusOr<StatsCaller> c = auth.Check({{std::string("Bearer ") + kViewOnly}, std::nullopt});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->scope, v1::STATS_SCOPE_SESSIONS);
  EXPECT_EQ(c->client, "token wall2");
}

}  // namespace
}  // namespace mydev::daemon
