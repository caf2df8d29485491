// stats_snapshot.h — fills the proto counters (mydev.v1.SessionStats,
// DeviceStats, StatsSnapshot) from the live sessions and devices.
//
//   mydev::v1::StatsSnapshot snap;
//   TakeStatsSnapshot(manager, &snap);
#ifndef MYDEV_DAEMON_RPC_STATS_SNAPSHOT_H_
#define MYDEV_DAEMON_RPC_STATS_SNAPSHOT_H_

#include "daemon/control/session_manager.h"
#include "proto/mydev.pb.h"

namespace mydev::daemon {

void FillSessionStats(Session& session, const SessionManager& manager,
                      mydev::v1::SessionStats* out);
void TakeStatsSnapshot(const SessionManager& manager, mydev::v1::StatsSnapshot* out);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_STATS_SNAPSHOT_H_
