// ring_consumer.h — the reader's side of a session ring in C++: maps the ring
// memfd read-only and the ctl memfd read-write, and hands out a ready
// mydev_ring_view (ring_abi.h) to read with. Used by the client library,
// tests and benchmarks; the daemon does not need it.
//
// Example:
//   absl::StatusOr<MappedRing> ring = MapRingForReading(fds.ring.get(), fds.ctl.get());
//   if (!ring.ok()) return ring.status();
//   mydev_ring_view* v = ring->view();
//   for (;;) {
//     while (const mydev_ring_record* r = mydev_ring_next(v)) use(r);
//     mydev_ring_release(v);
//     if (v->corrupt || mydev_ring_closed(v)) break;
//     absl::StatusOr<bool> woke = WaitForData(*ring, fds.event.get(), /*timeout_ms=*/1000);
//   }
#ifndef MYDEV_SHM_RING_CONSUMER_H_
#define MYDEV_SHM_RING_CONSUMER_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "shm/ring_abi.h"

namespace mydev::shm {

// Owns the two mappings of one ring (unmapped on destruction; movable).
class MappedRing {
 public:
  MappedRing() = default;
  MappedRing(MappedRing&& o) noexcept;
  MappedRing& operator=(MappedRing&& o) noexcept;
  MappedRing(const MappedRing&) = delete;
  MappedRing& operator=(const MappedRing&) = delete;
  ~MappedRing();

  mydev_ring_view* view() { return &view_; }
  const mydev_ring_view* view() const { return &view_; }
  const mydev_ring_header* header() const { return view_.hdr; }
  const void* ring_map() const { return ring_map_; }
  size_t ring_map_bytes() const { return ring_bytes_; }
  void* ctl_map() const { return ctl_map_; }

 private:
  friend absl::StatusOr<MappedRing> MapRingForReading(int ring_fd, int ctl_fd);
  void Unmap();

  void* ring_map_ = nullptr;
  size_t ring_bytes_ = 0;
  void* ctl_map_ = nullptr;
  size_t ctl_bytes_ = 0;
  mydev_ring_view view_{};
};

// Maps ring_fd PROT_READ and ctl_fd PROT_READ|PROT_WRITE (both MAP_SHARED)
// and validates the ring header. The fds stay owned by the caller and may be
// closed afterwards.
absl::StatusOr<MappedRing> MapRingForReading(int ring_fd, int ctl_fd);

// Sleeps until the writer wakes the reader, the ring is closed, timeout_ms
// passes (< 0: no limit) or a signal interrupts the wait: mydev_ring_wait()
// (ring_abi.h (3): release, announce the sleep, poll(event_fd), drain it).
// Returns true if data (or the close) is there to read, false otherwise (a
// timeout, or a signal ended the wait early: EINTR is not retried, so a
// caller's signal handler flag is seen at once). Errors of poll()/read() are
// returned as their errno status.
absl::StatusOr<bool> WaitForData(MappedRing& ring, int event_fd, int timeout_ms);

}  // namespace mydev::shm

#endif  // MYDEV_SHM_RING_CONSUMER_H_
