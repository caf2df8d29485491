// stats_service.h — mydev.v1.Stats: read-only device and session counters,
// and a server-streaming watch for dashboards. Changes nothing.
//
// Everyone sees every counter. A session's uid and pid are shown only to its
// owner, root and the config's stats_viewers (AccessPolicy::MaySeeOwner);
// for anyone else they read uid = kHiddenUid (4294967295) and pid = 0. A
// caller whose credentials are unknown (no peers table, or not a connection
// the acceptor recorded) sees no owner at all.
//
// Each WatchStats stream holds a sync-server thread for its whole life, so
// streams are capped: max_total in all and max_per_uid per uid (root exempt;
// callers of unknown uid share one count). One more is RESOURCE_EXHAUSTED.
//
//   StatsService stats(&manager, &peers, WatchLimits{16, 4});
//   builder.RegisterService(&stats);
//   ...
//   stats.Shutdown();        // ends every WatchStats stream, then server->Shutdown()
//
// WatchClock paces WatchStats: the real clock by default; a fuzzer or test
// passes its own now() (e.g. a manual clock) and a short recheck, so a 60 s
// interval costs no real time.
#ifndef MYDEV_DAEMON_RPC_STATS_SERVICE_H_
#define MYDEV_DAEMON_RPC_STATS_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/control/session_manager.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {

struct WatchLimits {
  uint32_t max_total = 16;
  uint32_t max_per_uid = 4;
};

struct WatchClock {
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Longest real wait between checks for a cancelled client (the sync API
  // has no cancellation callback) or a due snapshot by now().
  absl::Duration recheck = absl::Milliseconds(50);
};

class StatsService final : public mydev::v1::Stats::Service {
 public:
  StatsService(const SessionManager* sessions, const PeerCredentialsTable* peers,
               const WatchLimits& watch_limits = {}, WatchClock clock = {})
      : sessions_(sessions), peers_(peers), watch_limits_(watch_limits), clock_(std::move(clock)) {}

  grpc::Status GetStats(grpc::ServerContext* ctx, const mydev::v1::GetStatsRequest* req,
                        mydev::v1::StatsSnapshot* resp) override;
  // Sends a snapshot every interval_ms (0 = 1000, clamped to [100, 60000])
  // until the client cancels or Shutdown() is called.
  grpc::Status WatchStats(grpc::ServerContext* ctx, const mydev::v1::WatchStatsRequest* req,
                          grpc::ServerWriter<mydev::v1::StatsSnapshot>* writer) override;

  void Shutdown();

  // WatchStats streams admitted and not yet ended.
  uint32_t watch_streams() const;

 private:
  // The snapshot as this caller may see it (owners hidden as documented).
  void TakeSnapshotFor(grpc::ServerContext* ctx, mydev::v1::StatsSnapshot* out) const;

  // Counts a new stream of this caller, or says why it may not open.
  grpc::Status AdmitWatch(grpc::ServerContext* ctx, int64_t* uid_key);
  void EndWatch(int64_t uid_key);

  const SessionManager* const sessions_;
  const PeerCredentialsTable* const peers_;  // may be null: owners hidden
  const WatchLimits watch_limits_;
  const WatchClock clock_;
  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t watches_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, uint32_t> watches_by_uid_ ABSL_GUARDED_BY(mu_);  // -1: unknown uid
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_STATS_SERVICE_H_
