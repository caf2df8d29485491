// synthetic_backend.h — a deterministic traffic generator backend: needs no
// privilege, and stamps a sequence number into every frame so tests can count
// loss end to end.
//
// Traffic: Ethernet II frames of 60..1514 bytes (no FCS) carrying
//   IPv4/UDP, IPv4/TCP, IPv4/ICMP echo, IPv6/UDP, IPv6/TCP, ICMPv6 echo, ARP,
// with varied addresses and ports, and valid IPv4/UDP/TCP/ICMP/ICMPv6
// checksums. The device's own MAC is 02:00:00:00:00:01 (kDeviceMac): frames
// whose source is that MAC are OUT, frames addressed to it are IN (mixed
// about half and half).
//
// Sequence format (one per frame, counting from 0 per backend start):
//   8 bytes ASCII "MYDEVSEQ" (kSeqMagic) followed by the u64 sequence number,
//   big-endian, at
//     UDP / TCP / ICMP / ICMPv6: the first byte of the L4 payload
//       (after the 8-byte UDP header, the TCP header incl. options, the
//        8-byte ICMP echo header);
//     ARP: the trailer padding right after the 28-byte ARP body (offset 42).
//   FindSequence() parses a frame (possibly truncated) and returns the number.
//
// The same seed gives the same frames in the same order (timestamps aside).
//
//   SyntheticOptions o; o.rate_pps = 10000; o.seed = 7;
//   auto dev = std::make_unique<SyntheticBackend>(info, o);
//   dev->Start(sink);           // sink gets batches paced at 10000 pps
//
//   SyntheticFrameGenerator gen(7);   // the frames alone, no thread
//   std::vector<uint8_t> frame; PacketDirection dir;
//   gen.Next(&frame, &dir);           // FindSequence(frame) == 0
#ifndef MYDEV_DAEMON_SYNTHETIC_BACKEND_H_
#define MYDEV_DAEMON_SYNTHETIC_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/backend.h"

namespace mydev::daemon {

inline constexpr char kSeqMagic[8] = {'M', 'Y', 'D', 'E', 'V', 'S', 'E', 'Q'};
inline constexpr uint8_t kDeviceMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline constexpr uint32_t kSyntheticMinFrame = 60;
inline constexpr uint32_t kSyntheticMaxFrame = 1514;

// The L3/L4 kinds the generator produces.
enum class SyntheticKind { kUdp4, kTcp4, kIcmp4, kUdp6, kTcp6, kIcmp6, kArp };

// Returns the sequence number stamped in a frame made by the generator, or
// nullopt when the frame is not one (or is truncated before the number).
std::optional<uint64_t> FindSequence(const uint8_t* frame, size_t caplen);

// Builds the frames; no thread, no clock.
class SyntheticFrameGenerator {
 public:
  explicit SyntheticFrameGenerator(uint64_t seed);

  // Writes the next frame into *frame (resized) and returns its kind.
  SyntheticKind Next(std::vector<uint8_t>* frame, PacketDirection* direction);

  uint64_t next_seq() const { return seq_; }

 private:
  uint64_t Rand(uint64_t n) { return rng_() % n; }

  std::mt19937_64 rng_;
  uint64_t seq_ = 0;
};

struct SyntheticOptions {
  uint64_t rate_pps = 1000;  // 0 = as fast as possible
  uint64_t seed = 0;
  uint64_t count = 0;        // stop after this many packets; 0 = forever
  uint32_t max_batch = 256;  // packets per sink call at most
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

#endif  // MYDEV_DAEMON_SYNTHETIC_BACKEND_H_
