// device_fanout.h — one running device: its backend, the sessions open on it, and
// the fan-out that copies each batch into every session's ring.
//
// The sessions are kept as an immutable snapshot (shared_ptr to a vector)
// replaced on every add/remove, so the backend thread only takes the lock to
// copy one pointer per batch. A ticker thread publishes every ring every
// `tick` so clients' timeouts fire on an idle device.
//
// Sessions often share a filter (the same expression, or none: tcpdump then
// sets a single `ret #k`, which runs without the interpreter). Per batch, the
// sessions whose programs have the same instructions and link type form a
// group, and the group's program runs once per packet; every member reuses
// the verdicts (direction, snaplen and the copy stay per session). Its cost
// is charged to the members' uids in equal parts.
//
// With share_rings, one uid's sessions of one ring size share a ring
// (session_ring.h): per batch each member says what it takes
// (Session::Select; members deciding alike reuse one answer) and the ring is
// written packet by packet, once per distinct form; sessions with a ring of
// their own are written directly (Session::Deliver). Rings are published
// after the whole batch is written, each once.
//
// The backend thread's time is shared fairly between uids (uid_cpu_share.h):
// while sessions of two or more uids are open, a uid whose sessions have used
// their share of the current window shed the window's remaining packets as
// their own drops, so one user's expensive filters never slow the device for
// the others.
//
// With no session open the backend is told so (Backend::SetActive(false)):
// a synthetic device's generator then sleeps until the next session comes,
// an afpacket device closes its packet socket. The first session's open
// returns once the backend is active again (Backend::AwaitActive).
//
// Promiscuous mode is reference-counted here: the backend is asked to turn it
// on with the first session that wants it and off with the last. So is
// immediate mode (Backend::SetImmediate: per-packet delivery while at least
// one session is immediate; such a session's ring also wakes its reader on
// every publish, shm/ring_producer.h WakePolicy). When the
// backend reports the device gone, every session is dropped from the device
// and its ring closed with MYDEV_RING_CLOSE_DEVICE_GONE (shm/ring_abi.h).
//
// The kernel pre-filter (Backend::SetKernelFilter, filter_union.h): at
// Start() and whenever a session is added or removed or changes its filter
// or link type, the union of the sessions' filters is rebuilt and handed to
// the backend — `ret #0` with no session, so an idle afpacket device copies
// nothing. A new session's filter is in the kernel before AddSession returns;
// a new filter is installed in the kernel before the session starts filtering
// with it (SetSessionFilter), so no packet it wants is dropped below; a
// removed session's filter leaves after it stopped receiving. A session on
// another link type than the device's default (DLT_LINUX_SLL2: its filter
// runs on a record the daemon builds, not on the frame the kernel sees)
// counts as accepting everything. Backends without a kernel (synthetic,
// replay) answer UNIMPLEMENTED once and are not asked again.
//
//   DeviceFanout dev(std::make_unique<SyntheticBackend>(info, opts), absl::Milliseconds(10),
//                    /*uid_cpu_share=*/0.25);
//   dev.AddSession(session);          // starts receiving with the next batch
//                                     // (UNAVAILABLE while the device is gone)
//   dev.Start();                      // backend thread + ticker
//   ...
//   dev.RemoveSession(session->id());
//   dev.Stop();
#ifndef MYDEV_DAEMON_DATAPATH_DEVICE_FANOUT_H_
#define MYDEV_DAEMON_DATAPATH_DEVICE_FANOUT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "daemon/backends/backend.h"
#include "daemon/datapath/filter_union.h"
#include "daemon/datapath/session.h"
#include "daemon/datapath/uid_cpu_share.h"

namespace mydev::daemon {

struct DeviceCounters {
  uint64_t packets_seen = 0;
  uint64_t bytes_seen = 0;
  uint64_t packets_ifdropped = 0;
  uint64_t kernel_ring_bytes = 0;  // Backend::kernel_ring_bytes()
  uint32_t sessions = 0;
  uint32_t promisc_sessions = 0;    // sessions holding promiscuous mode on
  uint32_t immediate_sessions = 0;  // sessions holding per-packet delivery on
};

// The kernel pre-filter below a device, as the Stats show it.
struct KernelFilterStatus {
  bool supported = false;  // the backend has a kernel filter (afpacket)
  KernelFilterKind kind = KernelFilterKind::kRejectAll;
  uint32_t insns = 0;  // instructions in the kernel
  std::string note;    // kAcceptAll / kFallback: why every packet passes
};

class DeviceFanout {
 public:
  // tick: how often idle rings are published; uid_cpu_share: the fraction of
  // the backend thread's time one uid's sessions may take while sessions of
  // two or more uids are open (1 = no limit), accounted in kCpuShareWindow.
  DeviceFanout(std::unique_ptr<Backend> backend, absl::Duration tick, double uid_cpu_share = 1.0);

  // The accounting window of uid_cpu_share.
  static constexpr absl::Duration kCpuShareWindow = absl::Milliseconds(100);
  // With sessions of two or more uids, batches are delivered in chunks of at
  // most this many packets, each checked against the uids' shares.
  static constexpr size_t kShareChunk = 256;
  // How long AddSession waits for the backend to start delivering packet by
  // packet for the device's first immediate session (Backend::AwaitImmediate).
  static constexpr absl::Duration kImmediateSwitchLimit = absl::Seconds(1);
  // How long AddSession waits for the backend to become active for the
  // device's first session (Backend::AwaitActive: afpacket opens its socket).
  static constexpr absl::Duration kActivateLimit = absl::Seconds(1);
  ~DeviceFanout();
  DeviceFanout(const DeviceFanout&) = delete;
  DeviceFanout& operator=(const DeviceFanout&) = delete;

  // Starts the backend (its sink is OnBatch) and the ticker.
  absl::Status Start();
  // Stops both; idempotent.
  void Stop();

  const DeviceInfo& info() const { return backend_->info(); }
  Backend& backend() { return *backend_; }
  // The backend's Health(): OK while the device serves, UNAVAILABLE (saying
  // why) while its interface is missing or down.
  absl::Status health() const { return backend_->Health(); }

  // UNAVAILABLE while the device is gone; the error of turning promiscuous
  // mode on when this is the first session to ask for it. For an immediate
  // session, returns once the backend delivers packet by packet (or after
  // kImmediateSwitchLimit).
  absl::Status AddSession(std::shared_ptr<Session> session);
  // No-op for a session not on the device (e.g. dropped when it went away).
  void RemoveSession(uint64_t session_id);

  // Sets session's filter (nullopt: none). The kernel pre-filter takes the
  // new filter in first, so from the moment the session filters with it no
  // packet it accepts is dropped below.
  void SetSessionFilter(Session& session, std::optional<BpfProgram> program);
  // Sets session's link type, the kernel pre-filter first (see the top).
  void SetSessionDataLink(Session& session, int dlt);
  // What the kernel pre-filter is now.
  KernelFilterStatus kernel_filter() const;

  // With share_rings (proto/config.proto DeviceConfig), sessions of one uid
  // with the same ring size share a ring (session_ring.h). Set before Start.
  void set_share_rings(bool share) { share_rings_ = share; }
  bool share_rings() const { return share_rings_; }
  // A ring of this device's sessions that a new session of uid with
  // ring_bytes may join (shareable, same uid and size, a free slot), or null.
  std::shared_ptr<SessionRing> RingToJoin(uint32_t uid, uint64_t ring_bytes) const;

  // The backend's DeviceGoneHandler: drops every session, closing its ring.
  void OnDeviceGone(const absl::Status& why);

  // The sink: per session direction, BPF, snaplen, copy, publish.
  void OnBatch(absl::Span<const Packet> batch);
  // Publishes every session's ring (what the ticker does).
  void TickAll();

  // Counters and the session counts, the two counts read under one lock.
  DeviceCounters counters() const;

 private:
  using SessionList = std::vector<std::shared_ptr<Session>>;
  // Sessions with the same program (same instructions, same link type): the
  // program runs once per packet for all of them (OnBatch's scratch).
  struct FilterGroup {
    const BpfProgram* program = nullptr;  // the first member's
    int dlt = 0;
    size_t members = 0;
    bool computed = false;  // keep holds this part of the batch's verdicts
    int64_t share_ns = 0;   // the run's time / members, charged to each member's uid
    std::vector<uint32_t> keep;
  };
  // The sessions of one shareable ring in a batch, and what each takes of
  // the part being delivered (OnBatch's scratch).
  struct RingGroup {
    SessionRing* ring = nullptr;
    std::vector<SessionRing::MemberSelection> selected;
  };
  std::shared_ptr<const SessionList> Snapshot() const;
  // Fills ring_of_ and ring_groups_ for the sessions of a batch.
  void GroupRings(const SessionList& sessions);
  // Session i (s) of the batch: delivers part into its own ring, or selects
  // what it takes for its shareable ring's group.
  void DeliverOrSelect(size_t i, Session& s, absl::Span<const Packet> part, int64_t now_ns,
                       const SharedVerdicts* verdicts);
  // Writes part into a shareable ring for the members selected.
  void WriteRing(RingGroup& g, absl::Span<const Packet> part);
  // Fills filter_views_, group_of_ and groups_ for the sessions of a batch.
  void GroupFilters(const SessionList& sessions);
  // The verdicts session i may use for part (computing its group's first),
  // or null when it runs its own filter. *ran_ns: time spent computing (0 if
  // already done).
  const SharedVerdicts* SharedFor(size_t i, absl::Span<const Packet> part, SharedVerdicts* out,
                                  int64_t* ran_ns);
  // Replaces sessions_ and recounts distinct_uids_.
  void SetSessionsLocked(std::shared_ptr<const SessionList> next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The bytes of the sessions' rings together (a shared ring once): what
  // the backend's kernel ring may grow to (Backend::SetRingBytesHint). The
  // thread copies each packet into each of those rings, so how late it may
  // fall behind grows with them, and a ring-per-session device with eight
  // default sessions lost packets in an 8 MiB kernel ring with the thread
  // at a quarter of a CPU (docs/BENCHMARKS.md, section 11).
  uint64_t RingBytesOfSessionsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunTicker();
  // Publishes each session's ring once (a shared ring is asked by each of its
  // members in the same round). charge: the device thread's UidCpuShare, to
  // charge each session's publish (its reader's wake-up) to its uid; only
  // OnBatch passes it (the ticker is another thread).
  void PublishAll(const SessionList& sessions, int64_t now_ns, UidCpuShare* charge = nullptr);
  // A fresh id for a publish round (never 0).
  uint64_t NextRound() { return next_round_.fetch_add(1, std::memory_order_relaxed); }
  // A change to one session not made yet, which the pre-filter takes in.
  struct PendingChange {
    uint64_t session_id = 0;
    std::optional<std::vector<bpf_insn>> filter;  // set: the new program (empty = none)
    std::optional<int> dlt;                       // set: the new link type
  };
  // Rebuilds the union of the sessions' filters (with change applied) and
  // hands it to the backend; logs when it falls back to accepting everything.
  void RecomputeKernelFilter(const PendingChange* change = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(kernel_filter_mu_) ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<Backend> backend_;
  const absl::Duration tick_;
  bool share_rings_ = false;
  std::atomic<uint64_t> next_round_{1};
  std::atomic<uint64_t> packets_seen_{0};
  std::atomic<uint64_t> bytes_seen_{0};
  // Distinct owner uids in sessions_ (written under mu_ with it).
  std::atomic<uint32_t> distinct_uids_{0};
  UidCpuShare cpu_share_;  // the backend thread's only (OnBatch)
  // OnBatch's scratch (the backend thread's only): per session of the batch
  // its FilterView and group (-1: none, it runs its own program or none).
  std::vector<FilterView> filter_views_;
  std::vector<int> group_of_;
  std::vector<FilterGroup> groups_;  // the first group_count_ are in use
  size_t group_count_ = 0;
  std::vector<uint8_t> sll2_scratch_;  // one SLL2 record, for a group's program
  // Per session of the batch: its group in ring_groups_ (-1: a ring of its
  // own) and, if in one, what it takes of the part (Session::Select).
  std::vector<int> ring_of_;
  std::vector<std::vector<uint32_t>> caplens_;
  std::vector<RingGroup> ring_groups_;  // the first ring_group_count_ are in use
  size_t ring_group_count_ = 0;

  // Serialises rebuilding the kernel pre-filter (and a filter change with it).
  absl::Mutex kernel_filter_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool kernel_filter_supported_ ABSL_GUARDED_BY(kernel_filter_mu_) = true;

  mutable absl::Mutex mu_;
  std::shared_ptr<const SessionList> sessions_ ABSL_GUARDED_BY(mu_);
  KernelFilterStatus kernel_filter_ ABSL_GUARDED_BY(mu_);
  uint32_t promisc_sessions_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t immediate_sessions_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_DEVICE_FANOUT_H_
