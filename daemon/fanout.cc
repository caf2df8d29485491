// fanout.cc — see fanout.h.
#include "daemon/fanout.h"

#include <time.h>

namespace mydev::daemon {
namespace {

// The clock the rings' wake timeouts are measured in.
int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

DeviceRuntime::DeviceRuntime(std::unique_ptr<Backend> backend, absl::Duration tick)
    : backend_(std::move(backend)), tick_(tick), sessions_(std::make_shared<SessionList>()) {}

DeviceRuntime::~DeviceRuntime() { Stop(); }

absl::Status DeviceRuntime::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (running_) return absl::FailedPreconditionError("device already started");
    running_ = true;
    stopping_ = false;
  }
  absl::Status s = backend_->Start([this](absl::Span<const Packet> batch) { OnBatch(batch); });
  if (!s.ok()) {
    absl::MutexLock lock(&mu_);
    running_ = false;
    return s;
  }
  ticker_ = std::thread([this] { RunTicker(); });
  return absl::OkStatus();
}

void DeviceRuntime::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!running_) return;
    stopping_ = true;
  }
  backend_->Stop();
  if (ticker_.joinable()) ticker_.join();
  absl::MutexLock lock(&mu_);
  running_ = false;
}

void DeviceRuntime::AddSession(std::shared_ptr<Session> session) {
  absl::MutexLock lock(&mu_);
  auto next = std::make_shared<SessionList>(*sessions_);
  next->push_back(std::move(session));
  sessions_ = std::move(next);
}

void DeviceRuntime::RemoveSession(uint64_t session_id) {
  absl::MutexLock lock(&mu_);
  auto next = std::make_shared<SessionList>();
  next->reserve(sessions_->size());
  for (const auto& s : *sessions_)
    if (s->id() != session_id) next->push_back(s);
  sessions_ = std::move(next);
}

std::shared_ptr<const DeviceRuntime::SessionList> DeviceRuntime::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return sessions_;
}

void DeviceRuntime::OnBatch(absl::Span<const Packet> batch) {
  uint64_t bytes = 0;
  for (const Packet& p : batch) bytes += p.len;
  packets_seen_.fetch_add(batch.size(), std::memory_order_relaxed);
  bytes_seen_.fetch_add(bytes, std::memory_order_relaxed);
  std::shared_ptr<const SessionList> sessions = Snapshot();
  if (sessions->empty()) return;
  const int64_t now = MonotonicNs();
  for (const auto& s : *sessions) s->Deliver(batch, now);
}

void DeviceRuntime::TickAll() {
  std::shared_ptr<const SessionList> sessions = Snapshot();
  const int64_t now = MonotonicNs();
  for (const auto& s : *sessions) s->Tick(now);
}

void DeviceRuntime::RunTicker() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), tick_)) return;
    }
    TickAll();
  }
}

DeviceCounters DeviceRuntime::counters() const {
  DeviceCounters c;
  c.packets_seen = packets_seen_.load(std::memory_order_relaxed);
  c.bytes_seen = bytes_seen_.load(std::memory_order_relaxed);
  c.packets_ifdropped = backend_->ifdropped();
  c.sessions = static_cast<uint32_t>(Snapshot()->size());
  return c;
}

}  // namespace mydev::daemon
