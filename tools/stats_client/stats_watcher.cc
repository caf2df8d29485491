// stats_watcher.cc — see stats_watcher.h.
#include "tools/stats_client/stats_watcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::stats_client {
namespace {

// The backoff between attempts after a failure: first, and at most.
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(250);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

}  // namespace

StatsWatcher::StatsWatcher(size_t index, Target target, const ClientSecurity* security,
                           absl::Duration interval, SnapshotSink* sink)
    : index_(index),
      target_(std::move(target)),
      security_(security),
      interval_(interval),
      sink_(sink) {}

StatsWatcher::~StatsWatcher() { Stop(); }

void StatsWatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StatsWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (live_ != nullptr) live_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

absl::Duration StatsWatcher::StallTimeout() const {
  return std::max(3 * interval_, absl::Seconds(5));
}

void StatsWatcher::CheckStalled(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (live_ != nullptr && !stalled_ && now - last_progress_ > StallTimeout()) {
    stalled_ = true;
    live_->TryCancel();
  }
}

void StatsWatcher::Run() {
  mydev::v1::WatchStatsRequest request;
  request.set_interval_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(interval_)));
  absl::Duration backoff = kFirstBackoff;
  while (true) {
    // A fresh channel per attempt: it connects now, not on the old channel's
    // own (longer) reconnect schedule.
    std::unique_ptr<mydev::v1::Stats::Stub> stub =
        mydev::v1::Stats::NewStub(security_->MakeChannel(target_));
    grpc::ClientContext ctx;
    security_->PrepareCall(&ctx);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      live_ = &ctx;
      stalled_ = false;
      last_progress_ = absl::Now();
    }
    std::unique_ptr<grpc::ClientReader<mydev::v1::StatsSnapshot>> reader =
        stub->WatchStats(&ctx, request);
    mydev::v1::StatsSnapshot snap;
    while (reader->Read(&snap)) {
      sink_->OnSnapshot(index_, snap);
      backoff = kFirstBackoff;
      absl::MutexLock lock(&mu_);
      last_progress_ = absl::Now();
    }
    grpc::Status status = reader->Finish();
    bool stalled;
    {
      absl::MutexLock lock(&mu_);
      live_ = nullptr;
      if (stopping_) return;
      stalled = stalled_;
    }
    if (stalled) {
      sink_->OnDown(index_, absl::StrCat("no snapshot for ", absl::FormatDuration(StallTimeout()),
                                         "; reconnecting"));
    } else if (status.ok()) {
      sink_->OnDown(index_, "the daemon ended the stream; reconnecting");
    } else {
      sink_->OnDown(index_, StatusText(status));
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    if (stopping_) return;
    backoff = std::min(2 * backoff, kMaxBackoff);
  }
}

}  // namespace mydev::stats_client
