// stats_watcher.h — one target's WatchStats stream on a thread of its own,
// feeding a SnapshotSink (`mydevctl top`'s TopModel, mydev-dashboard's
// FleetState): every snapshot goes to SnapshotSink::OnSnapshot; a failed,
// refused or stalled stream is reported with OnDown and retried with backoff
// (0.25 s doubling to 5 s) until Stop(), so a daemon that comes back shows up
// again by itself. A slow or silent target only ever blocks its own thread.
//
//   class Model : public SnapshotSink { ... };
//   StatsWatcher w(0, target, &security, absl::Seconds(1), &model);
//   w.Start();
//   ... every screen refresh: w.CheckStalled(absl::Now());
//   w.Stop();   // also done by the destructor
#ifndef MYDEV_TOOLS_STATS_CLIENT_STATS_WATCHER_H_
#define MYDEV_TOOLS_STATS_CLIENT_STATS_WATCHER_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/stats_client/connection.h"
#include "tools/stats_client/snapshot_sink.h"

namespace mydev::stats_client {

// One target's stream and its retry loop.
class StatsWatcher {
 public:
  // index: how the sink's calls name this target; interval:
  // WatchStatsRequest.interval_ms. security and sink must outlive the watcher.
  StatsWatcher(size_t index, Target target, const ClientSecurity* security, absl::Duration interval,
               SnapshotSink* sink);
  ~StatsWatcher();

  StatsWatcher(const StatsWatcher&) = delete;
  StatsWatcher& operator=(const StatsWatcher&) = delete;

  // Starts the thread.
  void Start();

  // Cancels the stream, ends the thread and waits for it.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Cancels a stream that has delivered nothing for StallTimeout() (a host
  // that vanished without closing the connection): the loop then marks the
  // target down and reconnects. Call it now and then (a screen's refresh, a
  // housekeeping thread).
  void CheckStalled(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // How long a stream may be silent: three intervals, at least 5 s.
  absl::Duration StallTimeout() const;

 private:
  // The thread: connect, read until the stream ends, report down, back off, again.
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const size_t index_;
  const Target target_;
  const ClientSecurity* const security_;
  const absl::Duration interval_;
  SnapshotSink* const sink_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* live_ ABSL_GUARDED_BY(mu_) = nullptr;  // the stream being read
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);             // stream start or its latest snapshot
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;                 // CheckStalled cancelled live_
  std::thread thread_;
};

}  // namespace mydev::stats_client

#endif  // MYDEV_TOOLS_STATS_CLIENT_STATS_WATCHER_H_
