// tpacket_v3_ring.h — the TPACKET_V3 receive ring of one AF_PACKET socket:
// sets it up (PACKET_VERSION, PACKET_RESERVE, PACKET_RX_RING, mmap), hands
// out the blocks the kernel has retired to user space in order, and walks the
// packets of a block. It knows nothing about interfaces or sessions.
//
//   absl::StatusOr<std::unique_ptr<TpacketV3Ring>> ring =
//       TpacketV3Ring::Create(fd, {.block_bytes = 1 << 20, .block_count = 8},
//                             /*reserve=*/4);
//   while (tpacket_block_desc* block = (*ring)->NextUserBlock()) {
//     TpacketV3Ring::ForEachPacket(block, (*ring)->block_bytes(),
//         [](uint8_t* frame, const tpacket3_hdr& h, const sockaddr_ll& sll) {
//           use(frame + h.tp_mac, h.tp_snaplen);   // writable until released
//         });
//     (*ring)->ReleaseBlock();   // back to the kernel
//   }
#ifndef MYDEV_DAEMON_BACKENDS_AFPACKET_TPACKET_V3_RING_H_
#define MYDEV_DAEMON_BACKENDS_AFPACKET_TPACKET_V3_RING_H_

#include <linux/if_packet.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace mydev::daemon {

struct TpacketV3Geometry {
  uint32_t block_bytes = 1 << 20;  // a multiple of the page size, power of two
  uint32_t block_count = 8;
  uint32_t frame_bytes = 2048;      // the kernel's slot hint; packets may be larger
  uint32_t retire_timeout_ms = 10;  // a partly filled block is retired after this
};

class TpacketV3Ring {
 public:
  // Configures the ring on fd (not yet bound) and maps it. reserve: bytes the
  // kernel leaves free in front of each packet (room to re-insert a VLAN tag).
  static absl::StatusOr<std::unique_ptr<TpacketV3Ring>> Create(int fd, const TpacketV3Geometry& g,
                                                               uint32_t reserve);
  ~TpacketV3Ring();  // unmaps (close the socket afterwards)
  TpacketV3Ring(const TpacketV3Ring&) = delete;
  TpacketV3Ring& operator=(const TpacketV3Ring&) = delete;

  // The current block if the kernel has handed it to user space, else null.
  // It stays the caller's (readable and writable) until ReleaseBlock().
  tpacket_block_desc* NextUserBlock() const;
  // The current block whatever its owner. A block the kernel still fills
  // may be read only while nothing can write to it (the afpacket backend
  // reads it after steering the device's packets to another socket; see
  // afpacket_backend.h): its num_pkts then counts complete packets, since a
  // released block's count is cleared here and the kernel counts from 0.
  tpacket_block_desc* CurrentBlock() const { return Block(current_); }
  // Returns the current block to the kernel (its packet count cleared) and
  // moves to the next one.
  void ReleaseBlock();

  // Calls f(frame, header, sockaddr_ll) for every packet of a user-owned
  // block, in order; frame is where the packet's tpacket3_hdr starts. Stops
  // early (returning false) at a packet whose offsets point outside the block.
  template <typename F>
  static bool ForEachPacket(tpacket_block_desc* block, size_t block_bytes, F f);

  size_t block_bytes() const { return geometry_.block_bytes; }

 private:
  TpacketV3Ring(uint8_t* map, size_t map_bytes, const TpacketV3Geometry& g)
      : map_(map), map_bytes_(map_bytes), geometry_(g) {}
  tpacket_block_desc* Block(uint32_t i) const {
    return reinterpret_cast<tpacket_block_desc*>(map_ + size_t{i} * geometry_.block_bytes);
  }

  uint8_t* const map_;
  const size_t map_bytes_;
  const TpacketV3Geometry geometry_;
  uint32_t current_ = 0;
};

template <typename F>
bool TpacketV3Ring::ForEachPacket(tpacket_block_desc* block, size_t block_bytes, F f) {
  uint8_t* base = reinterpret_cast<uint8_t*>(block);
  const tpacket_hdr_v1& bh = block->hdr.bh1;
  uint32_t offset = bh.offset_to_first_pkt;
  for (uint32_t i = 0; i < bh.num_pkts; ++i) {
    if (offset < sizeof(tpacket_block_desc) || offset + sizeof(tpacket3_hdr) > block_bytes)
      return false;
    const auto* h = reinterpret_cast<const tpacket3_hdr*>(base + offset);
    const size_t sll_at = offset + TPACKET_ALIGN(sizeof(tpacket3_hdr));
    if (sll_at + sizeof(sockaddr_ll) > block_bytes ||
        size_t{offset} + h->tp_mac + h->tp_snaplen > block_bytes)
      return false;
    f(base + offset, *h, *reinterpret_cast<const sockaddr_ll*>(base + sll_at));
    if (h->tp_next_offset == 0) break;
    offset += h->tp_next_offset;
  }
  return true;
}

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_AFPACKET_TPACKET_V3_RING_H_
