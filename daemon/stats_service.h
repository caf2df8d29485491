// stats_service.h — mydev.v1.Stats: read-only device and session counters,
// and a server-streaming watch for dashboards. Changes nothing.
//
// Everyone sees every counter. A session's uid and pid are shown only to its
// owner, root and the config's stats_viewers (AccessPolicy::MaySeeOwner);
// for anyone else they read uid = kHiddenUid (4294967295) and pid = 0. A
// caller whose credentials are unknown (no peers table, or not a connection
// the acceptor recorded) sees no owner at all.
//
//   StatsService stats(&manager, &peers);
//   builder.RegisterService(&stats);
//   ...
//   stats.Shutdown();        // ends every WatchStats stream, then server->Shutdown()
#ifndef MYDEV_DAEMON_STATS_SERVICE_H_
#define MYDEV_DAEMON_STATS_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/peer_acceptor.h"
#include "daemon/session_manager.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {

class StatsService final : public mydev::v1::Stats::Service {
 public:
  StatsService(const SessionManager* sessions, const PeerCredentialsTable* peers)
      : sessions_(sessions), peers_(peers) {}

  grpc::Status GetStats(grpc::ServerContext* ctx, const mydev::v1::GetStatsRequest* req,
                        mydev::v1::StatsSnapshot* resp) override;
  // Sends a snapshot every interval_ms (0 = 1000, clamped to [100, 60000])
  // until the client cancels or Shutdown() is called.
  grpc::Status WatchStats(grpc::ServerContext* ctx, const mydev::v1::WatchStatsRequest* req,
                          grpc::ServerWriter<mydev::v1::StatsSnapshot>* writer) override;

  void Shutdown();

 private:
  // The snapshot as this caller may see it (owners hidden as documented).
  void TakeSnapshotFor(grpc::ServerContext* ctx, mydev::v1::StatsSnapshot* out) const;

  const SessionManager* const sessions_;
  const PeerCredentialsTable* const peers_;  // may be null: owners hidden
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_STATS_SERVICE_H_
