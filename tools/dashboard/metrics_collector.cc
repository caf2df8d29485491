// metrics_collector.cc — see metrics_collector.h.
#include "tools/dashboard/metrics_collector.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"
#include "prometheus/text_serializer.h"

namespace mydev::dashboard {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// A family without samples yet.
MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

// Adds one sample with labels to f (a counter or a gauge, by f's type).
void Add(MetricFamily* f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f->type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f->metric.push_back(std::move(m));
}

}  // namespace

MetricsCollector::MetricsCollector(MetricsOptions options,
                                   std::function<std::vector<TargetStatus>()> targets)
    : options_(options), targets_(std::move(targets)) {}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  const std::vector<TargetStatus> targets = targets_();

  MetricFamily up =
      Family("mydev_target_up", "1 while the target's WatchStats stream delivers snapshots, else 0",
             MetricType::Gauge);
  MetricFamily info =
      Family("mydev_target_info", "the target's gRPC address and the daemon's host name (always 1)",
             MetricType::Gauge);
  MetricFamily last =
      Family("mydev_target_last_snapshot_timestamp_seconds",
             "when the daemon took the latest snapshot received (Unix time)", MetricType::Gauge);
  MetricFamily dev_packets =
      Family("mydev_device_packets_total", "packets the device delivered to its capture sessions",
             MetricType::Counter);
  MetricFamily dev_bytes =
      Family("mydev_device_bytes_total", "bytes of those packets", MetricType::Counter);
  MetricFamily dev_ifdrops =
      Family("mydev_device_ifdrops_total",
             "packets dropped by the device or kernel before the sessions", MetricType::Counter);
  MetricFamily dev_sessions =
      Family("mydev_device_sessions", "capture sessions open on the device", MetricType::Gauge);
  MetricFamily dev_kernel_ring = Family(
      "mydev_device_kernel_ring_bytes",
      "bytes of the kernel ring the daemon reads the device from (0: none)", MetricType::Gauge);
  MetricFamily dev_up = Family("mydev_device_up",
                               "1 when the device serves (state UP), 0 while it waits for its "
                               "interface",
                               MetricType::Gauge);
  MetricFamily s_packets =
      Family("mydev_session_packets_total",
             "packets that passed the session's filter (pcap ps_recv)", MetricType::Counter);
  MetricFamily s_bytes =
      Family("mydev_session_bytes_total", "captured bytes written to the session's ring",
             MetricType::Counter);
  MetricFamily s_drops = Family(
      "mydev_session_drops_total",
      "packets that passed the filter but found the ring full (pcap ps_drop)", MetricType::Counter);
  MetricFamily s_fill =
      Family("mydev_session_ring_fill_ratio",
             "bytes waiting in the session's ring / the ring's size (0..1)", MetricType::Gauge);
  MetricFamily s_cut = Family("mydev_session_series_cut_total",
                              "distinct sessions whose series were not exported because of "
                              "--max_session_series",
                              MetricType::Counter);

  size_t sessions_exported = 0;
  absl::MutexLock lock(&mu_);
  std::map<std::string, Cut> cut;  // the targets listed now; removed ones are forgotten
  for (const TargetStatus& t : targets) {
    Add(&up, {{"target", t.name}}, t.up ? 1 : 0);
    Add(&info, {{"target", t.name}, {"address", t.address}, {"host", t.host}}, 1);
    if (t.last_snapshot_time_ns > 0) {
      Add(&last, {{"target", t.name}}, static_cast<double>(t.last_snapshot_time_ns) / 1e9);
    }
    Cut& c = cut[t.name];
    if (auto it = cut_.find(t.name); it != cut_.end()) c = std::move(it->second);
    if (!t.up) continue;
    for (const mydev::v1::DeviceStats& d : t.snapshot.devices()) {
      std::vector<ClientMetric::Label> labels = {{"device", d.name()}, {"target", t.name}};
      Add(&dev_packets, labels, static_cast<double>(d.packets_seen()));
      Add(&dev_bytes, labels, static_cast<double>(d.bytes_seen()));
      Add(&dev_ifdrops, labels, static_cast<double>(d.packets_ifdropped()));
      Add(&dev_sessions, labels, d.sessions());
      Add(&dev_kernel_ring, labels, static_cast<double>(d.kernel_ring_bytes()));
      Add(&dev_up, labels, d.state() == mydev::v1::DEVICE_STATE_UP ? 1 : 0);
    }
    if (!options_.session_metrics) continue;
    // The oldest sessions (lowest ids) first, so the exported set is stable
    // while sessions come and go.
    std::vector<const mydev::v1::SessionStats*> sessions;
    for (const mydev::v1::SessionStats& s : t.snapshot.sessions()) sessions.push_back(&s);
    std::sort(sessions.begin(), sessions.end(),
              [](const auto* a, const auto* b) { return a->session_id() < b->session_id(); });
    std::set<uint64_t> still_cut;
    for (const mydev::v1::SessionStats* s : sessions) {
      if (sessions_exported >= options_.max_session_series) {
        if (c.live.count(s->session_id()) == 0) ++c.total;
        still_cut.insert(s->session_id());
        continue;
      }
      ++sessions_exported;
      std::vector<ClientMetric::Label> labels = {{"comm", s->comm()},
                                                 {"device", s->device()},
                                                 {"session", absl::StrCat(s->session_id())},
                                                 {"target", t.name},
                                                 {"uid", absl::StrCat(s->uid())}};
      Add(&s_packets, labels, static_cast<double>(s->packets_received()));
      Add(&s_bytes, labels, static_cast<double>(s->bytes_received()));
      Add(&s_drops, labels, static_cast<double>(s->packets_dropped()));
      Add(&s_fill, labels,
          s->ring_bytes() == 0
              ? 0.0
              : static_cast<double>(s->ring_fill_bytes()) / static_cast<double>(s->ring_bytes()));
    }
    c.live = std::move(still_cut);
  }
  if (options_.session_metrics) {
    for (const TargetStatus& t : targets) {
      Add(&s_cut, {{"target", t.name}}, static_cast<double>(cut[t.name].total));
    }
  }
  cut_ = std::move(cut);

  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&up, &info, &last, &dev_packets, &dev_bytes, &dev_ifdrops, &dev_sessions,
                          &dev_kernel_ring, &dev_up}) {
    out.push_back(std::move(*f));
  }
  if (options_.session_metrics) {
    for (MetricFamily* f : {&s_packets, &s_bytes, &s_drops, &s_fill, &s_cut}) {
      out.push_back(std::move(*f));
    }
  }
  return out;
}

std::string MetricsCollector::Text() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

}  // namespace mydev::dashboard
