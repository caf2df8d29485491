// stats_watcher.h — one target's WatchStats stream for `mydevctl top`, on a
// thread of its own, feeding the shared TopModel: every snapshot goes to
// TopModel::Update; a failed, refused or stalled stream marks the target
// DOWN and is retried with backoff (0.25 s doubling to 5 s) until Stop(), so
// a daemon that comes back shows up again by itself. A slow or silent target
// only ever blocks its own thread.
//
//   StatsWatcher w(0, target, security, absl::Seconds(1), &model);
//   w.Start();
//   ... every screen refresh: w.CheckStalled(absl::Now());
//   w.Stop();   // also done by the destructor
#ifndef MYDEV_TOOLS_MYDEVCTL_STATS_WATCHER_H_
#define MYDEV_TOOLS_MYDEVCTL_STATS_WATCHER_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/mydevctl/connection.h"
#include "tools/mydevctl/top_model.h"

namespace mydev::ctl {

// One target's stream and its retry loop.
class StatsWatcher {
 public:
  // index: the target's index in model; interval: WatchStatsRequest.interval_ms.
  // security and model must outlive the watcher.
  StatsWatcher(size_t index, Target target, const ClientSecurity* security, absl::Duration interval,
               TopModel* model);
  ~StatsWatcher();

  StatsWatcher(const StatsWatcher&) = delete;
  StatsWatcher& operator=(const StatsWatcher&) = delete;

  // Starts the thread.
  void Start();

  // Cancels the stream, ends the thread and waits for it.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Cancels a stream that has delivered nothing for StallTimeout() (a host
  // that vanished without closing the connection): the loop then marks the
  // target DOWN and reconnects. Call it now and then (the screen's refresh).
  void CheckStalled(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // How long a stream may be silent: three intervals, at least 5 s.
  absl::Duration StallTimeout() const;

 private:
  // The thread: connect, read until the stream ends, mark down, back off, again.
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const size_t index_;
  const Target target_;
  const ClientSecurity* const security_;
  const absl::Duration interval_;
  TopModel* const model_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* live_ ABSL_GUARDED_BY(mu_) = nullptr;  // the stream being read
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);             // stream start or its latest snapshot
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;                 // CheckStalled cancelled live_
  std::thread thread_;
};

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_STATS_WATCHER_H_
