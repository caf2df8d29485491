// tpacket_v3_ring.cc — see tpacket_v3_ring.h.
#include "daemon/backends/afpacket/tpacket_v3_ring.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "daemon/backends/afpacket/packet_ring_setup.h"

namespace mydev::daemon {
absl::StatusOr<std::unique_ptr<TpacketV3Ring>> TpacketV3Ring::Create(int fd,
                                                                     const TpacketV3Geometry& g,
                                                                     uint32_t reserve) {
  if (absl::Status s = CheckRingGeometry("TPACKET_V3", g.block_bytes, g.block_count, g.frame_bytes,
                                         /*frame_divides_block=*/true);
      !s.ok())
    return s;
  if (absl::Status s = SetRingVersion(fd, TPACKET_V3, reserve); !s.ok()) return s;
  tpacket_req3 req{};
  req.tp_block_size = g.block_bytes;
  req.tp_block_nr = g.block_count;
  req.tp_frame_size = g.frame_bytes;
  req.tp_frame_nr = g.block_bytes / g.frame_bytes * g.block_count;
  req.tp_retire_blk_tov = g.retire_timeout_ms;
  req.tp_feature_req_word = 0;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("setsockopt(PACKET_RX_RING, ", g.block_count,
                                                   " x ", g.block_bytes, " bytes)"));
  const size_t bytes = size_t{g.block_bytes} * g.block_count;
  absl::StatusOr<uint8_t*> map = MapRing(fd, bytes);
  if (!map.ok()) return map.status();
  return std::unique_ptr<TpacketV3Ring>(new TpacketV3Ring(*map, bytes, g));
}

TpacketV3Ring::~TpacketV3Ring() { munmap(map_, map_bytes_); }

tpacket_block_desc* TpacketV3Ring::NextUserBlock() const {
  tpacket_block_desc* b = Block(current_);
  uint32_t status = __atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
  return (status & TP_STATUS_USER) ? b : nullptr;
}

void TpacketV3Ring::ReleaseBlock() {
  // The kernel resets the count when it opens the block for new packets; a
  // block released while the kernel's queue is frozen (ring full) would
  // otherwise show its old count until then (CurrentBlock()).
  Block(current_)->hdr.bh1.num_pkts = 0;
  __atomic_store_n(&Block(current_)->hdr.bh1.block_status, static_cast<uint32_t>(TP_STATUS_KERNEL),
                   __ATOMIC_RELEASE);
  current_ = (current_ + 1) % geometry_.block_count;
}

}  // namespace mydev::daemon
