// session_ring.h — the shared-memory ring one or more sessions are written
// into: a shm::RingProducer behind a mutex, and the packet-by-packet write
// of a batch for its members, so that a packet that several member sessions
// take in the same form is copied once.
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
//   std::vector<uint32_t> all(batch.size(), 65535), first(batch.size(), 0);
//   first[0] = 65535;
//   SessionRing::MemberSelection sel[2];                  // what each takes
//   sel[0].member = 0, sel[0].dlt = DLT_EN10MB, sel[0].caplens = all.data();
//   sel[1].member = *m, sel[1].dlt = DLT_EN10MB, sel[1].caplens = first.data();
//   {
//     absl::MutexLock lock(&(*ring)->mu());
//     (*ring)->WriteBatchLocked(batch, sel);  // packet 0 once, for both
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
#include "absl/types/span.h"
#include "daemon/backends/backend.h"
#include "daemon/datapath/bpf_program.h"
#include "proto/mydev.pb.h"
#include "shm/ring_producer.h"

namespace mydev::daemon {

// A packet's record flags (ring_abi.h): its direction.
inline uint32_t RecordFlags(const Packet& p) {
  return p.direction == PacketDirection::kIn ? MYDEV_REC_DIR_IN : MYDEV_REC_DIR_OUT;
}

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

  // What one member takes of a batch: caplens[k] bytes of packet k in link
  // type dlt (DLT_LINUX_SLL2: of the record sll2.h builds), 0 = none; and
  // what decided it (its filter, direction and snaplen), so that a member
  // deciding alike reuses the same caplens (Session::Select).
  struct MemberSelection {
    int member = 0;
    int dlt = 0;
    const uint32_t* caplens = nullptr;
    std::shared_ptr<const BpfProgram> program;  // null: no filter
    mydev::v1::Direction direction = mydev::v1::DIRECTION_INOUT;
    uint32_t snaplen = 0;
  };

  // Writes the batch packet by packet: for each packet, one record per
  // distinct (link type, caplen) among the members that take it, marked for
  // all of them, so each member reads its packets in order and a packet
  // several members take alike is copied once. Members with the same caplens
  // array and link type are looked at once per packet.
  void WriteBatchLocked(absl::Span<const Packet> batch, absl::Span<const MemberSelection> members)
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

  const uint32_t uid_;
  const bool shareable_;
  const uint64_t data_bytes_;
  const int ring_fd_;
  mutable absl::Mutex mu_;
  std::unique_ptr<shm::RingProducer> producer_ ABSL_PT_GUARDED_BY(mu_);
  std::vector<uint8_t> sll2_scratch_ ABSL_GUARDED_BY(mu_);  // one SLL2 record
  uint64_t published_round_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_SESSION_RING_H_
