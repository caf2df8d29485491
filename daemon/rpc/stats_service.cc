// stats_service.cc — see stats_service.h.
#include "daemon/rpc/stats_service.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "daemon/rpc/grpc_status.h"
#include "daemon/rpc/stats_snapshot.h"

namespace mydev::daemon {

void ScopeSnapshot(const StatsCaller& caller, const AccessPolicy& access,
                   mydev::v1::StatsSnapshot* snapshot) {
  snapshot->set_scope(caller.scope);
  switch (caller.scope) {
    case mydev::v1::STATS_SCOPE_SESSIONS:
      return;
    case mydev::v1::STATS_SCOPE_LOCAL:
      for (mydev::v1::SessionStats& s : *snapshot->mutable_sessions()) {
        if (caller.local && access.MaySeeOwner(*caller.local, s.uid())) continue;
        s.set_uid(kHiddenUid);
        s.set_pid(0);
        s.clear_comm();
        s.clear_cmdline();
      }
      return;
    default:  // DEVICES, and anything unforeseen: the least
      snapshot->set_scope(mydev::v1::STATS_SCOPE_DEVICES);
      snapshot->clear_sessions();
      return;
  }
}

std::string HostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

StatsService::StatsService(const SessionManager* sessions, const PeerCredentialsTable* peers,
                           const WatchLimits& watch_limits, WatchClock clock)
    : StatsService(sessions, std::make_shared<LocalStatsAuthenticator>(peers), watch_limits,
                   std::move(clock)) {}

StatsService::StatsService(const SessionManager* sessions,
                           std::shared_ptr<const StatsAuthenticator> auth,
                           const WatchLimits& watch_limits, WatchClock clock)
    : sessions_(sessions),
      auth_(std::move(auth)),
      watch_limits_(watch_limits),
      clock_(std::move(clock)) {}

void StatsService::TakeSnapshotFor(const StatsCaller& caller, mydev::v1::StatsSnapshot* out) const {
  TakeStatsSnapshot(*sessions_, out);
  ScopeSnapshot(caller, sessions_->access(), out);
  out->set_host(HostName());
}

grpc::Status StatsService::GetStats(grpc::ServerContext* ctx, const mydev::v1::GetStatsRequest*,
                                    mydev::v1::StatsSnapshot* resp) {
  absl::StatusOr<StatsCaller> caller = auth_->Authenticate(*ctx);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  TakeSnapshotFor(*caller, resp);
  return grpc::Status::OK;
}

grpc::Status StatsService::AdmitWatch(const StatsCaller& caller) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "mydevd is shutting down");
  uint32_t& mine = watches_by_client_[caller.client];  // 0 if new: erased again on refusal
  if (!caller.exempt_from_client_cap && mine >= watch_limits_.max_per_client) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat(caller.client, " already has ", mine, " WatchStats streams (",
                                     watch_limits_.per_client_field, " ",
                                     watch_limits_.max_per_client, "); close one first"));
  }
  if (watches_ >= watch_limits_.max_total) {
    if (mine == 0) watches_by_client_.erase(caller.client);
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("mydevd already serves ", watches_, " WatchStats streams (",
                                     watch_limits_.total_field, " ", watch_limits_.max_total,
                                     "); close one, or poll with GetStats"));
  }
  ++mine;
  ++watches_;
  return grpc::Status::OK;
}

void StatsService::EndWatch(const StatsCaller& caller) {
  absl::MutexLock lock(&mu_);
  --watches_;
  auto it = watches_by_client_.find(caller.client);
  if (it != watches_by_client_.end() && --it->second == 0) watches_by_client_.erase(it);
}

grpc::Status StatsService::WatchStats(grpc::ServerContext* ctx,
                                      const mydev::v1::WatchStatsRequest* req,
                                      grpc::ServerWriter<mydev::v1::StatsSnapshot>* writer) {
  absl::StatusOr<StatsCaller> caller = auth_->Authenticate(*ctx);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (grpc::Status admitted = AdmitWatch(*caller); !admitted.ok()) return admitted;
  struct Release {
    StatsService* self;
    const StatsCaller& caller;
    ~Release() { self->EndWatch(caller); }
  } release{this, *caller};
  const uint32_t ms = req->interval_ms() == 0 ? 1000 : std::clamp(req->interval_ms(), 100u, 60000u);
  const absl::Duration interval = absl::Milliseconds(ms);
  // Cancellation has no callback in the sync API: re-check it at least this often.
  const absl::Duration slice = clock_.recheck;
  absl::Time next = clock_.now();
  for (;;) {
    mydev::v1::StatsSnapshot snap;
    TakeSnapshotFor(*caller, &snap);
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
