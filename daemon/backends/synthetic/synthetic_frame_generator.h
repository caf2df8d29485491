// synthetic_frame_generator.h — the synthetic backend's frames: deterministic,
// needs no privilege, and stamps a sequence number into every frame so tests can count
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
// Speed: the generator builds a pool of frame templates once (1024 by
// default, drawn from the seed) and then cycles through them; making a frame
// only stamps the sequence-dependent fields (the sequence number, the IPv4
// ID and the ICMP echo sequence = its low 16 bits) into the template in place
// and finishes the checksums from sums precomputed without those fields (the
// same values a full recomputation gives). So frame N is template
// N % pool_size() with sequence N, at a few nanoseconds a frame; the payload
// after the sequence is a byte pattern fixed per template.
//
//   SyntheticFrameGenerator gen(7);   // the frames alone, no thread
//   std::vector<uint8_t> frame; PacketDirection dir;
//   gen.Next(&frame, &dir);           // a copy; FindSequence(frame) == 0
//   SyntheticFrame f = gen.NextInPlace();  // no copy: f.data stays valid
//                                          // for pool_size() - 1 more frames
#ifndef MYDEV_DAEMON_BACKENDS_SYNTHETIC_SYNTHETIC_FRAME_GENERATOR_H_
#define MYDEV_DAEMON_BACKENDS_SYNTHETIC_SYNTHETIC_FRAME_GENERATOR_H_

#include <linux/if_ether.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "daemon/backends/backend.h"

namespace mydev::daemon {

inline constexpr char kSeqMagic[8] = {'M', 'Y', 'D', 'E', 'V', 'S', 'E', 'Q'};
inline constexpr uint8_t kDeviceMac[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline constexpr uint32_t kSyntheticMinFrame = ETH_ZLEN;       // 60: Ethernet's minimum, no FCS
inline constexpr uint32_t kSyntheticMaxFrame = ETH_FRAME_LEN;  // 1514: its maximum, no FCS

// The L3/L4 kinds the generator produces.
enum class SyntheticKind { kUdp4, kTcp4, kIcmp4, kUdp6, kTcp6, kIcmp6, kArp };

// Returns the sequence number stamped in a frame made by the generator, or
// nullopt when the frame is not one (or is truncated before the number).
std::optional<uint64_t> FindSequence(const uint8_t* frame, size_t caplen);

// One frame made by SyntheticFrameGenerator::NextInPlace().
struct SyntheticFrame {
  const uint8_t* data = nullptr;  // in the generator's template pool
  uint32_t size = 0;
  PacketDirection direction = PacketDirection::kIn;
  SyntheticKind kind = SyntheticKind::kUdp4;
};

// Builds the frames; no thread, no clock.
class SyntheticFrameGenerator {
 public:
  static constexpr size_t kDefaultPoolSize = 1024;

  // pool_size templates (at least 1) are built here, from seed.
  explicit SyntheticFrameGenerator(uint64_t seed, size_t pool_size = kDefaultPoolSize);

  // The next frame, stamped in place in its template: the bytes stay valid
  // and unchanged until pool_size() more frames have been made, so a batch of
  // up to pool_size() frames may be handed out without copying.
  SyntheticFrame NextInPlace();

  // The next frame, copied into *frame (resized); returns its kind.
  SyntheticKind Next(std::vector<uint8_t>* frame, PacketDirection* direction);

  size_t pool_size() const { return templates_.size(); }
  uint64_t next_seq() const { return seq_; }

 private:
  // Where the sequence-dependent fields of one template sit (offsets into
  // the frame; 0 = the frame has no such field) and the one's-complement sums
  // of everything else their checksums cover.
  struct Template {
    size_t offset = 0;  // into storage_
    uint32_t size = 0;
    SyntheticKind kind = SyntheticKind::kUdp4;
    PacketDirection direction = PacketDirection::kIn;
    bool udp = false;          // a computed L4 checksum of 0 is sent as 0xffff
    uint16_t seq_at = 0;       // the u64 after kSeqMagic
    uint16_t ip_id_at = 0;     // IPv4 ID
    uint16_t ip_csum_at = 0;   // IPv4 header checksum
    uint16_t echo_seq_at = 0;  // ICMP / ICMPv6 echo sequence
    uint16_t l4_csum_at = 0;   // UDP / TCP / ICMP / ICMPv6 checksum
    uint32_t ip_base_sum = 0;
    uint32_t l4_base_sum = 0;
  };

  std::vector<uint8_t> storage_;  // the templates, each 64-byte aligned
  std::vector<Template> templates_;
  size_t next_template_ = 0;
  uint64_t seq_ = 0;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_SYNTHETIC_SYNTHETIC_FRAME_GENERATOR_H_
