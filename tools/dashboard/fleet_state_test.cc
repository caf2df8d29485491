// fleet_state_test.cc — FleetState fed by hand (as its StatsWatchers would):
// rates from two snapshots, a counter reset, down and up again, the history
// bound, the JSON's fields, WaitForChange's timeout, and TargetWatchers
// marking an unreachable target down.
#include "tools/dashboard/fleet_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace mydev::dashboard {
namespace {

constexpr int64_t kT0 = 1700000000000000000;  // ns
constexpr int64_t kSecond = 1000000000;

// A snapshot at t0 + seconds: device mydev0 with packets/bytes/ifdrops and
// one session (id 7) with packets/drops.
mydev::v1::StatsSnapshot Snap(double seconds, uint64_t packets, uint64_t bytes, uint64_t ifdrops,
                              uint64_t session_packets, uint64_t session_drops) {
  mydev::v1::StatsSnapshot s;
  s.set_time_ns(kT0 + static_cast<int64_t>(seconds * kSecond));
  s.set_host("h1");
  s.set_scope(mydev::v1::STATS_SCOPE_LOCAL);
  mydev::v1::DeviceStats* d = s.add_devices();
  d->set_name("mydev0");
  d->set_backend("synthetic");
  d->set_state(mydev::v1::DEVICE_STATE_UP);
  d->set_packets_seen(packets);
  d->set_bytes_seen(bytes);
  d->set_packets_ifdropped(ifdrops);
  d->set_sessions(1);
  mydev::v1::SessionStats* x = s.add_sessions();
  x->set_session_id(7);
  x->set_device("mydev0");
  x->set_uid(1234);
  x->set_comm("tcpdump");
  x->set_packets_received(session_packets);
  x->set_bytes_received(session_packets * 100);
  x->set_packets_dropped(session_drops);
  x->set_ring_bytes(4096);
  x->set_ring_fill_bytes(1024);
  x->set_opened_time_ns(kT0 - kSecond);
  return s;
}

// A local target named name.
TargetConfig Local(const std::string& name) {
  TargetConfig t;
  t.name = name;
  t.target = stats_client::TargetFromAddress("unix:/run/" + name + ".sock");
  return t;
}

// Options with fake user names and captured log lines.
FleetOptions Options(std::vector<std::string>* log) {
  FleetOptions o;
  o.user_name = [](uint32_t uid) { return uid == 1234 ? std::string("alice") : std::string(); };
  o.log = [log](const std::string& line) { log->push_back(line); };
  return o;
}

TEST(FleetStateTest, RatesFromTwoSnapshots) {
  std::vector<std::string> log;
  FleetState fleet(Options(&log));
  const size_t a = fleet.AddTarget(Local("a"));
  fleet.OnSnapshot(a, Snap(0, 1000, 100000, 10, 500, 5));
  fleet.OnSnapshot(a, Snap(2, 3000, 300000, 14, 1500, 11));
  mydev::dashboard::v1::DashboardState s = fleet.State(true, absl::Now());
  ASSERT_EQ(s.targets_size(), 1);
  const auto& t = s.targets(0);
  EXPECT_TRUE(t.up());
  EXPECT_EQ(t.host(), "h1");
  EXPECT_EQ(t.scope(), "local");
  ASSERT_EQ(t.devices_size(), 1);
  const auto& d = t.devices(0);
  EXPECT_DOUBLE_EQ(d.packets_per_second(), 1000);
  EXPECT_DOUBLE_EQ(d.bits_per_second(), 800000);
  EXPECT_DOUBLE_EQ(d.drops_per_second(), 5) << "(4 ifdrops + 6 session drops) / 2 s";
  EXPECT_EQ(d.packets_total(), 3000u);
  EXPECT_EQ(d.state(), "up");
  ASSERT_EQ(d.history_size(), 1);
  EXPECT_EQ(d.history(0).time_ns(), kT0 + 2 * kSecond);
  ASSERT_EQ(t.sessions_size(), 1);
  const auto& x = t.sessions(0);
  EXPECT_DOUBLE_EQ(x.packets_per_second(), 500);
  EXPECT_DOUBLE_EQ(x.bits_per_second(), 400000);
  EXPECT_DOUBLE_EQ(x.drops_per_second(), 3);
  EXPECT_DOUBLE_EQ(x.ring_fill_ratio(), 0.25);
  EXPECT_EQ(x.user(), "alice");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], "target a (unix:/run/a.sock): up, host h1");
}

TEST(FleetStateTest, CounterResetGivesNoRate) {
  std::vector<std::string> log;
  FleetState fleet(Options(&log));
  const size_t a = fleet.AddTarget(Local("a"));
  fleet.OnSnapshot(a, Snap(0, 1000000, 100000000, 10, 500000, 5));
  fleet.OnSnapshot(a, Snap(1, 50, 5000, 0, 20, 0));  // the daemon restarted
  auto s = fleet.State(true, absl::Now());
  const auto& d = s.targets(0).devices(0);
  EXPECT_EQ(d.packets_per_second(), 0);
  EXPECT_EQ(d.bits_per_second(), 0);
  EXPECT_EQ(d.drops_per_second(), 0);
  EXPECT_EQ(d.history_size(), 0);
  EXPECT_EQ(s.targets(0).sessions(0).packets_per_second(), 0);
  // And the next interval counts again.
  fleet.OnSnapshot(a, Snap(2, 150, 15000, 0, 70, 0));
  s = fleet.State(true, absl::Now());
  EXPECT_DOUBLE_EQ(s.targets(0).devices(0).packets_per_second(), 100);
  EXPECT_DOUBLE_EQ(s.targets(0).sessions(0).packets_per_second(), 50);
}

TEST(FleetStateTest, DownAndUpAgain) {
  std::vector<std::string> log;
  FleetState fleet(Options(&log));
  const size_t a = fleet.AddTarget(Local("a"));
  const size_t b = fleet.AddTarget(Local("b"));
  auto s = fleet.State(false, absl::Now());
  EXPECT_FALSE(s.targets(0).up());
  EXPECT_EQ(s.targets(0).down_reason(), "connecting");
  fleet.OnSnapshot(a, Snap(0, 0, 0, 0, 0, 0));
  fleet.OnSnapshot(b, Snap(0, 0, 0, 0, 0, 0));
  fleet.OnSnapshot(a, Snap(1, 100, 1000, 0, 0, 0));
  fleet.OnDown(a, "UNAVAILABLE: connection refused");
  fleet.OnDown(a, "UNAVAILABLE: connection refused");  // retries: one log line
  s = fleet.State(false, absl::Now());
  EXPECT_FALSE(s.targets(0).up());
  EXPECT_EQ(s.targets(0).down_reason(), "UNAVAILABLE: connection refused");
  EXPECT_GT(s.targets(0).down_since_time_ns(), 0);
  EXPECT_EQ(s.targets(0).devices_size(), 0);
  EXPECT_TRUE(s.targets(1).up()) << "the other target is unaffected";
  std::vector<TargetStatus> status = fleet.Targets();
  EXPECT_FALSE(status[0].up);
  EXPECT_TRUE(status[1].up);
  EXPECT_FALSE(absl::StrContains(fleet.MetricsText(), "device=\"mydev0\",target=\"a\""));
  EXPECT_TRUE(absl::StrContains(fleet.MetricsText(), "mydev_target_up{target=\"a\"} 0"));

  // Back: the first snapshot has no rates (a gap, not a spike), the next has.
  fleet.OnSnapshot(a, Snap(10, 5000, 50000, 0, 0, 0));
  s = fleet.State(false, absl::Now());
  EXPECT_TRUE(s.targets(0).up());
  EXPECT_EQ(s.targets(0).down_reason(), "");
  EXPECT_EQ(s.targets(0).down_since_time_ns(), 0);
  EXPECT_EQ(s.targets(0).devices(0).packets_per_second(), 0);
  fleet.OnSnapshot(a, Snap(11, 5100, 51000, 0, 0, 0));
  EXPECT_DOUBLE_EQ(fleet.State(false, absl::Now()).targets(0).devices(0).packets_per_second(), 100);
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[2], "target a (unix:/run/a.sock): down: UNAVAILABLE: connection refused");

  fleet.RemoveTarget(a);
  fleet.OnSnapshot(a, Snap(12, 5200, 52000, 0, 0, 0));  // a late call: ignored
  EXPECT_EQ(fleet.State(false, absl::Now()).targets_size(), 1);
  EXPECT_FALSE(absl::StrContains(fleet.MetricsText(), "target=\"a\""));
}

TEST(FleetStateTest, HistoryIsBounded) {
  std::vector<std::string> log;
  FleetOptions o = Options(&log);
  o.interval = absl::Seconds(1);
  o.history = absl::Seconds(5);
  FleetState fleet(o);
  EXPECT_EQ(fleet.history_capacity(), 5u);
  const size_t a = fleet.AddTarget(Local("a"));
  for (int i = 0; i <= 12; ++i) fleet.OnSnapshot(a, Snap(i, 100 * i, 1000 * i, 0, 0, 0));
  auto s = fleet.State(true, absl::Now());
  const auto& d = s.targets(0).devices(0);
  ASSERT_EQ(d.history_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(d.history(i).time_ns(), kT0 + (8 + i) * kSecond) << i;
  s = fleet.State(false, absl::Now());
  ASSERT_EQ(s.targets(0).devices(0).history_size(), 1);
  EXPECT_EQ(s.targets(0).devices(0).history(0).time_ns(), kT0 + 12 * kSecond);
  EXPECT_FALSE(s.full_history());
}

TEST(FleetStateTest, JsonHasTheFields) {
  std::vector<std::string> log;
  FleetState fleet(Options(&log));
  const size_t a = fleet.AddTarget(Local("a"));
  fleet.OnSnapshot(a, Snap(0, 0, 0, 0, 0, 0));
  fleet.OnSnapshot(a, Snap(1, 1ull << 40, 1ull << 50, 0, 10, 0));
  const std::string json = fleet.StateJson(true);
  for (const char* field :
       {"\"targets\":[", "\"name\":\"a\"", "\"address\":\"unix:/run/a.sock\"", "\"up\":true",
        "\"down_reason\":\"\"", "\"packets_per_second\":", "\"bits_per_second\":",
        "\"drops_per_second\":", "\"history\":[", "\"session_id\":\"7\"", "\"user\":\"alice\"",
        "\"ring_fill_ratio\":0.25", "\"full_history\":true", "\"version\":\"",
        "\"packets_total\":\"1099511627776\"", "\"down_since_time_ns\":\"0\""}) {
    EXPECT_TRUE(absl::StrContains(json, field)) << field << " in " << json;
  }
}

TEST(FleetStateTest, WaitForChange) {
  std::vector<std::string> log;
  FleetState fleet(Options(&log));
  uint64_t v = fleet.WaitForChange(0, absl::ZeroDuration());
  const absl::Time start = absl::Now();
  EXPECT_EQ(fleet.WaitForChange(v, absl::Milliseconds(200)), v);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  const size_t a = fleet.AddTarget(Local("a"));
  EXPECT_GT(fleet.WaitForChange(v, absl::Seconds(10)), v);
  v = fleet.WaitForChange(0, absl::ZeroDuration());
  std::thread feeder([&] {
    absl::SleepFor(absl::Milliseconds(50));
    fleet.OnSnapshot(a, Snap(0, 0, 0, 0, 0, 0));
  });
  const absl::Time t = absl::Now();
  EXPECT_GT(fleet.WaitForChange(v, absl::Seconds(10)), v);
  EXPECT_LT(absl::Now() - t, absl::Seconds(5));
  feeder.join();
}

TEST(FleetStateTest, WatchersMarkAnUnreachableTargetDown) {
  std::vector<std::string> log;
  FleetState fleet(Options(&log));
  TargetWatchers watchers(&fleet, absl::Milliseconds(100));
  TargetConfig t = Local("gone");
  t.target = stats_client::TargetFromAddress("unix:/nonexistent/mydevd.sock");
  absl::StatusOr<stats_client::ClientSecurity> sec = stats_client::ClientSecurity::Load({});
  ASSERT_TRUE(sec.ok());
  t.credentials = std::make_shared<const stats_client::ClientSecurity>(*sec);
  watchers.Apply({t});
  EXPECT_EQ(watchers.size(), 1u);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  uint64_t v = 0;
  while (absl::Now() < deadline) {
    auto s = fleet.State(false, absl::Now());
    if (!s.targets(0).down_reason().empty() && s.targets(0).down_reason() != "connecting") break;
    v = fleet.WaitForChange(v, absl::Milliseconds(100));
  }
  auto s = fleet.State(false, absl::Now());
  EXPECT_FALSE(s.targets(0).up());
  EXPECT_TRUE(absl::StrContains(s.targets(0).down_reason(), "UNAVAILABLE"))
      << s.targets(0).down_reason();
  // Unchanged: kept; removed: gone from the fleet.
  watchers.Apply({t});
  EXPECT_EQ(fleet.State(false, absl::Now()).targets(0).name(), "gone");
  watchers.Apply({});
  EXPECT_EQ(fleet.State(false, absl::Now()).targets_size(), 0);
}

}  // namespace
}  // namespace mydev::dashboard
