// top_model.h — what `mydevctl top` shows, without the screen: the latest
// snapshot of each target, per-device and per-session rates over the last
// interval (from two consecutive snapshots), which targets are down, the
// session table sorted by rate, drops or ring fill, filtered by device.
//
// One StatsWatcher thread per target feeds it (Update / MarkDown); the screen
// takes a consistent copy (Frame) whenever it draws. Nothing here blocks on
// the network or touches the terminal, so it is unit-tested on its own.
//
//   TopModel model({{"a.sock", true}, {"b:9470", false}});
//   model.Update(0, snapshot_at_t0);
//   model.Update(0, snapshot_at_t1);           // rates over t1 - t0
//   model.MarkDown(1, "UNAVAILABLE: connection refused");
//   TopFrame f = model.Frame(SortKey::kDrops, "mydev0");
#ifndef MYDEV_TOOLS_MYDEVCTL_TOP_MODEL_H_
#define MYDEV_TOOLS_MYDEVCTL_TOP_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/mydev.pb.h"
#include "tools/stats_client/snapshot_sink.h"

namespace mydev::ctl {

// The session table's order (keys r, d, f).
enum class SortKey { kRate, kDrops, kFill };

// "rate", "drops", "fill".
const char* SortKeyName(SortKey key);

// Parses a SortKeyName; false for anything else.
bool ParseSortKey(std::string_view text, SortKey* out);

// A session row stands out when its ring is at least this full (percent)...
inline constexpr double kHotFillPercent = 50.0;
// ...or when it dropped packets in the last interval.

// Where a target's stream is.
enum class TargetState {
  kConnecting,  // no snapshot yet
  kUp,          // snapshots arrive
  kDown,        // the stream failed or stalled; retried with backoff
};

// "connecting", "UP", "DOWN".
const char* TargetStateName(TargetState state);

// A target as the model is told about it.
struct ModelTarget {
  std::string label;   // Target::label: "mydevd.sock", "host:9470"
  bool local = false;  // Target::local: its uids are this machine's
};

// One line of the hosts section.
struct TargetRow {
  std::string label;
  std::string host;  // what the device and session rows call it (see Frame)
  TargetState state = TargetState::kConnecting;
  std::string detail;  // why it is down
  mydev::v1::StatsScope scope = mydev::v1::STATS_SCOPE_UNSPECIFIED;
  int64_t time_ns = 0;  // the latest snapshot's time
};

// One device over the last interval.
struct DeviceRow {
  std::string host;
  std::string name;
  mydev::v1::DeviceState state = mydev::v1::DEVICE_STATE_UNSPECIFIED;
  std::string state_detail;
  uint32_t sessions = 0;
  bool has_rates = false;  // false for a target's first snapshot: rates need two
  double pps = 0;          // packets seen per second
  double bps = 0;          // bits seen per second
  uint64_t drops = 0;      // packets the device itself dropped in the interval
  double drop_pct = -1;    // drops / (seen + drops) in percent; -1 = no packets
};

// One session over the last interval.
struct SessionRow {
  std::string host;
  bool local = false;  // the uid is this machine's (resolve it to a name)
  uint64_t session_id = 0;
  std::string device;
  uint32_t uid = 0;
  uint32_t pid = 0;
  std::string comm;
  std::string command;  // command line, else comm, else "-"
  bool has_rates = false;
  double pps = 0;              // packets received per second
  uint64_t drops = 0;          // packets dropped (ring full) in the interval
  double drop_pct = -1;        // drops / (received + drops) in percent; -1 = no packets
  double fill_pct = -1;        // ring fill now, percent of the ring; -1 = unknown
  uint64_t total_dropped = 0;  // since the session opened
  bool hot = false;            // ring >= kHotFillPercent full, or drops > 0
};

// What the screen draws: a consistent copy of the model.
struct TopFrame {
  std::vector<TargetRow> targets;
  std::vector<DeviceRow> devices;    // targets that are up, filtered
  std::vector<SessionRow> sessions;  // targets that are up, filtered, sorted
  size_t filtered_out = 0;           // session rows the device filter hid
};

// A device's row from its stats now and one interval earlier (prev may be
// null: no rates). seconds: the interval; <= 0 means no rates.
DeviceRow MakeDeviceRow(const mydev::v1::DeviceStats* prev, const mydev::v1::DeviceStats& cur,
                        double seconds);

// A session's row, likewise.
SessionRow MakeSessionRow(const mydev::v1::SessionStats* prev, const mydev::v1::SessionStats& cur,
                          double seconds);

// Sorts the session table: the key's value, largest first (rows without rates
// last), ties by host then session id.
void SortSessions(SortKey key, std::vector<SessionRow>* rows);

// The model; thread-safe. A StatsWatcher per target feeds it through the
// SnapshotSink calls (Update and MarkDown).
class TopModel : public stats_client::SnapshotSink {
 public:
  explicit TopModel(std::vector<ModelTarget> targets);

  // SnapshotSink: Update(target, snapshot).
  void OnSnapshot(size_t target, const mydev::v1::StatsSnapshot& snapshot) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    Update(target, snapshot);
  }

  // SnapshotSink: MarkDown(target, reason).
  void OnDown(size_t target, std::string reason) override ABSL_LOCKS_EXCLUDED(mu_) {
    MarkDown(target, std::move(reason));
  }

  // A new snapshot from target (an index into the constructor's vector):
  // rates over the time since the previous one; the target is up.
  void Update(size_t target, const mydev::v1::StatsSnapshot& snap) ABSL_LOCKS_EXCLUDED(mu_);

  // The target's stream failed: it shows DOWN with reason and no rows until
  // its next snapshot (whose rates start afresh).
  void MarkDown(size_t target, std::string reason) ABSL_LOCKS_EXCLUDED(mu_);

  // Everything to draw. device_filter: only this device's rows ("" = all).
  // A row's host is its daemon's host name; the target's label when the
  // daemon sends none or two targets share one.
  TopFrame Frame(SortKey sort, std::string_view device_filter) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One target's state and its rows as of its latest snapshot.
  struct PerTarget {
    ModelTarget target;
    TargetState state = TargetState::kConnecting;
    std::string detail;
    std::optional<mydev::v1::StatsSnapshot> last;
    std::vector<DeviceRow> devices;
    std::vector<SessionRow> sessions;
  };

  mutable absl::Mutex mu_;
  std::vector<PerTarget> targets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_TOP_MODEL_H_
