// fleet_state.h — what mydev-dashboard knows of the daemons it watches, fed
// by one StatsWatcher per target (TargetWatchers): per target up/down (with
// the reason and since when), its latest snapshot, per-device and
// per-session rates from its last two snapshots, a bounded history of each
// device's rates, and the owners' user names (local targets). It serves the
// web server as a DashboardSource: the page's state as JSON (protobuf's JSON
// printer) and the Prometheus text (MetricsCollector). Nothing here does
// gRPC under its lock, so a slow or dead target never blocks the page, the
// metrics or the other targets.
//
//   FleetState fleet(FleetOptions{});
//   TargetWatchers watchers(&fleet, absl::Seconds(1));
//   watchers.Apply(*TargetsSource(flags, "", nullptr).Load());   // start watching
//   ... every second: watchers.CheckStalled(absl::Now());
//   std::string json = fleet.StateJson(/*full_history=*/true);
//   std::string metrics = fleet.MetricsText();
#ifndef MYDEV_TOOLS_DASHBOARD_FLEET_STATE_H_
#define MYDEV_TOOLS_DASHBOARD_FLEET_STATE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/dashboard.pb.h"
#include "proto/mydev.pb.h"
#include "tools/dashboard/dashboard_source.h"
#include "tools/dashboard/metrics_collector.h"
#include "tools/dashboard/targets.h"
#include "tools/stats_client/snapshot_sink.h"
#include "tools/stats_client/stats_watcher.h"

namespace mydev::dashboard {

// How FleetState keeps and shows its data.
struct FleetOptions {
  absl::Duration interval = absl::Seconds(1);  // --interval: the snapshots' spacing
  absl::Duration history = absl::Minutes(10);  // --history: each device's rate history
  MetricsOptions metrics;                      // --session_metrics, --max_session_series
  // Gets one line per target state change ("target a: up (host h1)"); null: none.
  std::function<void(const std::string&)> log;
  // The name of a uid on this machine ("" unknown); null: UserNameOf (base/user_name.h).
  std::function<std::string(uint32_t)> user_name;
};

// The state of every watched target; thread-safe.
class FleetState : public DashboardSource, public stats_client::SnapshotSink {
 public:
  explicit FleetState(FleetOptions options);

  // Starts keeping a target (shown as connecting until its first snapshot
  // or failure); returns the id its watcher's calls use.
  size_t AddTarget(const TargetConfig& config) ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets a target: it leaves the page and its series vanish. Stop its
  // watcher first (late calls for an unknown id are ignored).
  void RemoveTarget(size_t id) ABSL_LOCKS_EXCLUDED(mu_);

  // SnapshotSink: a target's new snapshot; rates over the time since its
  // previous one (none after a counter went down: the daemon restarted).
  void OnSnapshot(size_t id, const mydev::v1::StatsSnapshot& snapshot) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // SnapshotSink: the target's stream failed or stalled; it is down until
  // its next snapshot, whose rates start afresh.
  void OnDown(size_t id, std::string reason) override ABSL_LOCKS_EXCLUDED(mu_);

  // What the metrics see: every target, in the order added.
  std::vector<TargetStatus> Targets() const ABSL_LOCKS_EXCLUDED(mu_);

  // The state as a message (what StateJson prints); now: its time_ns.
  mydev::dashboard::v1::DashboardState State(bool full_history, absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // DashboardSource.
  std::string MetricsText() override;
  std::string StateJson(bool full_history) override;
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) override ABSL_LOCKS_EXCLUDED(mu_);

  // Points each device's history holds: --history / --interval, at least 1.
  size_t history_capacity() const { return history_capacity_; }

 private:
  // The newest history_capacity_ rate points of a device, oldest first.
  class RateRing {
   public:
    void Push(const mydev::dashboard::v1::RatePoint& point, size_t capacity);
    // Oldest first.
    std::vector<mydev::dashboard::v1::RatePoint> Points() const;
    // The newest point, if any.
    const mydev::dashboard::v1::RatePoint* Newest() const;

   private:
    std::vector<mydev::dashboard::v1::RatePoint> points_;
    size_t next_ = 0;  // where the next point goes once the ring is full
  };

  // Rates over one interval (has = false: not known yet).
  struct Rates {
    bool has = false;
    double packets_per_second = 0;
    double bits_per_second = 0;
    double drops_per_second = 0;
  };

  // Whether a target's stream delivers.
  enum class Phase { kConnecting, kUp, kDown };

  // One target.
  struct Entry {
    TargetConfig config;
    Phase phase = Phase::kConnecting;
    std::string down_reason;
    int64_t down_since_ns = 0;
    std::string host;
    int64_t last_snapshot_time_ns = 0;
    std::optional<mydev::v1::StatsSnapshot> last;  // while up
    std::map<std::string, Rates> device_rates;     // by device name
    std::map<uint64_t, Rates> session_rates;       // by session id
    std::map<std::string, RateRing> history;       // by device name
    std::map<uint32_t, std::string> users;         // uid -> name (local targets)
  };

  // Sets e's rates (and history) from its last snapshot to cur.
  void UpdateRates(Entry* e, const mydev::v1::StatsSnapshot& cur) const;

  // Bumps the version and wakes WaitForChange.
  void Changed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++version_; }

  // Logs a line if options_.log is set (never with mu_ held).
  void Log(const std::string& line) const ABSL_LOCKS_EXCLUDED(mu_);

  const FleetOptions options_;
  const size_t history_capacity_;
  const MetricsCollector metrics_;

  mutable absl::Mutex mu_;
  std::map<size_t, Entry> entries_ ABSL_GUARDED_BY(mu_);  // ids grow: the order added
  size_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 1;
};

// The watchers that feed a FleetState: one StatsWatcher per target. Used by
// one thread (main's housekeeping loop).
class TargetWatchers {
 public:
  // fleet must outlive the watchers; interval: WatchStats' interval.
  TargetWatchers(FleetState* fleet, absl::Duration interval);
  // Stops every watcher.
  ~TargetWatchers();

  TargetWatchers(const TargetWatchers&) = delete;
  TargetWatchers& operator=(const TargetWatchers&) = delete;

  // Watches exactly targets: new ones (by name, address and security) start,
  // gone ones stop and leave the fleet, unchanged ones keep their streams.
  void Apply(const std::vector<TargetConfig>& targets);

  // Cancels the streams that are silent for too long (StatsWatcher::CheckStalled).
  void CheckStalled(absl::Time now);

  // Targets watched now.
  size_t size() const { return watched_.size(); }

 private:
  // One watched target.
  struct Watched {
    TargetConfig config;
    size_t id = 0;  // in fleet_
    std::unique_ptr<stats_client::StatsWatcher> watcher;
  };

  FleetState* const fleet_;
  const absl::Duration interval_;
  std::vector<Watched> watched_;
};

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_FLEET_STATE_H_
