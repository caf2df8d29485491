// stats_service.h — mydev.v1.Stats: read-only device and session counters,
// and a server-streaming watch for dashboards. Changes nothing.
//
//   StatsService stats(&manager);
//   builder.RegisterService(&stats);
//   ...
//   stats.Shutdown();        // ends every WatchStats stream, then server->Shutdown()
#ifndef MYDEV_DAEMON_STATS_SERVICE_H_
#define MYDEV_DAEMON_STATS_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/session_manager.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {

class StatsService final : public mydev::v1::Stats::Service {
 public:
  explicit StatsService(const SessionManager* sessions) : sessions_(sessions) {}

  grpc::Status GetStats(grpc::ServerContext* ctx, const mydev::v1::GetStatsRequest* req,
                        mydev::v1::StatsSnapshot* resp) override;
  // Sends a snapshot every interval_ms (0 = 1000, clamped to [100, 60000])
  // until the client cancels or Shutdown() is called.
  grpc::Status WatchStats(grpc::ServerContext* ctx, const mydev::v1::WatchStatsRequest* req,
                          grpc::ServerWriter<mydev::v1::StatsSnapshot>* writer) override;

  void Shutdown();

 private:
  const SessionManager* const sessions_;
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_STATS_SERVICE_H_
