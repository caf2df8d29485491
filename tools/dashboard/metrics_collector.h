// metrics_collector.h — mydev-dashboard's Prometheus metrics: a
// prometheus::Collectable that builds every metric family from the targets'
// latest snapshots at scrape time, so the series of an ended session or a
// removed target vanish at the next scrape (no stale series), rendered in the
// text exposition format by prometheus::TextSerializer.
//
//   MetricsOptions options;
//   options.session_metrics = true;
//   MetricsCollector metrics(options, [&fleet] { return fleet.Targets(); });
//   std::string text = metrics.Text();   // what /metrics serves
//
// The families (HELP and TYPE each):
//   mydev_target_up{target}                         1 while snapshots arrive, else 0
//   mydev_target_info{target,address,host}          1
//   mydev_target_last_snapshot_timestamp_seconds{target}
//   per device (labels target, device), of targets that are up:
//   mydev_device_packets_total, mydev_device_bytes_total, mydev_device_ifdrops_total (counters)
//   mydev_device_sessions, mydev_device_up (gauges)
//   with session_metrics, per session (labels target, device, session, uid, comm),
//   at most max_session_series sessions (the oldest ids of each target first):
//   mydev_session_packets_total, mydev_session_bytes_total, mydev_session_drops_total
//   (counters), mydev_session_ring_fill_ratio (gauge), and
//   mydev_session_series_cut_total{target}: distinct sessions left out by the cap.
// Counters are the daemon's absolute values: a daemon restart resets them,
// which Prometheus' rate() handles.
#ifndef MYDEV_TOOLS_DASHBOARD_METRICS_COLLECTOR_H_
#define MYDEV_TOOLS_DASHBOARD_METRICS_COLLECTOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "proto/mydev.pb.h"

namespace mydev::dashboard {

// What the metrics see of one target (a copy, taken at scrape time).
struct TargetStatus {
  std::string name;     // the `target` label
  std::string address;  // its gRPC address
  bool up = false;      // snapshots arrive; else only mydev_target_up 0 (and its info)
  std::string host;     // the daemon's host name from its latest snapshot ("" none yet)
  int64_t last_snapshot_time_ns = 0;  // 0: none yet
  mydev::v1::StatsSnapshot snapshot;  // the latest, while up
};

// Which series to export.
struct MetricsOptions {
  bool session_metrics = false;     // --session_metrics: per-session series
  size_t max_session_series = 500;  // --max_session_series: sessions exported at most
};

// The collector; thread-safe.
class MetricsCollector : public prometheus::Collectable {
 public:
  // targets: called at every scrape for the targets' status (it must not
  // block on the network).
  MetricsCollector(MetricsOptions options, std::function<std::vector<TargetStatus>()> targets);

  // The metric families now (prometheus::Collectable).
  std::vector<prometheus::MetricFamily> Collect() const override ABSL_LOCKS_EXCLUDED(mu_);

  // Collect() in the text exposition format (version 0.0.4).
  std::string Text() const;

 private:
  // Per target: the sessions cut by the cap (to count each once) and the count.
  struct Cut {
    std::set<uint64_t> live;  // sessions currently left out (forgotten once they end)
    uint64_t total = 0;       // distinct sessions ever left out
  };

  const MetricsOptions options_;
  const std::function<std::vector<TargetStatus>()> targets_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, Cut> cut_ ABSL_GUARDED_BY(mu_);  // by target name
};

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_METRICS_COLLECTOR_H_
