// stats_service.cc — see stats_service.h.
#include "daemon/stats_service.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "daemon/stats_snapshot.h"

namespace mydev::daemon {

grpc::Status StatsService::GetStats(grpc::ServerContext*, const mydev::v1::GetStatsRequest*,
                                    mydev::v1::StatsSnapshot* resp) {
  TakeStatsSnapshot(*sessions_, resp);
  return grpc::Status::OK;
}

grpc::Status StatsService::WatchStats(grpc::ServerContext* ctx,
                                      const mydev::v1::WatchStatsRequest* req,
                                      grpc::ServerWriter<mydev::v1::StatsSnapshot>* writer) {
  const uint32_t ms = req->interval_ms() == 0 ? 1000 : std::clamp(req->interval_ms(), 100u, 60000u);
  const absl::Duration interval = absl::Milliseconds(ms);
  // Cancellation has no callback in the sync API: re-check it at least this often.
  const absl::Duration slice = absl::Milliseconds(50);
  absl::Time next = absl::Now();
  for (;;) {
    mydev::v1::StatsSnapshot snap;
    TakeStatsSnapshot(*sessions_, &snap);
    if (!writer->Write(snap)) return grpc::Status::OK;  // client went away
    next += interval;
    for (;;) {
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      absl::Time now = absl::Now();
      if (now >= next) break;
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), std::min(slice, next - now)))
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "mydevd is shutting down");
    }
  }
}

void StatsService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
}

}  // namespace mydev::daemon
