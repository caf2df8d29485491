// tpacket_v2_ring.cc — see tpacket_v2_ring.h.
#include "daemon/backends/afpacket/tpacket_v2_ring.h"

#include <linux/if_ether.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"
#include "daemon/backends/afpacket/packet_ring_setup.h"

namespace mydev::daemon {
TpacketV2Geometry TpacketV2Ring::GeometryFor(uint32_t mtu, uint32_t reserve, uint64_t total_bytes) {
  const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  // Where the kernel puts the packet: header, sockaddr_ll, reserve (it
  // aligns the MAC header to 16 bytes), then the frame itself.
  const uint32_t headroom =
      TPACKET_ALIGN(TPACKET_ALIGN(sizeof(tpacket2_hdr)) + sizeof(sockaddr_ll) + reserve) + 16;
  TpacketV2Geometry g;
  g.frame_bytes = TPACKET_ALIGN(headroom + ETH_HLEN + 2 * 4 + std::max<uint32_t>(mtu, 1500));
  g.block_bytes = std::max(page, absl::bit_ceil(g.frame_bytes));
  g.block_count = static_cast<uint32_t>(
      std::clamp<uint64_t>(total_bytes / g.block_bytes, 4, (uint64_t{1} << 30) / g.block_bytes));
  return g;
}

absl::StatusOr<std::unique_ptr<TpacketV2Ring>> TpacketV2Ring::Create(int fd,
                                                                     const TpacketV2Geometry& g,
                                                                     uint32_t reserve) {
  if (absl::Status s = CheckRingGeometry("TPACKET_V2", g.block_bytes, g.block_count, g.frame_bytes,
                                         /*frame_divides_block=*/false);
      !s.ok())
    return s;
  if (absl::Status s = SetRingVersion(fd, TPACKET_V2, reserve); !s.ok()) return s;
  tpacket_req req{};
  req.tp_block_size = g.block_bytes;
  req.tp_block_nr = g.block_count;
  req.tp_frame_size = g.frame_bytes;
  req.tp_frame_nr = g.block_bytes / g.frame_bytes * g.block_count;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
    return absl::ErrnoToStatus(
        errno, absl::StrCat("setsockopt(PACKET_RX_RING, TPACKET_V2, ", req.tp_frame_nr, " x ",
                            g.frame_bytes, " bytes)"));
  const size_t bytes = size_t{g.block_bytes} * g.block_count;
  absl::StatusOr<uint8_t*> map = MapRing(fd, bytes);
  if (!map.ok()) return map.status();
  return std::unique_ptr<TpacketV2Ring>(new TpacketV2Ring(*map, bytes, g));
}

TpacketV2Ring::TpacketV2Ring(uint8_t* map, size_t map_bytes, const TpacketV2Geometry& g)
    : map_(map),
      map_bytes_(map_bytes),
      geometry_(g),
      frames_per_block_(g.block_bytes / g.frame_bytes),
      frame_count_(g.block_bytes / g.frame_bytes * g.block_count) {}

TpacketV2Ring::~TpacketV2Ring() { munmap(map_, map_bytes_); }

tpacket2_hdr* TpacketV2Ring::Frame(uint32_t i) const {
  return reinterpret_cast<tpacket2_hdr*>(map_ +
                                         size_t{i / frames_per_block_} * geometry_.block_bytes +
                                         size_t{i % frames_per_block_} * geometry_.frame_bytes);
}

tpacket2_hdr* TpacketV2Ring::UserFrame(uint32_t i) const {
  if (i >= frame_count_) return nullptr;
  tpacket2_hdr* h = Frame((current_ + i) % frame_count_);
  uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
  return (status & TP_STATUS_USER) ? h : nullptr;
}

void TpacketV2Ring::Release(uint32_t n) {
  for (uint32_t i = 0; i < n && i < frame_count_; ++i) {
    __atomic_store_n(&Frame(current_)->tp_status, static_cast<uint32_t>(TP_STATUS_KERNEL),
                     __ATOMIC_RELEASE);
    current_ = (current_ + 1) % frame_count_;
  }
}

}  // namespace mydev::daemon
