// stats_service.cc — see stats_service.h.
#include "daemon/rpc/stats_service.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "daemon/control/access_policy.h"
#include "daemon/rpc/stats_snapshot.h"

namespace mydev::daemon {

void StatsService::TakeSnapshotFor(grpc::ServerContext* ctx, mydev::v1::StatsSnapshot* out) const {
  TakeStatsSnapshot(*sessions_, out);
  std::optional<Caller> caller;
  if (peers_ != nullptr) {
    absl::StatusOr<Credentials> who = peers_->ForPeer(ctx->peer());
    if (who.ok()) caller = LookUpCaller(who->uid, who->gid);
  }
  for (mydev::v1::SessionStats& s : *out->mutable_sessions()) {
    if (caller && sessions_->access().MaySeeOwner(*caller, s.uid())) continue;
    s.set_uid(kHiddenUid);
    s.set_pid(0);
  }
}

grpc::Status StatsService::GetStats(grpc::ServerContext* ctx, const mydev::v1::GetStatsRequest*,
                                    mydev::v1::StatsSnapshot* resp) {
  TakeSnapshotFor(ctx, resp);
  return grpc::Status::OK;
}

grpc::Status StatsService::AdmitWatch(grpc::ServerContext* ctx, int64_t* uid_key) {
  *uid_key = -1;
  if (peers_ != nullptr) {
    absl::StatusOr<Credentials> who = peers_->ForPeer(ctx->peer());
    if (who.ok()) *uid_key = who->uid;
  }
  absl::MutexLock lock(&mu_);
  uint32_t& mine = watches_by_uid_[*uid_key];  // 0 if new: erased again on refusal
  if (*uid_key != 0 && mine >= watch_limits_.max_per_uid)
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("uid ", *uid_key, " already has ", mine,
                                     " WatchStats streams (limits.max_watch_streams_per_uid ",
                                     watch_limits_.max_per_uid, "); close one first"));
  if (watches_ >= watch_limits_.max_total) {
    if (mine == 0) watches_by_uid_.erase(*uid_key);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("mydevd already serves ", watches_,
                     " WatchStats streams (limits.max_watch_streams ", watch_limits_.max_total,
                     "); close one, or poll with GetStats"));
  }
  ++mine;
  ++watches_;
  return grpc::Status::OK;
}

void StatsService::EndWatch(int64_t uid_key) {
  absl::MutexLock lock(&mu_);
  --watches_;
  auto it = watches_by_uid_.find(uid_key);
  if (it != watches_by_uid_.end() && --it->second == 0) watches_by_uid_.erase(it);
}

grpc::Status StatsService::WatchStats(grpc::ServerContext* ctx,
                                      const mydev::v1::WatchStatsRequest* req,
                                      grpc::ServerWriter<mydev::v1::StatsSnapshot>* writer) {
  int64_t uid_key;
  if (grpc::Status admitted = AdmitWatch(ctx, &uid_key); !admitted.ok()) return admitted;
  struct Release {
    StatsService* self;
    int64_t key;
    ~Release() { self->EndWatch(key); }
  } release{this, uid_key};
  const uint32_t ms = req->interval_ms() == 0 ? 1000 : std::clamp(req->interval_ms(), 100u, 60000u);
  const absl::Duration interval = absl::Milliseconds(ms);
  // Cancellation has no callback in the sync API: re-check it at least this often.
  const absl::Duration slice = clock_.recheck;
  absl::Time next = clock_.now();
  for (;;) {
    mydev::v1::StatsSnapshot snap;
    TakeSnapshotFor(ctx, &snap);
    if (!writer->Write(snap)) return grpc::Status::OK;  // client went away
    next += interval;
    for (;;) {
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      absl::Time now = clock_.now();
      if (now >= next) break;
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), std::min(slice, next - now)))
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "mydevd is shutting down");
    }
  }
}

uint32_t StatsService::watch_streams() const {
  absl::MutexLock lock(&mu_);
  return watches_;
}

void StatsService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
}

}  // namespace mydev::daemon
