// session.h — one capture session: who owns it, its token, its ring, and the
// per-client filtering state the fan-out applies before copying a packet in.
//
// Threads: the device's fan-out thread calls Deliver() or Select(); the
// fan-out and the device ticker call PublishRing(); gRPC handlers call
// SetFilter()/SetDirection()/counters()/status(). One mutex per session guards its settings; the
// ring's own mutex (session_ring.h) serialises its writers, since sessions of one uid may share a
// ring. Both are uncontended on the hot path and taken once per batch, the session's first.
//
//   SessionParams p{.device = "mydev0", .snaplen = 65535, .ring_bytes = 1 << 22};
//   absl::StatusOr<std::shared_ptr<Session>> s =
//       Session::Create(/*id=*/1, Credentials{1000, 1000, 4242}, p);
//   (*s)->Deliver(batch, now_ns);          // direction? BPF? snaplen -> ring
//   bool mine = (*s)->TokenMatches(token_from_client);
#ifndef MYDEV_DAEMON_DATAPATH_SESSION_H_
#define MYDEV_DAEMON_DATAPATH_SESSION_H_

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "daemon/backends/backend.h"
#include "daemon/datapath/bpf_program.h"
#include "daemon/datapath/session_ring.h"
#include "proto/mydev.pb.h"
#include "shm/fd_passing.h"
#include "shm/ring_producer.h"

namespace mydev::daemon {

// A peer's identity as the kernel reports it (SO_PEERCRED).
struct Credentials {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
};

using SessionToken = std::array<uint8_t, shm::kTokenBytes>;

// Already validated and resolved by SessionManager.
struct SessionParams {
  std::string device;
  uint32_t snaplen = shm::RingProducer::kMaxCaplen;
  uint64_t ring_bytes = 4ull << 20;
  bool promisc = false;
  bool immediate = false;
  uint32_t timeout_ms = 0;
  mydev::v1::Direction direction = mydev::v1::DIRECTION_INOUT;
  int dlt = DLT_EN10MB;
  uint64_t ifdropped_at_open = 0;  // device ifdrop counter when opened
  // The owner's process when it opened the session, read once then (see
  // daemon/control/peer_process.h); empty when unknown.
  std::string comm;     // "tcpdump"
  std::string cmdline;  // "tcpdump -i mydev0 -n udp", at most 256 bytes
};

// The ring's counters (monotonic) and gauges.
struct SessionCounters {
  uint64_t packets_received = 0;
  uint64_t packets_dropped = 0;
  uint64_t bytes_received = 0;
  uint64_t ring_fill_bytes = 0;        // waiting for the reader now
  uint64_t ring_high_water_bytes = 0;  // the most ever waiting (>= ring_fill_bytes)
  uint64_t wakeups = 0;                // eventfd writes to the reader
  uint64_t packets_shed = 0;           // of packets_dropped: shed with the owner over its CPU share
  uint32_t ring_members = 1;           // sessions reading the ring (> 1: shared)
};

// What the stats show of a session that changes after it opened, read under
// one lock: its counters and its current settings.
struct SessionStatus {
  SessionCounters counters;
  mydev::v1::Direction direction = mydev::v1::DIRECTION_INOUT;  // after SetDirection
  int dlt = DLT_EN10MB;                                         // after SetDataLink
  uint32_t filter_insns = 0;  // instructions of the BPF program; 0 = no filter
};

// A session's filter as of one moment: its program (null = none) and its
// link type (the program sees the SLL2 form when dlt is DLT_LINUX_SLL2).
// DeviceFanout groups the sessions whose programs have the same instructions
// and link type and runs each such program once per packet for all of them.
struct FilterView {
  std::shared_ptr<const BpfProgram> program;
  int dlt = DLT_EN10MB;
};

// One program's verdicts, run once for several sessions: keep[i] is
// program->Run() of batch[i] (in the dlt form). A session uses them only if
// its filter is still that program object and its link type still dlt (its
// FilterView unchanged); otherwise it runs its own filter.
struct SharedVerdicts {
  const BpfProgram* program = nullptr;
  int dlt = DLT_EN10MB;
  const uint32_t* keep = nullptr;
};

class Session {
 public:
  // Joins `share` (a ring of another session of the same uid and ring size,
  // see session_ring.h) if given and it has room, or creates a ring of its
  // own (shareable: later sessions may join it); draws a fresh random token.
  static absl::StatusOr<std::shared_ptr<Session>> Create(
      uint64_t id, const Credentials& owner, const SessionParams& params,
      const std::shared_ptr<SessionRing>& share = nullptr, bool shareable = false);
  ~Session();

  uint64_t id() const { return id_; }
  const Credentials& owner() const { return owner_; }
  const SessionParams& params() const { return params_; }
  const SessionToken& token() const { return token_; }
  absl::Time opened_at() const { return opened_at_; }

  // Constant-time comparison; false for a token of the wrong length.
  bool TokenMatches(absl::string_view token) const;

  // Fan-out: filters the batch into the ring, then publishes it (unless
  // publish is false: more of the same batch follows, or the caller
  // publishes the ring once for all its members, PublishRing). With shared
  // verdicts (see SharedVerdicts) the filter is not run again. For a ring of
  // its own; the members of a shareable ring are written together (Select).
  void Deliver(absl::Span<const Packet> batch, int64_t now_ns, bool publish = true,
               const SharedVerdicts* shared = nullptr);
  // Fan-out for a shareable ring: what this session takes of the batch
  // (direction, filter or shared verdicts, snaplen), as caplens[k] (0 = not
  // taken; all 0 once closed), for SessionRing::WriteBatchLocked. If one of
  // `earlier` (its ring's members selected before it, this batch) decided
  // with the same program, direction, snaplen and link type as this session
  // now, its caplens are reused; otherwise they are computed into *caplens.
  SessionRing::MemberSelection Select(absl::Span<const Packet> batch, const SharedVerdicts* shared,
                                      absl::Span<const SessionRing::MemberSelection> earlier,
                                      std::vector<uint32_t>* caplens);
  // Drops the batch unfiltered: the packets its direction would take count
  // as drops (packets_dropped and packets_shed), because the owner's uid has
  // used its share of the device thread (uid_cpu_share.h). Then publishes
  // (unless publish is false).
  void Shed(absl::Span<const Packet> batch, int64_t now_ns, bool publish = true);
  // Publishes the session's ring (what was delivered, or nothing new so the
  // client's timeout fires), once per nonzero round for all its members.
  void PublishRing(int64_t now_ns, uint64_t round = 0);
  // Marks the ring closed (MYDEV_RING_CLOSED, reason) and wakes its readers
  // (every member of a shared ring: they are closed together).
  void CloseRing(uint32_t reason);

  // No program = accept everything.
  void SetFilter(std::optional<BpfProgram> program);
  void SetDirection(mydev::v1::Direction direction);
  void SetDataLink(int dlt);
  int dlt() const;
  bool filter_set() const;
  // The current program and link type (one lock): the fan-out's shared
  // filter runs and the device's kernel pre-filter are built from them.
  FilterView filter_view() const;
  SessionCounters counters() const;
  // Counters and current settings together (one lock; the fill is the
  // client's consumer position read once, see RingProducer::fill_bytes).
  SessionStatus status() const;

  // The ring, and this session's slot in it (0 unless shared).
  const std::shared_ptr<SessionRing>& ring() const { return ring_; }
  int ring_member() const { return member_; }

  // The fds handed to the client (owned by the ring; valid for the session's life).
  int ring_fd() const { return ring_fd_; }
  int ctl_fd() const { return ctl_fd_; }
  int event_fd() const { return event_fd_; }
  uint64_t ring_bytes() const { return params_.ring_bytes; }

  // Records the fd hand-off. Returns false if it already happened.
  bool MarkAttached() { return !attached_.exchange(true); }
  bool attached() const { return attached_.load(); }

 private:
  Session(uint64_t id, const Credentials& owner, const SessionParams& params,
          std::shared_ptr<SessionRing> ring, int member);
  // counters(), for callers holding mu_.
  SessionCounters CountersLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The shared verdicts if they were computed from this session's program
  // and link type, else null.
  const uint32_t* VerdictsFor(const SharedVerdicts* shared) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // What the session takes of packet i (direction, the verdict or filter,
  // snaplen): the bytes to keep (0 = none) of *data, the packet in the
  // session's link type (the SLL2 record, in sll2_scratch_, for
  // DLT_LINUX_SLL2), whose length on the wire is *len.
  uint32_t TakeLocked(const Packet& p, size_t i, const uint32_t* verdicts, const BpfProgram* filter,
                      const uint8_t** data, uint32_t* len) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t id_;
  const Credentials owner_;
  const SessionParams params_;
  const absl::Time opened_at_;
  SessionToken token_{};
  const std::shared_ptr<SessionRing> ring_;
  const int member_;
  int ring_fd_, ctl_fd_, event_fd_;
  std::atomic<bool> attached_{false};

  mutable absl::Mutex mu_;
  // Shared with FilterView snapshots; replaced, never changed, by SetFilter.
  std::shared_ptr<const BpfProgram> filter_ ABSL_GUARDED_BY(mu_);
  mydev::v1::Direction direction_ ABSL_GUARDED_BY(mu_);
  int dlt_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t packets_shed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint8_t> sll2_scratch_ ABSL_GUARDED_BY(mu_);  // one SLL2 record
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_SESSION_H_
