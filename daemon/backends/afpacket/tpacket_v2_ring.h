// tpacket_v2_ring.h — the TPACKET_V2 receive ring of one AF_PACKET socket:
// one fixed-size frame per packet, handed to user space (and poll() woken)
// packet by packet, so nothing waits for a block to fill or time out. The
// afpacket backend reads it while a session on the device wants immediate
// mode; the TPACKET_V3 ring (tpacket_v3_ring.h) batches otherwise. It sets the
// ring up (PACKET_VERSION, PACKET_RESERVE, PACKET_RX_RING, mmap) and hands out
// the frames the kernel filled, in order; it knows nothing about interfaces.
//
//   absl::StatusOr<std::unique_ptr<TpacketV2Ring>> ring = TpacketV2Ring::Create(
//       fd, TpacketV2Ring::GeometryFor(/*mtu=*/1500, /*reserve=*/4, 8 << 20), /*reserve=*/4);
//   while (tpacket2_hdr* h = (*ring)->UserFrame(0)) {   // the oldest filled frame
//     const sockaddr_ll& sll = TpacketV2Ring::Address(h);
//     use(reinterpret_cast<uint8_t*>(h) + h->tp_mac, h->tp_snaplen);
//     (*ring)->Release(1);                              // back to the kernel
//   }
#ifndef MYDEV_DAEMON_BACKENDS_AFPACKET_TPACKET_V2_RING_H_
#define MYDEV_DAEMON_BACKENDS_AFPACKET_TPACKET_V2_RING_H_

#include <linux/if_packet.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace mydev::daemon {

struct TpacketV2Geometry {
  uint32_t block_bytes = 1 << 16;  // a power of two multiple of the page size
  uint32_t block_count = 128;
  uint32_t frame_bytes = 2048;  // per packet; longer packets are truncated (tp_snaplen)
};

class TpacketV2Ring {
 public:
  // Frames big enough for a packet of the interface's MTU with a link-layer
  // header, two VLAN tags and the reserve; about total_bytes of them.
  static TpacketV2Geometry GeometryFor(uint32_t mtu, uint32_t reserve, uint64_t total_bytes);
  // Configures the ring on fd (before it is bound) and maps it. reserve:
  // bytes the kernel leaves free in front of each packet.
  static absl::StatusOr<std::unique_ptr<TpacketV2Ring>> Create(int fd, const TpacketV2Geometry& g,
                                                               uint32_t reserve);
  ~TpacketV2Ring();  // unmaps (close the socket afterwards)
  TpacketV2Ring(const TpacketV2Ring&) = delete;
  TpacketV2Ring& operator=(const TpacketV2Ring&) = delete;

  // The i-th frame from the oldest not yet released if the kernel has filled
  // it (and every one before it), else null. It stays the caller's
  // (readable and writable) until released.
  tpacket2_hdr* UserFrame(uint32_t i) const;
  // Returns the n oldest frames to the kernel.
  void Release(uint32_t n);

  // The sockaddr_ll that follows a frame's header.
  static const sockaddr_ll& Address(const tpacket2_hdr* h) {
    return *reinterpret_cast<const sockaddr_ll*>(reinterpret_cast<const uint8_t*>(h) +
                                                 TPACKET_ALIGN(sizeof(tpacket2_hdr)));
  }

  uint32_t frame_count() const { return frame_count_; }
  uint32_t frame_bytes() const { return geometry_.frame_bytes; }

 private:
  TpacketV2Ring(uint8_t* map, size_t map_bytes, const TpacketV2Geometry& g);
  tpacket2_hdr* Frame(uint32_t i) const;

  uint8_t* const map_;
  const size_t map_bytes_;
  const TpacketV2Geometry geometry_;
  const uint32_t frames_per_block_;
  const uint32_t frame_count_;
  uint32_t current_ = 0;  // the oldest frame not yet released
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_AFPACKET_TPACKET_V2_RING_H_
