// packet_ring_setup.h — the steps every AF_PACKET ring takes, whatever its
// TPACKET version: its geometry checked, the socket's PACKET_VERSION and
// PACKET_RESERVE set before PACKET_RX_RING, and the ring mapped once the
// kernel has made it. TpacketV2Ring and TpacketV3Ring call them around their
// own PACKET_RX_RING request.
//
//   if (absl::Status s = CheckRingGeometry("TPACKET_V3", block, count, frame,
//                                          /*frame_divides_block=*/true); !s.ok()) return s;
//   if (absl::Status s = SetRingVersion(fd, TPACKET_V3, reserve); !s.ok()) return s;
//   ... setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) ...
//   absl::StatusOr<uint8_t*> map = MapRing(fd, size_t{block} * count);
#ifndef MYDEV_DAEMON_BACKENDS_AFPACKET_PACKET_RING_SETUP_H_
#define MYDEV_DAEMON_BACKENDS_AFPACKET_PACKET_RING_SETUP_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mydev::daemon {

// INVALID_ARGUMENT naming `version` unless the blocks are a power-of-two
// multiple of the page, there is at least one, and frames are
// TPACKET_ALIGNMENT-aligned and fit a block (divide it, if frame_divides_block).
absl::Status CheckRingGeometry(const char* version, uint32_t block_bytes, uint32_t block_count,
                               uint32_t frame_bytes, bool frame_divides_block);

// Sets PACKET_VERSION (TPACKET_V2 or TPACKET_V3) and PACKET_RESERVE on fd.
absl::Status SetRingVersion(int fd, int tpacket_version, uint32_t reserve);

// Maps the ring the kernel made for fd (read-write, shared).
absl::StatusOr<uint8_t*> MapRing(int fd, size_t bytes);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_AFPACKET_PACKET_RING_SETUP_H_
