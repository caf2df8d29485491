// ring_producer.h — the daemon's (writer's) side of one ring: one writer,
// one or more member sessions (readers). The protocol is documented once, in
// ring_abi.h.
//
// Example (one member, slot 0, made by Create):
//
//   auto ring = RingProducer::Create({.data_bytes = 4 << 20, .dlt = 1});
//   if (!ring.ok()) return ring.status();
//   (*ring)->SetWakePolicy({.immediate = false, .wake_bytes = 1 << 20,
//                           .timeout_ns = 1'000'000'000});
//   // hand (*ring)->ring_fd(), ctl_fd(), event_fd() to the client (fd_passing.h)
//   for (const Packet& p : batch)
//     (*ring)->Write(p.ts_ns, p.len, MYDEV_REC_DIR_IN, p.data, caplen);  // false = dropped
//   (*ring)->Publish(now_ns);         // makes the batch visible, wakes if due
//   uint64_t waiting = (*ring)->fill_bytes();   // gauges for the stats
//
// A shared ring (ring_abi.h): more members join, and one record can be
// written for several of them:
//
//   absl::StatusOr<int> m = (*ring)->AddMember(policy);   // slot 1..15
//   (*ring)->WriteFor(1u << 0 | 1u << *m, ts, len, flags, data, caplen);
//   (*ring)->Publish(now_ns);         // both members see the one record
#ifndef MYDEV_SHM_RING_PRODUCER_H_
#define MYDEV_SHM_RING_PRODUCER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "shm/ring_abi.h"

namespace mydev::shm {

struct RingOptions {
  uint64_t data_bytes = 4 << 20;  // power of two, >= kMinDataBytes
  uint32_t dlt = 1;
};

struct WakePolicy {
  bool immediate = false;   // wake on every Publish with data waiting
  uint64_t wake_bytes = 0;  // wake when this many bytes wait; 0 = data_bytes / 4
  int64_t timeout_ns = 0;   // wake when the oldest waiting byte is this old; 0 = never
};

class RingProducer {
 public:
  static constexpr uint64_t kMinDataBytes = 1 << 20;  // holds 2 maximal records
  static constexpr uint64_t kMaxDataBytes = 1ull << 32;
  static constexpr int kMaxMembers = MYDEV_RING_MAX_MEMBERS;

  // Creates the ring memfd (sealed: the client can map it read-only only)
  // and its first member (slot 0: its control memfd and eventfd).
  static absl::StatusOr<std::unique_ptr<RingProducer>> Create(const RingOptions& options);
  ~RingProducer();

  // Adds a member in a free slot (its own control memfd and eventfd, its
  // counters zeroed, its consumer position at the published position: it
  // reads what is published from now on). RESOURCE_EXHAUSTED when all
  // kMaxMembers slots are taken.
  absl::StatusOr<int> AddMember(const WakePolicy& policy);
  // Frees the slot: the member no longer holds records back or is woken;
  // its fds are closed. Records already written for it stay in the ring.
  void RemoveMember(int member);
  // Members in the ring now.
  int member_count() const;

  // Member 0's policy (the one-member form); SetWakePolicy(m, p) for any.
  void SetWakePolicy(const WakePolicy& policy) { SetWakePolicy(0, policy); }
  void SetWakePolicy(int member, const WakePolicy& policy);

  // Copies one record for member 0 into the ring without publishing it.
  // Returns false and counts a drop when the ring is full (or caplen >
  // kMaxCaplen); returns false without counting after Close().
  bool Write(uint64_t ts_ns, uint32_t len, uint32_t flags, const uint8_t* data, uint32_t caplen) {
    return WriteFor(1u, ts_ns, len, flags, data, caplen);
  }
  // The same, one record for the members whose bits are set in `members`
  // (bit i = slot i; bits of free slots are ignored): each counts it, or a
  // drop. False if nothing was written.
  bool WriteFor(uint32_t members, uint64_t ts_ns, uint32_t len, uint32_t flags, const uint8_t* data,
                uint32_t caplen);
  // Bytes written since the ring was made (published or not), padding
  // included: the position the next record would start at.
  uint64_t write_pos() const;

  // True when a record of caplen bytes fits now (re-reading the consumer
  // position if the last one read leaves too little room). For writers that
  // wait for room instead of dropping (replay at full speed, benchmarks):
  //   while (!ring->HasRoom(caplen)) { ring->Publish(now); wait(); }
  bool HasRoom(uint32_t caplen);

  // Counts n packets as dropped for a member without writing them (the
  // writer shed them, e.g. a uid over its CPU share of the device); the
  // reader sees them in packets_dropped with the next Publish. No-op after
  // Close().
  void CountDrops(uint64_t n) { CountDrops(0, n); }
  void CountDrops(int member, uint64_t n);

  // Publishes every record written since the last call (store-release), then
  // wakes each member that sleeps if its wake policy says so. Also call it
  // periodically with no new records so timeouts fire.
  void Publish(int64_t now_ns);

  // Marks the ring closed (MYDEV_RING_CLOSED) with a reason
  // (MYDEV_RING_CLOSE_SHUTDOWN, MYDEV_RING_CLOSE_DEVICE_GONE) and wakes every
  // member.
  void Close(uint32_t reason);

  int ring_fd() const;
  int ctl_fd(int member = 0) const;
  int event_fd(int member = 0) const;
  uint64_t data_bytes() const;
  // A member's counters (member 0 by default).
  uint64_t packets_received(int member = 0) const;  // records written for it
  uint64_t packets_dropped(int member = 0) const;   // refused for lack of room, or shed
  uint64_t bytes_received(int member = 0) const;

  // Gauges for the stats. Like the counters above, call them where the writer
  // cannot run at the same time (the daemon holds the ring's mutex).
  //
  // Bytes published and not yet released by the reader: the consumer
  // position read once (the client writes it) and clamped as the writer
  // clamps it, so 0..data_bytes() whatever the client wrote.
  uint64_t fill_bytes(int member = 0) const;
  // The most bytes ever waiting, as of the last Publish. Publish keeps it
  // exact without reading the consumer position each time: the fill from the
  // last position read is an upper bound (the reader only moves forward), and
  // the position is re-read only when that bound exceeds the mark. Write()
  // pays nothing for it. Never below the fill_bytes() of an honest reader.
  uint64_t high_water_bytes(int member = 0) const;
  // eventfd writes made: wake-ups of a sleeping reader, plus the one of Close().
  uint64_t wakeups(int member = 0) const;

  static constexpr uint32_t kMaxCaplen = 262144;

 private:
  RingProducer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mydev::shm

#endif  // MYDEV_SHM_RING_PRODUCER_H_
