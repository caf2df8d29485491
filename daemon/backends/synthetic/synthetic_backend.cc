// synthetic_backend.cc — the paced generator thread.
#include "daemon/backends/synthetic/synthetic_backend.h"

#include <sys/prctl.h>

#include <algorithm>

#include "absl/time/time.h"

namespace mydev::daemon {

SyntheticBackend::SyntheticBackend(DeviceInfo info, const SyntheticOptions& options)
    : info_(std::move(info)), options_(options) {}

SyntheticBackend::~SyntheticBackend() { Stop(); }

absl::Status SyntheticBackend::Start(PacketSink sink) {
  if (thread_.joinable())
    return absl::FailedPreconditionError("device '" + info_.name + "' is already started");
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this, sink = std::move(sink)] { Run(sink); });
  return absl::OkStatus();
}

void SyntheticBackend::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void SyntheticBackend::SetActive(bool active) {
  absl::MutexLock lock(&mu_);  // the waiting thread re-checks on unlock
  active_ = active;
}

absl::Status SyntheticBackend::SetImmediate(bool on) {
  immediate_.store(on, std::memory_order_relaxed);
  return absl::OkStatus();
}

bool SyntheticBackend::WaitActive(bool* resumed) {
  absl::MutexLock lock(&mu_);
  *resumed = !active_ && !stopping_;
  mu_.Await(absl::Condition(this, &SyntheticBackend::ActiveOrStopping));
  return !stopping_;
}

bool SyntheticBackend::SleepUntil(int64_t deadline_ns) {
  int64_t wait = deadline_ns - ClockNs(CLOCK_MONOTONIC);
  absl::MutexLock lock(&mu_);
  if (wait > 0) mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Nanoseconds(wait));
  return !stopping_;
}

void SyntheticBackend::Run(PacketSink sink) {
  // Wake at each packet's due time, not up to 50 us later (the default
  // slack): a session in immediate mode sees the packet that much sooner.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  SyntheticFrameGenerator gen(options_.seed);
  // The batch points straight into the generator's templates, which stay
  // unchanged for pool_size() frames: no copy here, one in the fan-out.
  const uint32_t max_batch =
      static_cast<uint32_t>(std::clamp<uint64_t>(options_.max_batch, 1, gen.pool_size()));
  std::vector<Packet> batch(max_batch);
  int64_t start_mono = ClockNs(CLOCK_MONOTONIC);
  int64_t start_real = ClockNs(CLOCK_REALTIME);
  const uint64_t rate = options_.rate_pps;
  // Absolute deadline of packet k: start + k / rate seconds (no drift).
  auto offset_ns = [rate](uint64_t k) {
    return static_cast<int64_t>(static_cast<unsigned __int128>(k) * 1'000'000'000u / rate);
  };
  uint64_t sent = 0;
  int64_t last_wake = start_mono;  // of the last batch handed over
  for (;;) {
    if (options_.count != 0 && sent >= options_.count) return;
    bool resumed;
    if (!WaitActive(&resumed)) return;
    if (resumed && rate != 0) {  // the schedule goes on from now: packet `sent` is due
      start_mono = ClockNs(CLOCK_MONOTONIC) - offset_ns(sent);
      start_real = ClockNs(CLOCK_REALTIME) - offset_ns(sent);
    }
    uint64_t n = max_batch;
    if (options_.count != 0) n = std::min<uint64_t>(n, options_.count - sent);
    if (rate != 0) {
      const int64_t now = ClockNs(CLOCK_MONOTONIC);
      int64_t elapsed = now - start_mono;
      uint64_t due =
          static_cast<uint64_t>(static_cast<unsigned __int128>(elapsed) * rate / 1'000'000'000u) +
          1;
      if (due <= sent) {
        // Not yet: sleep until the next packet's time, and (unless a session
        // is immediate) at least kMinWakeInterval after the last batch, so
        // that low rates wake once per interval, not once per packet.
        int64_t wake = start_mono + offset_ns(sent);
        if (!immediate_.load(std::memory_order_relaxed))
          wake = std::max(wake, last_wake + kMinWakeIntervalNs);
        if (!SleepUntil(wake)) return;
        continue;
      }
      n = std::min<uint64_t>(n, due - sent);
      last_wake = now;
    }
    const int64_t now_real = ClockNs(CLOCK_REALTIME);
    for (uint64_t i = 0; i < n; ++i) {
      Packet& p = batch[i];
      const SyntheticFrame f = gen.NextInPlace();
      p.data = f.data;
      p.len = p.caplen = f.size;
      p.direction = f.direction;
      p.ts_ns = static_cast<uint64_t>(rate != 0 ? start_real + offset_ns(sent + i) : now_real);
    }
    sink(absl::MakeConstSpan(batch.data(), n));
    sent += n;
    generated_.store(sent, std::memory_order_relaxed);
  }
}

}  // namespace mydev::daemon
