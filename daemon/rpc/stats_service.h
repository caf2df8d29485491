// stats_service.h — mydev.v1.Stats: read-only device and session counters,
// and a server-streaming watch for dashboards. Changes nothing.
//
// Who sees what is the StatsAuthenticator's answer (stats_authenticator.h),
// applied by ScopeSnapshot():
//   * STATS_SCOPE_LOCAL (the Unix socket): everyone sees every counter; a
//     session's uid, pid, comm and cmdline are shown only to its owner, root
//     and the config's stats_viewers (AccessPolicy::MaySeeOwner); for anyone
//     else uid = kHiddenUid (4294967295), pid = 0, comm = cmdline = "". A
//     caller whose credentials are unknown sees no owner at all.
//   * STATS_SCOPE_SESSIONS (remote): every row, owners included.
//   * STATS_SCOPE_DEVICES (remote): device rows only.
// Every snapshot carries the scope it was cut to and the host name.
//
// Each WatchStats stream holds a sync-server thread for its whole life, so
// streams are capped: max_total in all and max_per_client per client
// (StatsCaller::client: a uid locally, a token name or certificate subject
// remotely; root is exempt locally; unknown local peers share one count).
// One more is RESOURCE_EXHAUSTED naming the config field.
//
//   StatsService stats(&manager, &peers, WatchLimits{16, 4});     // local
//   StatsService remote(&manager, std::make_shared<RemoteStatsAuthenticator>(...),
//                       WatchLimits{32, 4, "stats_listener.max_watchers",
//                                   "stats_listener.max_watchers_per_client"});
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
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/control/access_policy.h"
#include "daemon/control/session_manager.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "daemon/rpc/stats_authenticator.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {

// The WatchStats caps, and the config fields RESOURCE_EXHAUSTED names.
struct WatchLimits {
  uint32_t max_total = 16;
  uint32_t max_per_client = 4;
  const char* total_field = "limits.max_watch_streams";
  const char* per_client_field = "limits.max_watch_streams_per_uid";
};

struct WatchClock {
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Longest real wait between checks for a cancelled client (the sync API
  // has no cancellation callback) or a due snapshot by now().
  absl::Duration recheck = absl::Milliseconds(50);
};

// Cuts a full snapshot (TakeStatsSnapshot) down to what caller may see (see
// the file comment) and stamps it with caller.scope.
void ScopeSnapshot(const StatsCaller& caller, const AccessPolicy& access,
                   mydev::v1::StatsSnapshot* snapshot);

// This machine's host name (gethostname), "" if unknown.
std::string HostName();

class StatsService final : public mydev::v1::Stats::Service {
 public:
  // The local socket's service: callers by SO_PEERCRED (peers may be null:
  // every owner hidden).
  StatsService(const SessionManager* sessions, const PeerCredentialsTable* peers,
               const WatchLimits& watch_limits = {}, WatchClock clock = {});
  // Callers as `auth` says (e.g. the remote listener's RemoteStatsAuthenticator).
  StatsService(const SessionManager* sessions, std::shared_ptr<const StatsAuthenticator> auth,
               const WatchLimits& watch_limits, WatchClock clock = {});

  grpc::Status GetStats(grpc::ServerContext* ctx, const mydev::v1::GetStatsRequest* req,
                        mydev::v1::StatsSnapshot* resp) override;
  // Sends a snapshot every interval_ms (0 = 1000, clamped to [100, 60000])
  // until the client cancels or Shutdown() is called.
  grpc::Status WatchStats(grpc::ServerContext* ctx, const mydev::v1::WatchStatsRequest* req,
                          grpc::ServerWriter<mydev::v1::StatsSnapshot>* writer) override;

  // Ends every WatchStats stream (UNAVAILABLE) and refuses new ones.
  void Shutdown();

  // WatchStats streams admitted and not yet ended.
  uint32_t watch_streams() const;

 private:
  // The snapshot as this caller may see it.
  void TakeSnapshotFor(const StatsCaller& caller, mydev::v1::StatsSnapshot* out) const;

  // Counts a new stream of this caller, or says why it may not open.
  grpc::Status AdmitWatch(const StatsCaller& caller);
  void EndWatch(const StatsCaller& caller);

  const SessionManager* const sessions_;
  const std::shared_ptr<const StatsAuthenticator> auth_;
  const WatchLimits watch_limits_;
  const WatchClock clock_;
  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t watches_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint32_t> watches_by_client_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_STATS_SERVICE_H_
