// metrics_collector_test.cc — the Prometheus text mydev-dashboard serves,
// serialized and checked line by line: names, HELP/TYPE, labels, the
// per-session cap and its cut counter, series that vanish with their session
// or target, and a down target.
#include "tools/dashboard/metrics_collector.h"

#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace mydev::dashboard {
namespace {

// A snapshot with one device and sessions with ids ids.
mydev::v1::StatsSnapshot Snapshot(std::vector<uint64_t> ids) {
  mydev::v1::StatsSnapshot s;
  s.set_time_ns(1700000000500000000);
  s.set_host("h1");
  mydev::v1::DeviceStats* d = s.add_devices();
  d->set_name("mydev0");
  d->set_packets_seen(1000);
  d->set_bytes_seen(64000);
  d->set_packets_ifdropped(7);
  d->set_kernel_ring_bytes(8388608);
  d->set_sessions(static_cast<uint32_t>(ids.size()));
  d->set_state(mydev::v1::DEVICE_STATE_UP);
  for (uint64_t id : ids) {
    mydev::v1::SessionStats* x = s.add_sessions();
    x->set_session_id(id);
    x->set_device("mydev0");
    x->set_uid(1000);
    x->set_comm("tcpdump");
    x->set_packets_received(100 * id);
    x->set_bytes_received(6400 * id);
    x->set_packets_dropped(id);
    x->set_ring_bytes(1024);
    x->set_ring_fill_bytes(256);
  }
  return s;
}

// One up target named name.
TargetStatus Up(const std::string& name, std::vector<uint64_t> ids) {
  TargetStatus t;
  t.name = name;
  t.address = "unix:/run/" + name + ".sock";
  t.up = true;
  t.host = "h1";
  t.snapshot = Snapshot(std::move(ids));
  t.last_snapshot_time_ns = t.snapshot.time_ns();
  return t;
}

// The lines of text that start with prefix.
std::vector<std::string> Lines(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, prefix)) out.emplace_back(line);
  }
  return out;
}

// The collector over whatever *targets holds at each scrape.
MetricsCollector Collector(MetricsOptions options, const std::vector<TargetStatus>* targets) {
  return MetricsCollector(options, [targets] { return *targets; });
}

TEST(MetricsCollectorTest, TargetAndDeviceSeries) {
  std::vector<TargetStatus> targets = {Up("a", {1})};
  MetricsCollector m = Collector(MetricsOptions{}, &targets);
  const std::string text = m.Text();
  for (const char* family :
       {"mydev_target_up gauge", "mydev_target_info gauge",
        "mydev_target_last_snapshot_timestamp_seconds gauge", "mydev_device_packets_total counter",
        "mydev_device_bytes_total counter", "mydev_device_ifdrops_total counter",
        "mydev_device_sessions gauge", "mydev_device_kernel_ring_bytes gauge",
        "mydev_device_up gauge"}) {
    EXPECT_EQ(Lines(text, std::string("# TYPE ") + family).size(), 1u) << family << "\n" << text;
  }
  EXPECT_EQ(Lines(text, "# HELP mydev_device_packets_total ").size(), 1u);
  EXPECT_EQ(Lines(text, "mydev_target_up{target=\"a\"} 1"),
            std::vector<std::string>{"mydev_target_up{target=\"a\"} 1"});
  EXPECT_EQ(Lines(text, "mydev_target_info{").at(0),
            "mydev_target_info{target=\"a\",address=\"unix:/run/a.sock\",host=\"h1\"} 1");
  EXPECT_EQ(Lines(text, "mydev_target_last_snapshot_timestamp_seconds{").at(0),
            "mydev_target_last_snapshot_timestamp_seconds{target=\"a\"} 1700000000.5");
  EXPECT_EQ(Lines(text, "mydev_device_packets_total{").at(0),
            "mydev_device_packets_total{device=\"mydev0\",target=\"a\"} 1000");
  EXPECT_EQ(Lines(text, "mydev_device_bytes_total{").at(0),
            "mydev_device_bytes_total{device=\"mydev0\",target=\"a\"} 64000");
  EXPECT_EQ(Lines(text, "mydev_device_ifdrops_total{").at(0),
            "mydev_device_ifdrops_total{device=\"mydev0\",target=\"a\"} 7");
  EXPECT_EQ(Lines(text, "mydev_device_sessions{").at(0),
            "mydev_device_sessions{device=\"mydev0\",target=\"a\"} 1");
  EXPECT_EQ(Lines(text, "mydev_device_kernel_ring_bytes{").at(0),
            "mydev_device_kernel_ring_bytes{device=\"mydev0\",target=\"a\"} 8388608");
  EXPECT_EQ(Lines(text, "mydev_device_up{").at(0),
            "mydev_device_up{device=\"mydev0\",target=\"a\"} 1");
  EXPECT_TRUE(Lines(text, "mydev_session").empty()) << "per-session series are opt-in";
}

TEST(MetricsCollectorTest, SessionSeriesCappedAndCounted) {
  MetricsOptions options;
  options.session_metrics = true;
  options.max_session_series = 3;
  std::vector<TargetStatus> targets = {Up("a", {1, 2}), Up("b", {5, 3})};
  MetricsCollector m = Collector(options, &targets);
  std::string text = m.Text();
  EXPECT_EQ(Lines(text, "# TYPE mydev_session_packets_total counter").size(), 1u);
  EXPECT_EQ(Lines(text, "# TYPE mydev_session_ring_fill_ratio gauge").size(), 1u);
  EXPECT_EQ(Lines(text, "# TYPE mydev_session_series_cut_total counter").size(), 1u);
  std::vector<std::string> packets = Lines(text, "mydev_session_packets_total{");
  ASSERT_EQ(packets.size(), 3u) << text;
  EXPECT_EQ(packets[0],
            "mydev_session_packets_total{comm=\"tcpdump\",device=\"mydev0\",session=\"1\","
            "target=\"a\",uid=\"1000\"} 100");
  EXPECT_TRUE(absl::StrContains(packets[2], "session=\"3\",target=\"b\"")) << "b's oldest kept";
  EXPECT_EQ(Lines(text, "mydev_session_bytes_total{").size(), 3u);
  EXPECT_EQ(Lines(text, "mydev_session_drops_total{").size(), 3u);
  EXPECT_TRUE(absl::StrContains(Lines(text, "mydev_session_ring_fill_ratio{").at(0), "} 0.25"));
  EXPECT_EQ(Lines(text, "mydev_session_series_cut_total{target=\"b\"} 1").size(), 1u) << text;
  EXPECT_EQ(Lines(text, "mydev_session_series_cut_total{target=\"a\"} 0").size(), 1u) << text;

  // The same session cut again is not counted again; a new one is.
  text = m.Text();
  EXPECT_EQ(Lines(text, "mydev_session_series_cut_total{target=\"b\"} 1").size(), 1u) << text;
  targets[1] = Up("b", {5, 3, 9});
  text = m.Text();
  EXPECT_EQ(Lines(text, "mydev_session_series_cut_total{target=\"b\"} 2").size(), 1u) << text;

  // Session 1 ends: its series vanish at once, and 5 now fits.
  targets[0] = Up("a", {2});
  text = m.Text();
  packets = Lines(text, "mydev_session_packets_total{");
  ASSERT_EQ(packets.size(), 3u) << text;
  EXPECT_EQ(
      Lines(text, "mydev_session_packets_total{comm=\"tcpdump\",device=\"mydev0\",session=\"1\",")
          .size(),
      0u);
  EXPECT_EQ(
      Lines(text, "mydev_session_packets_total{comm=\"tcpdump\",device=\"mydev0\",session=\"5\",")
          .size(),
      1u);
  EXPECT_EQ(Lines(text, "mydev_session_series_cut_total{target=\"b\"} 2").size(), 1u) << text;
}

TEST(MetricsCollectorTest, DownAndRemovedTargets) {
  MetricsOptions options;
  options.session_metrics = true;
  std::vector<TargetStatus> targets = {Up("a", {1}), Up("b", {2})};
  MetricsCollector m = Collector(options, &targets);
  EXPECT_EQ(Lines(m.Text(), "mydev_device_packets_total{").size(), 2u);

  targets[1].up = false;
  std::string text = m.Text();
  EXPECT_EQ(Lines(text, "mydev_target_up{target=\"b\"} 0").size(), 1u) << text;
  EXPECT_EQ(Lines(text, "mydev_target_up{target=\"a\"} 1").size(), 1u) << text;
  std::vector<std::string> devices = Lines(text, "mydev_device_");
  ASSERT_EQ(devices.size(), 6u) << text;  // a's six device series, none of b's
  for (const std::string& line : devices)
    EXPECT_TRUE(absl::StrContains(line, "target=\"a\"")) << line;
  for (const std::string& line : Lines(text, "mydev_session_")) {
    EXPECT_FALSE(absl::StrContains(line, "session=\"2\"")) << line;
  }

  targets.pop_back();
  text = m.Text();
  EXPECT_FALSE(absl::StrContains(text, "target=\"b\"")) << text;
}

}  // namespace
}  // namespace mydev::dashboard
