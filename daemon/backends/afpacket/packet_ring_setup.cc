// packet_ring_setup.cc — see packet_ring_setup.h.
#include "daemon/backends/afpacket/packet_ring_setup.h"

#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"

namespace mydev::daemon {
namespace {

absl::Status SetInt(int fd, int option, int value, const char* name) {
  if (setsockopt(fd, SOL_PACKET, option, &value, sizeof value) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("setsockopt(", name, ")"));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRingGeometry(const char* version, uint32_t block_bytes, uint32_t block_count,
                               uint32_t frame_bytes, bool frame_divides_block) {
  const long page = sysconf(_SC_PAGESIZE);
  const bool frame_fits = frame_divides_block ? frame_bytes != 0 && block_bytes % frame_bytes == 0
                                              : frame_bytes <= block_bytes;
  if (block_bytes == 0 || block_bytes % page != 0 || !absl::has_single_bit(block_bytes) ||
      block_count == 0 || frame_bytes < TPACKET_ALIGNMENT || frame_bytes % TPACKET_ALIGNMENT != 0 ||
      !frame_fits)
    return absl::InvalidArgumentError(absl::StrCat(
        "bad ", version, " geometry: block ", block_bytes, " bytes (a power of two multiple of ",
        page, "), ", block_count, " blocks, frame ", frame_bytes, " bytes"));
  return absl::OkStatus();
}

absl::Status SetRingVersion(int fd, int tpacket_version, uint32_t reserve) {
  if (absl::Status s = SetInt(fd, PACKET_VERSION, tpacket_version, "PACKET_VERSION"); !s.ok())
    return s;
  return SetInt(fd, PACKET_RESERVE, static_cast<int>(reserve), "PACKET_RESERVE");
}

absl::StatusOr<uint8_t*> MapRing(int fd, size_t bytes) {
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED)
    return absl::ErrnoToStatus(errno, absl::StrCat("mmap of the ", bytes, "-byte packet ring"));
  return static_cast<uint8_t*>(map);
}

}  // namespace mydev::daemon
