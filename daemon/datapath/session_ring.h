// session_ring.h — the shared-memory ring one or more sessions are written
// into: a shm::RingProducer behind a mutex, with the record of which packet
// of the batch being delivered went to which record, so that a packet that
// several member sessions take in the same form is copied once.
//
// A device with `share_rings` (proto/config.proto) puts the sessions of one
// uid that asked for the same ring size into one ring, up to
// shm::RingProducer::kMaxMembers of them; otherwise each session has a ring
// of its own (a SessionRing with one member). Each member reads only the
// records marked for it (ring_abi.h), so members keep their own filters,
// directions, snaplens and link types; they share the ring's room, so a
// member that stops reading makes the others drop too (docs/DESIGN.md).
//
//   absl::StatusOr<std::shared_ptr<SessionRing>> ring =
//       SessionRing::Create({.data_bytes = 4 << 20, .dlt = 1}, /*uid=*/1000,
//                           /*shareable=*/true);          // member 0 is the creator's
//   absl::StatusOr<int> m = (*ring)->Join(policy);        // a second session
//   {
//     absl::MutexLock lock(&(*ring)->mu());
//     SessionRing::Cursor c;                              // one per member per part
//     (*ring)->WriteLocked(0, part_id, k, dlt, p, caplen, flags, &c);
//     (*ring)->WriteLocked(*m, part_id, k, dlt, p, caplen, flags, &c2);  // shared
//   }
//   (*ring)->Publish(now_ns, round);                      // once per round
#ifndef MYDEV_DAEMON_DATAPATH_SESSION_RING_H_
#define MYDEV_DAEMON_DATAPATH_SESSION_RING_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "shm/ring_producer.h"

namespace mydev::daemon {

class SessionRing {
 public:
  // Creates the ring with its first member (slot 0). A ring that is not
  // shareable never takes a second member.
  static absl::StatusOr<std::shared_ptr<SessionRing>> Create(const shm::RingOptions& options,
                                                             uint32_t uid, bool shareable);

  // Adds a member (RESOURCE_EXHAUSTED if the ring is not shareable, full or
  // closed). It reads what is published from now on.
  absl::StatusOr<int> Join(const shm::WakePolicy& policy) ABSL_LOCKS_EXCLUDED(mu_);
  // Frees the member's slot (its fds close).
  void Leave(int member) ABSL_LOCKS_EXCLUDED(mu_);

  // Members now.
  int member_count() const ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t uid() const { return uid_; }
  bool shareable() const { return shareable_; }
  uint64_t data_bytes() const { return data_bytes_; }
  int ring_fd() const { return ring_fd_; }

  // A member's place in the packets of one part (see WriteLocked): where its
  // last record of the part is, so its records keep the packets' order.
  struct Cursor {
    uint64_t part = 0;
    uint64_t last_pos = 0;
    bool any = false;
  };

  // Writes packet k of part `part` (a batch or chunk id, never reused; 0 =
  // do not share) for `member` in link type `dlt` with caplen bytes of
  // data: into the record already written for that packet in this part, if
  // it is still unpublished, has the same link type and caplen, and lies
  // after the member's previous record of the part; else into a new record.
  void WriteLocked(int member, uint64_t part, size_t k, int dlt, uint64_t ts_ns, uint32_t len,
                   uint32_t flags, const uint8_t* data, uint32_t caplen, Cursor* cursor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Publishes and wakes the members due a wake-up, once per round: a second
  // call with the same nonzero round does nothing (every member of a shared
  // ring asks for it after a batch).
  void Publish(int64_t now_ns, uint64_t round) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the ring for every member (ring_abi.h (4)).
  void Close(uint32_t reason) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  shm::RingProducer& producer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return *producer_; }
  const shm::RingProducer& producer() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return *producer_; }

 private:
  SessionRing(std::unique_ptr<shm::RingProducer> producer, uint32_t uid, bool shareable);

  // The record written for packet k of a part.
  struct Written {
    uint64_t part = 0;
    uint64_t pos = 0;
    uint32_t caplen = 0;
    int dlt = 0;
  };

  const uint32_t uid_;
  const bool shareable_;
  const uint64_t data_bytes_;
  const int ring_fd_;
  mutable absl::Mutex mu_;
  std::unique_ptr<shm::RingProducer> producer_ ABSL_PT_GUARDED_BY(mu_);
  std::vector<Written> written_ ABSL_GUARDED_BY(mu_);  // by packet index in the part
  uint64_t published_round_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_SESSION_RING_H_
