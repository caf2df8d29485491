// synthetic_backend.h — a backend that needs no device and no privilege: the
// frames of SyntheticFrameGenerator (synthetic_frame_generator.h) delivered
// from its own thread, paced at rate_pps (0 = as fast as possible), in
// batches of up to max_batch without copying.
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

  uint64_t packets_generated() const { return generated_.load(std::memory_order_relaxed); }

 private:
  void Run(PacketSink sink);
  // Sleeps until deadline_ns (CLOCK_MONOTONIC) or Stop(); false when stopping.
  bool SleepUntil(int64_t deadline_ns);

  const DeviceInfo info_;
  const SyntheticOptions options_;
  std::atomic<uint64_t> generated_{0};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // touched only by Start/Stop (the owner's thread)
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_SYNTHETIC_SYNTHETIC_BACKEND_H_
