// uid_cpu_share.h — a device thread's time, shared fairly between uids.
//
// Every session of a device is delivered to on the device's one thread, so a
// session whose filter is expensive (thousands of instructions run on every
// packet) would slow the device for every other user. UidCpuShare accounts
// the thread's time spent delivering to (and waking) each uid's sessions, in windows of
// fixed length. A uid is shed — its sessions drop the rest of the window's
// packets unfiltered, counted as their own drops (Session::Shed) — when all
// of these hold:
//   - sessions of two or more uids share the device (with one uid nobody
//     else is slowed);
//   - the uid has used its share of the window (`share`, e.g. 25%);
//   - the thread is contended: deliveries to every uid have taken at least
//     `busy` (60%) of the window so far (wall time, so a thread starved by
//     other processes counts as busy too), so a heavy but legitimate user
//     on a thread that keeps up is not shed.
// Once shed, a uid stays shed until the window ends. So one user's filters
// can cost only that user, and the device keeps its rate for the others.
//
// Used by the device thread only: no locks.
//
//   UidCpuShare shares(0.25, absl::Milliseconds(100));
//   shares.StartBatch(now_ns, /*distinct_uids=*/2);
//   for (Session* s : sessions) {
//     if (shares.ShouldShed(s->owner().uid)) { s->Shed(batch, now_ns); continue; }
//     int64_t t0 = ClockNs(CLOCK_MONOTONIC);
//     s->Deliver(batch, now_ns);
//     shares.Charge(s->owner().uid, ClockNs(CLOCK_MONOTONIC) - t0);
//   }
#ifndef MYDEV_DAEMON_DATAPATH_UID_CPU_SHARE_H_
#define MYDEV_DAEMON_DATAPATH_UID_CPU_SHARE_H_

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace mydev::daemon {

class UidCpuShare {
 public:
  // share: the fraction (0, 1] of each window one uid's sessions may take
  // while the thread is contended and two or more uids share the device
  // (1 = no limit). busy: the fraction of the window so far that deliveries
  // must have taken for the thread to count as contended.
  UidCpuShare(double share, absl::Duration window, double busy = kDefaultBusy);

  static constexpr double kDefaultBusy = 0.6;

  // Called before each batch: starts a new window when the current one has
  // passed (forgetting what was used and who was shed), and notes the time
  // and whether shares are enforced (distinct_uids >= 2).
  void StartBatch(int64_t now_ns, size_t distinct_uids);

  // True when uid's sessions are to shed this batch (see the file comment).
  bool ShouldShed(uint32_t uid);

  // Adds ns of the device thread's time spent on uid's sessions.
  void Charge(uint32_t uid, int64_t ns);

  // The budget of one uid per window, in ns.
  int64_t budget_ns() const { return budget_ns_; }

 private:
  struct Use {
    int64_t ns = 0;     // delivery time this window
    bool shed = false;  // shed for the rest of this window
  };
  const int64_t window_ns_;
  const int64_t budget_ns_;
  const double busy_;
  int64_t window_start_ns_ = 0;
  int64_t now_ns_ = 0;
  int64_t total_ns_ = 0;  // every uid's delivery time this window
  bool enforcing_ = false;
  absl::flat_hash_map<uint32_t, Use> use_;  // this window, per uid
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_UID_CPU_SHARE_H_
