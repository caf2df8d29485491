// stats_snapshot.h — fills the proto counters (mydev.v1.SessionStats,
// DeviceStats, StatsSnapshot) from the live sessions and devices: every
// field, owners included. Hiding what a caller may not see is the Stats
// service's job (stats_service.h); Capture's GetSessionStats answers the
// owner, who sees everything.
//
//   mydev::v1::StatsSnapshot snap;
//   TakeStatsSnapshot(manager, &snap);
//   // snap.sessions(0).comm() == "tcpdump", .ring_fill_bytes() == 8192, ...
//
// Cheap: per session one lock of the session (the fan-out takes it once per
// batch) and one read of the client's consumer position; per device one lock
// and the backend's Health().
#ifndef MYDEV_DAEMON_RPC_STATS_SNAPSHOT_H_
#define MYDEV_DAEMON_RPC_STATS_SNAPSHOT_H_

#include "daemon/control/session_manager.h"
#include "proto/mydev.pb.h"

namespace mydev::daemon {

// One session's row: owner, settings (current direction, link type and
// filter), counters and ring gauges.
void FillSessionStats(Session& session, const SessionManager& manager,
                      mydev::v1::SessionStats* out);
// One device's row: counters, state (UP, or WAITING with the backend's
// reason), default link type, sessions and promiscuous references, and the
// kernel pre-filter (its kind, length, and why it passes everything if so).
void FillDeviceStats(const DeviceFanout& device, mydev::v1::DeviceStats* out);
// The proto's name for a device's kernel pre-filter state.
mydev::v1::KernelFilterState KernelFilterStateOf(const KernelFilterStatus& kf);
// Every device and session, with the time it was taken.
void TakeStatsSnapshot(const SessionManager& manager, mydev::v1::StatsSnapshot* out);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_STATS_SNAPSHOT_H_
