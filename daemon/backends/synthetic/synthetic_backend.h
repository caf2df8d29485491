// synthetic_backend.h — a backend that needs no device and no privilege: the
// frames of SyntheticFrameGenerator (synthetic_frame_generator.h) delivered
// from its own thread, paced at rate_pps (0 = as fast as possible), in
// batches of up to max_batch without copying.
//
// Idle costs nothing: while SetActive(false) is in force (DeviceFanout: no
// session open) the thread sleeps until SetActive(true) or Stop(), and the
// schedule resumes from then (no burst of the packets "missed"). Paced, the
// thread wakes at most every kMinWakeInterval and hands over every packet
// due by then, each stamped with its own scheduled time (at 20,000 pps: 20
// packets per wake-up, not one wake-up per packet), unless a session is in
// immediate mode (SetImmediate(true)): then it wakes for each packet's time.
//
//   SyntheticOptions o; o.rate_pps = 10000; o.seed = 7;
//   auto dev = std::make_unique<SyntheticBackend>(info, o);
//   dev->Start(sink);           // sink gets batches paced at 10000 pps
#ifndef MYDEV_DAEMON_BACKENDS_SYNTHETIC_SYNTHETIC_BACKEND_H_
#define MYDEV_DAEMON_BACKENDS_SYNTHETIC_SYNTHETIC_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/backends/backend.h"
#include "daemon/backends/synthetic/synthetic_frame_generator.h"

namespace mydev::daemon {

struct SyntheticOptions {
  uint64_t rate_pps = 1000;  // 0 = as fast as possible
  uint64_t seed = 0;
  uint64_t count = 0;        // stop after this many packets; 0 = forever
  uint32_t max_batch = 256;  // packets per sink call at most (and at most
                             // SyntheticFrameGenerator::kDefaultPoolSize)
};

class SyntheticBackend : public Backend {
 public:
  SyntheticBackend(DeviceInfo info, const SyntheticOptions& options);
  ~SyntheticBackend() override;

  const DeviceInfo& info() const override { return info_; }
  absl::Status Start(PacketSink sink) override;
  void Stop() override;
  // Pauses (false) or resumes (true) the generator; true until called.
  void SetActive(bool active) override;
  // Per-packet wake-ups (true) or at most one per kMinWakeInterval.
  absl::Status SetImmediate(bool on) override;

  // Paced and not immediate, the thread sleeps at least this long between
  // batches.
  static constexpr int64_t kMinWakeIntervalNs = 1'000'000;

  uint64_t packets_generated() const { return generated_.load(std::memory_order_relaxed); }

 private:
  void Run(PacketSink sink);
  // Sleeps until deadline_ns (CLOCK_MONOTONIC) or Stop(); false when stopping.
  bool SleepUntil(int64_t deadline_ns);
  // Sleeps while paused; false when stopping. *resumed: it did sleep.
  bool WaitActive(bool* resumed);
  bool ActiveOrStopping() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_ || stopping_; }

  const DeviceInfo info_;
  const SyntheticOptions options_;
  std::atomic<uint64_t> generated_{0};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool active_ ABSL_GUARDED_BY(mu_) = true;
  std::atomic<bool> immediate_{false};
  std::thread thread_;  // touched only by Start/Stop (the owner's thread)
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_SYNTHETIC_SYNTHETIC_BACKEND_H_
