// top_model_test.cc — TopModel without a terminal or a network: rates and
// drop % from two snapshots, the hot-row rule, sorting, the device filter,
// host names, a target that goes DOWN and comes back, and watcher threads
// updating while the screen takes frames. (Not in the --config=tsan set: its
// first contended absl::Mutex meets this Abseil's false Waiter::Post report,
// README "Sanitizers and fuzzing".)
#include "tools/mydevctl/top_model.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace mydev::ctl {
namespace {

constexpr int64_t kSecond = 1000000000;

// A snapshot at t seconds from host with one device mydev0 seeing `packets`
// packets of 100 bytes and `ifdrops` device drops.
mydev::v1::StatsSnapshot Snap(double t, uint64_t packets, uint64_t ifdrops = 0,
                              const std::string& host = "box") {
  mydev::v1::StatsSnapshot s;
  s.set_time_ns(static_cast<int64_t>(t * kSecond));
  s.set_host(host);
  s.set_scope(mydev::v1::STATS_SCOPE_LOCAL);
  mydev::v1::DeviceStats* d = s.add_devices();
  d->set_name("mydev0");
  d->set_backend("synthetic");
  d->set_packets_seen(packets);
  d->set_bytes_seen(packets * 100);
  d->set_packets_ifdropped(ifdrops);
  d->set_state(mydev::v1::DEVICE_STATE_UP);
  return s;
}

// Adds a session to s.
mydev::v1::SessionStats* AddSession(mydev::v1::StatsSnapshot* s, uint64_t id,
                                    const std::string& device, uint64_t received, uint64_t dropped,
                                    uint64_t fill = 0, uint64_t ring = 1 << 20) {
  mydev::v1::SessionStats* x = s->add_sessions();
  x->set_session_id(id);
  x->set_device(device);
  x->set_uid(65534);
  x->set_comm("tcpdump");
  x->set_cmdline("tcpdump -i " + device);
  x->set_packets_received(received);
  x->set_packets_dropped(dropped);
  x->set_ring_bytes(ring);
  x->set_ring_fill_bytes(fill);
  return x;
}

// The row of session id in f; fails the test when absent.
const SessionRow& Row(const TopFrame& f, uint64_t id) {
  for (const SessionRow& r : f.sessions) {
    if (r.session_id == id) return r;
  }
  ADD_FAILURE() << "no session " << id;
  static const SessionRow kNone;
  return kNone;
}

// The session ids of f, in order.
std::vector<uint64_t> Order(const TopFrame& f) {
  std::vector<uint64_t> ids;
  for (const SessionRow& r : f.sessions) ids.push_back(r.session_id);
  return ids;
}

TEST(TopModelTest, FirstSnapshotHasNoRatesSecondHasThem) {
  TopModel model({{"mydevd.sock", true}});
  auto a = Snap(10, 1000);
  AddSession(&a, 1, "mydev0", 500, 0);
  model.Update(0, a);
  TopFrame f = model.Frame(SortKey::kRate, "");
  ASSERT_EQ(f.devices.size(), 1u);
  EXPECT_FALSE(f.devices[0].has_rates);
  ASSERT_EQ(f.sessions.size(), 1u);
  EXPECT_FALSE(f.sessions[0].has_rates);
  EXPECT_EQ(f.targets[0].state, TargetState::kUp);

  auto b = Snap(12, 5000, 40);  // 2 s later: 4000 packets, 400000 bytes, 40 device drops
  AddSession(&b, 1, "mydev0", 2500, 0);
  model.Update(0, b);
  f = model.Frame(SortKey::kRate, "");
  const DeviceRow& d = f.devices[0];
  ASSERT_TRUE(d.has_rates);
  EXPECT_DOUBLE_EQ(d.pps, 2000);
  EXPECT_DOUBLE_EQ(d.bps, 8 * 400000 / 2.0);
  EXPECT_EQ(d.drops, 40u);
  EXPECT_DOUBLE_EQ(d.drop_pct, 100.0 * 40 / 4040);
  EXPECT_EQ(d.host, "box");
  const SessionRow& s = Row(f, 1);
  ASSERT_TRUE(s.has_rates);
  EXPECT_DOUBLE_EQ(s.pps, 1000);
  EXPECT_EQ(s.drops, 0u);
  EXPECT_DOUBLE_EQ(s.drop_pct, 0);
  EXPECT_TRUE(s.local);
  EXPECT_EQ(s.command, "tcpdump -i mydev0");
  EXPECT_FALSE(s.hot);
}

TEST(TopModelTest, SessionDropPercentAndHotRows) {
  auto a = Snap(0, 0);
  AddSession(&a, 1, "mydev0", 0, 0);
  AddSession(&a, 2, "mydev0", 0, 0);
  AddSession(&a, 3, "mydev0", 0, 0);
  auto b = Snap(1, 3000);
  AddSession(&b, 1, "mydev0", 900, 100);                     // dropped: hot
  AddSession(&b, 2, "mydev0", 1000, 0, 600 << 10, 1 << 20);  // 58.6% full: hot
  AddSession(&b, 3, "mydev0", 1000, 0, 100 << 10, 1 << 20);  // calm
  TopModel model({{"x", false}});
  model.Update(0, a);
  model.Update(0, b);
  TopFrame f = model.Frame(SortKey::kRate, "");
  EXPECT_DOUBLE_EQ(Row(f, 1).drop_pct, 10.0);
  EXPECT_EQ(Row(f, 1).drops, 100u);
  EXPECT_TRUE(Row(f, 1).hot);
  EXPECT_NEAR(Row(f, 2).fill_pct, 58.59, 0.01);
  EXPECT_TRUE(Row(f, 2).hot);
  EXPECT_FALSE(Row(f, 3).hot);
  EXPECT_FALSE(Row(f, 3).local);
}

TEST(TopModelTest, QuietSessionHasNoDropPercent) {
  mydev::v1::SessionStats prev, cur;
  prev.set_packets_received(7);
  cur.set_packets_received(7);
  SessionRow r = MakeSessionRow(&prev, cur, 1.0);
  EXPECT_TRUE(r.has_rates);
  EXPECT_EQ(r.pps, 0);
  EXPECT_EQ(r.drop_pct, -1);  // no packets: shown "-", not 0%
  EXPECT_EQ(r.fill_pct, -1);  // ring size unknown
}

TEST(TopModelTest, CountersGoingBackwardsGiveNoRates) {
  mydev::v1::DeviceStats prev, cur;
  prev.set_packets_seen(1000);
  cur.set_packets_seen(10);  // the daemon restarted
  EXPECT_FALSE(MakeDeviceRow(&prev, cur, 1.0).has_rates);
  mydev::v1::SessionStats sp, sc;
  sp.set_packets_dropped(5);
  EXPECT_FALSE(MakeSessionRow(&sp, sc, 1.0).has_rates);
  EXPECT_FALSE(MakeDeviceRow(&prev, prev, 0.0).has_rates);  // no time passed
}

TEST(TopModelTest, SortsByRateDropsAndFill) {
  auto a = Snap(0, 0);
  for (uint64_t id : {1, 2, 3, 4}) AddSession(&a, id, "mydev0", 0, 0);
  auto b = Snap(1, 0);
  AddSession(&b, 1, "mydev0", 100, 50, 900, 1000);  // slow, drops most, 90% full
  AddSession(&b, 2, "mydev0", 3000, 0, 100, 1000);  // fastest
  AddSession(&b, 3, "mydev0", 2000, 5, 500, 1000);
  AddSession(&b, 4, "mydev0", 1000, 0, 0, 1000);
  AddSession(&b, 5, "mydev0", 9999, 0, 0, 1000);  // new: no rates yet
  TopModel model({{"x", true}});
  model.Update(0, a);
  model.Update(0, b);
  EXPECT_EQ(Order(model.Frame(SortKey::kRate, "")), (std::vector<uint64_t>{2, 3, 4, 1, 5}));
  EXPECT_EQ(Order(model.Frame(SortKey::kDrops, "")), (std::vector<uint64_t>{1, 3, 2, 4, 5}));
  EXPECT_EQ(Order(model.Frame(SortKey::kFill, "")), (std::vector<uint64_t>{1, 3, 2, 4, 5}));
}

TEST(TopModelTest, FiltersByDevice) {
  auto a = Snap(0, 0);
  a.add_devices()->set_name("mydev1");
  AddSession(&a, 1, "mydev0", 0, 0);
  AddSession(&a, 2, "mydev1", 0, 0);
  AddSession(&a, 3, "mydev1", 0, 0);
  TopModel model({{"x", true}});
  model.Update(0, a);
  TopFrame f = model.Frame(SortKey::kRate, "mydev1");
  ASSERT_EQ(f.devices.size(), 1u);
  EXPECT_EQ(f.devices[0].name, "mydev1");
  EXPECT_EQ(Order(f), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(f.filtered_out, 1u);
  EXPECT_EQ(model.Frame(SortKey::kRate, "").sessions.size(), 3u);
  EXPECT_TRUE(model.Frame(SortKey::kRate, "nope").sessions.empty());
}

TEST(TopModelTest, DownTargetShowsDownAndComesBack) {
  TopModel model({{"a.sock", true}, {"b:9470", false}});
  TopFrame f = model.Frame(SortKey::kRate, "");
  EXPECT_EQ(f.targets[0].state, TargetState::kConnecting);
  EXPECT_EQ(f.targets[1].host, "b:9470");

  auto a0 = Snap(0, 0, 0, "alpha");
  AddSession(&a0, 1, "mydev0", 0, 0);
  auto b0 = Snap(0, 0, 0, "beta");
  AddSession(&b0, 7, "mydev0", 0, 0);
  model.Update(0, a0);
  model.Update(1, b0);
  f = model.Frame(SortKey::kRate, "");
  EXPECT_EQ(f.devices.size(), 2u);
  EXPECT_EQ(f.sessions.size(), 2u);
  EXPECT_EQ(f.targets[1].host, "beta");
  EXPECT_EQ(f.targets[1].scope, mydev::v1::STATS_SCOPE_LOCAL);

  model.MarkDown(1, "UNAVAILABLE: connection refused");
  f = model.Frame(SortKey::kRate, "");
  EXPECT_EQ(f.targets[1].state, TargetState::kDown);
  EXPECT_EQ(f.targets[1].detail, "UNAVAILABLE: connection refused");
  EXPECT_EQ(f.targets[1].host, "b:9470");  // no snapshot: the label again
  ASSERT_EQ(f.devices.size(), 1u);         // only alpha's rows are left
  EXPECT_EQ(f.devices[0].host, "alpha");
  ASSERT_EQ(f.sessions.size(), 1u);
  EXPECT_EQ(f.sessions[0].session_id, 1u);
  EXPECT_EQ(f.targets[0].state, TargetState::kUp);

  // Back: up at once; rates start afresh with the next snapshot.
  auto b1 = Snap(5, 9000, 0, "beta");
  AddSession(&b1, 7, "mydev0", 8000, 0);
  model.Update(1, b1);
  f = model.Frame(SortKey::kRate, "");
  EXPECT_EQ(f.targets[1].state, TargetState::kUp);
  EXPECT_TRUE(f.targets[1].detail.empty());
  EXPECT_FALSE(Row(f, 7).has_rates);
  auto b2 = Snap(6, 10000, 0, "beta");
  AddSession(&b2, 7, "mydev0", 8500, 0);
  model.Update(1, b2);
  EXPECT_DOUBLE_EQ(Row(model.Frame(SortKey::kRate, ""), 7).pps, 500);
}

TEST(TopModelTest, SharedOrMissingHostNamesUseLabels) {
  TopModel model({{"one.sock", true}, {"two.sock", true}, {"h:1", false}});
  model.Update(0, Snap(0, 0, 0, "box"));
  model.Update(1, Snap(0, 0, 0, "box"));
  model.Update(2, Snap(0, 0, 0, ""));
  TopFrame f = model.Frame(SortKey::kRate, "");
  EXPECT_EQ(f.targets[0].host, "one.sock");
  EXPECT_EQ(f.targets[1].host, "two.sock");
  EXPECT_EQ(f.targets[2].host, "h:1");
}

TEST(TopModelTest, SortKeyNames) {
  SortKey k;
  ASSERT_TRUE(ParseSortKey("drops", &k));
  EXPECT_EQ(k, SortKey::kDrops);
  ASSERT_TRUE(ParseSortKey("fill", &k));
  EXPECT_STREQ(SortKeyName(k), "fill");
  EXPECT_FALSE(ParseSortKey("size", &k));
}

TEST(TopModelTest, WatchersUpdateWhileTheScreenReads) {
  constexpr int kTargets = 4;
  constexpr int kSnapshots = 300;
  std::vector<ModelTarget> names;
  for (int i = 0; i < kTargets; ++i) names.push_back({"t" + std::to_string(i), false});
  TopModel model(names);
  std::atomic<int> running{kTargets};
  std::vector<std::thread> watchers;
  for (int i = 0; i < kTargets; ++i) {
    watchers.emplace_back([&model, &running, i] {
      for (int n = 0; n < kSnapshots; ++n) {
        if (n % 50 == 25) model.MarkDown(i, "flap");
        auto s = Snap(n, 1000u * n, 0, "host" + std::to_string(i));
        AddSession(&s, 1, "mydev0", 500u * n, 0);
        model.Update(i, s);
      }
      running.fetch_sub(1);
    });
  }
  size_t frames = 0;
  while (running.load() > 0) {
    TopFrame f = model.Frame(SortKey::kRate, "");
    ASSERT_EQ(f.targets.size(), static_cast<size_t>(kTargets));
    for (const DeviceRow& d : f.devices) {
      if (d.has_rates) {
        EXPECT_DOUBLE_EQ(d.pps, 1000);
      }
    }
    ++frames;
  }
  for (std::thread& t : watchers) t.join();
  TopFrame f = model.Frame(SortKey::kRate, "");
  EXPECT_EQ(f.sessions.size(), static_cast<size_t>(kTargets));
  for (const SessionRow& r : f.sessions) EXPECT_DOUBLE_EQ(r.pps, 500);
  EXPECT_GT(frames, 0u);
}

}  // namespace
}  // namespace mydev::ctl
