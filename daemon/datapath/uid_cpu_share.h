// uid_cpu_share.h — a device thread's time, shared fairly between uids.
//
// Every session of a device is delivered to on the device's one thread, so a
// session whose filter is expensive (thousands of instructions run on every
// packet) would slow the device for every other user. UidCpuShare accounts
// the thread's time spent delivering to each uid's sessions, in windows of
// fixed length; while sessions of two or more uids share the device, a uid
// that has used up its share of the current window has its sessions shed the
// rest of the window's packets (counted as their own drops, see
// Session::Shed), so its filters can cost only itself. With one uid on the
// device nobody else is slowed, and nothing is shed.
//
// Used by the device thread only: no locks.
//
//   UidCpuShare shares(0.25, absl::Milliseconds(100));
//   shares.StartBatch(now_ns, /*distinct_uids=*/2);
//   for (Session* s : sessions) {
//     if (shares.OverShare(s->owner().uid)) { s->Shed(batch, now_ns); continue; }
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
  // while two or more uids share the device; 1 = no limit.
  UidCpuShare(double share, absl::Duration window);

  // Called before each batch: starts a new window when the current one has
  // passed (forgetting what was used), and notes whether shares are enforced
  // (distinct_uids >= 2).
  void StartBatch(int64_t now_ns, size_t distinct_uids);

  // True when uid has used its share of the current window (and shares are
  // enforced): its sessions shed this batch.
  bool OverShare(uint32_t uid) const;

  // Adds ns of the device thread's time spent on uid's sessions.
  void Charge(uint32_t uid, int64_t ns);

  // The budget of one uid per window, in ns.
  int64_t budget_ns() const { return budget_ns_; }

 private:
  const int64_t window_ns_;
  const int64_t budget_ns_;
  int64_t window_start_ns_ = 0;
  bool enforcing_ = false;
  absl::flat_hash_map<uint32_t, int64_t> used_ns_;  // this window, per uid
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_UID_CPU_SHARE_H_
