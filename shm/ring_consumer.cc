// ring_consumer.cc — maps a session ring for reading (see ring_consumer.h).
#include "shm/ring_consumer.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mydev::shm {
namespace {

// The daemon never makes bigger rings (RingProducer::kMaxDataBytes).
constexpr uint64_t kMaxRingMapBytes = MYDEV_RING_HEADER_BYTES + (1ull << 32);

}  // namespace

MappedRing::MappedRing(MappedRing&& o) noexcept { *this = std::move(o); }

MappedRing& MappedRing::operator=(MappedRing&& o) noexcept {
  if (this != &o) {
    Unmap();
    ring_map_ = std::exchange(o.ring_map_, nullptr);
    ring_bytes_ = std::exchange(o.ring_bytes_, 0);
    ctl_map_ = std::exchange(o.ctl_map_, nullptr);
    ctl_bytes_ = std::exchange(o.ctl_bytes_, 0);
    view_ = std::exchange(o.view_, mydev_ring_view{});
  }
  return *this;
}

MappedRing::~MappedRing() { Unmap(); }

void MappedRing::Unmap() {
  if (ring_map_ != nullptr) ::munmap(ring_map_, ring_bytes_);
  if (ctl_map_ != nullptr) ::munmap(ctl_map_, ctl_bytes_);
  ring_map_ = ctl_map_ = nullptr;
  ring_bytes_ = ctl_bytes_ = 0;
  view_ = mydev_ring_view{};
}

absl::StatusOr<MappedRing> MapRingForReading(int ring_fd, int ctl_fd) {
  struct stat rs, cs;
  if (::fstat(ring_fd, &rs) != 0) return absl::ErrnoToStatus(errno, "fstat(ring fd)");
  if (::fstat(ctl_fd, &cs) != 0) return absl::ErrnoToStatus(errno, "fstat(ring ctl fd)");
  const uint64_t ring_bytes = static_cast<uint64_t>(rs.st_size);
  if (!S_ISREG(rs.st_mode) || ring_bytes <= MYDEV_RING_HEADER_BYTES ||
      ring_bytes > kMaxRingMapBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ring fd is not a mydev ring (size ", ring_bytes, ")"));
  }
  if (!S_ISREG(cs.st_mode) || cs.st_size < static_cast<off_t>(MYDEV_RING_CTL_BYTES)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ring ctl fd is not a mydev ring control page (size ", cs.st_size, ")"));
  }
  MappedRing m;
  void* ring = ::mmap(nullptr, ring_bytes, PROT_READ, MAP_SHARED, ring_fd, 0);
  if (ring == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap(ring, PROT_READ)");
  m.ring_map_ = ring;
  m.ring_bytes_ = ring_bytes;
  void* ctl = ::mmap(nullptr, MYDEV_RING_CTL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, ctl_fd, 0);
  if (ctl == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap(ring ctl, PROT_READ|PROT_WRITE)");
  m.ctl_map_ = ctl;
  m.ctl_bytes_ = MYDEV_RING_CTL_BYTES;
  if (mydev_ring_view_init(&m.view_, ring, ring_bytes, ctl) != 0) {
    return absl::InvalidArgumentError(
        "the ring header is invalid (wrong magic, version or size, or no valid member slot): "
        "daemon and client library versions differ?");
  }
  return m;
}

absl::StatusOr<bool> WaitForData(MappedRing& ring, int event_fd, int timeout_ms) {
  mydev_ring_view* v = ring.view();
  switch (mydev_ring_wait(v, event_fd, /*liveness_fd=*/-1, timeout_ms)) {
    case MYDEV_RING_WAIT_ERROR:
      return absl::ErrnoToStatus(errno, "waiting on the ring eventfd (poll/read)");
    case MYDEV_RING_WAIT_READY:
      return true;
    default:  // woken, timed out, or a signal ended the wait: look again
      return mydev_ring_has_data(v) || mydev_ring_closed(v);
  }
}

}  // namespace mydev::shm
