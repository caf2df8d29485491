// replay_backend.h — a pcap or pcapng file played as a capture device.
//
// The file is read with libpcap (pcap_open_offline_with_tstamp_precision,
// nanosecond precision), which reads both formats. The device's one link type
// is the file's; every packet is IN.
//
// Pace: packet k is emitted at  start + (ts_k - ts_0) / speed,  ts_0 being the
// first packet's recorded time: speed 1.0 keeps the recorded gaps, 2.0 halves
// them, 0 plays as fast as possible. Timestamps (Packet::ts_ns) are the
// replay's wall-clock time of emission — CLOCK_REALTIME at the start plus that
// scaled offset (at speed 0, the clock when the batch is emitted) — so a
// client sees "live" traffic with the file's relative timing, not the
// recorded absolute dates. A timestamp that goes backwards in the file is
// held at the previous one (offsets never decrease). With loop, each pass
// starts where the previous one ended (the open file is rewound); without, the
// device goes idle after the last packet and stays listed.
// The file is opened once, by Open() (mydevd does that as root, before it
// switches users: capabilities.h), and every pass reads that open file, so
// a file only root may read can be replayed; replacing the file (a new
// inode) does not change what is replayed, rewriting it in place does.
// A read error mid-file (truncated capture, bad record) ends the pass as if at
// end of file, is logged once per pass and shown by Health() (Stats: state
// WAITING, state_detail = the error) until a pass ends cleanly; with loop, the
// next pass waits a back-off of 1 s, doubling to 30 s (reset by a clean pass),
// so a bad file costs a pass and a log line per back-off, not a busy loop.
// A pass without a single packet ends the replay (no busy loop).
//
//   ReplayOptions o; o.path = "/data/x.pcapng"; o.speed = 2.0; o.loop = true;
//   absl::StatusOr<std::unique_ptr<ReplayBackend>> dev = ReplayBackend::Open(info, o);
//   // (*dev)->info().dlts == {file's link type}
//   (*dev)->Start(sink);   // batches at twice the recorded pace, forever
#ifndef MYDEV_DAEMON_BACKENDS_REPLAY_REPLAY_BACKEND_H_
#define MYDEV_DAEMON_BACKENDS_REPLAY_REPLAY_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/unique_fd.h"
#include "daemon/backends/backend.h"

namespace mydev::daemon {

struct ReplayOptions {
  std::string path;
  double speed = 1.0;  // 0 = as fast as possible
  bool loop = false;
  uint32_t max_batch = 256;  // packets per sink call at most
};

class ReplayBackend : public Backend {
 public:
  // Opens the file to learn its link type (NOT_FOUND / INVALID_ARGUMENT with
  // libpcap's message when it cannot be read). info.dlts is replaced by the
  // file's link type; an empty description becomes "replay of <path>".
  static absl::StatusOr<std::unique_ptr<ReplayBackend>> Open(DeviceInfo info,
                                                             const ReplayOptions& options);
  ~ReplayBackend() override;

  const DeviceInfo& info() const override { return info_; }
  absl::Status Start(PacketSink sink) override;
  void Stop() override;

  uint64_t packets_replayed() const { return replayed_.load(std::memory_order_relaxed); }
  uint64_t passes_completed() const { return passes_.load(std::memory_order_relaxed); }
  // True once a non-looping replay has emitted its last packet (or gave up).
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // OK, or UNAVAILABLE with the error of the latest pass (read error, file no
  // longer readable) until a pass ends cleanly.
  absl::Status Health() const override;

 private:
  // One run of the replay thread: the batch being filled and the pace
  // (replay_backend.cc).
  class Player;

  ReplayBackend(DeviceInfo info, const ReplayOptions& options, int dlt, UniqueFd file);
  void Run(PacketSink sink);
  // Sleeps until deadline_ns (CLOCK_MONOTONIC) or Stop(); false when stopping.
  bool SleepUntil(int64_t deadline_ns);
  bool Stopping();
  void SetError(absl::Status error);

  DeviceInfo info_;
  const ReplayOptions options_;
  const int dlt_;
  const UniqueFd file_;  // opened by Open(); each pass reads a dup, rewound
  std::atomic<uint64_t> replayed_{0};
  std::atomic<uint64_t> passes_{0};
  std::atomic<bool> finished_{false};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // Health()
  std::thread thread_;                       // touched only by Start/Stop (the owner's thread)
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_REPLAY_REPLAY_BACKEND_H_
