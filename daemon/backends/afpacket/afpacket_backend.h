// afpacket_backend.h — a real Linux interface as a mydev device: a TPACKET_V3
// mmap ring on an AF_PACKET socket bound to the interface (the daemon's only
// privileged part: it needs CAP_NET_RAW, see capabilities.h).
//
// Immediate mode: a TPACKET_V3 block is handed over when full or after
// `ring.retire_timeout_ms`, too late for a session in immediate mode. While
// SetImmediate(true) is in force (DeviceFanout: some session on the device is
// immediate), the packets go to a second socket with a TPACKET_V2 ring
// (tpacket_v2_ring.h), which hands over and wakes per packet; its frames are
// delivered as soon as poll() says so, as many as are there in one batch.
// Both sockets are the two members of one PACKET_FANOUT_CBPF group whose
// classic BPF program is a single `ret #index`: replacing the program
// (PACKET_FANOUT_DATA) moves every packet from one socket to the other at
// once, and the kernel returns from it only after an RCU grace period, when no
// packet is still being written into the socket left. So switching loses and
// duplicates nothing and keeps the order: to per-frame, the TPACKET_V3 block
// the kernel was filling is read at once (its packets are all complete) and
// remembered, so it is not delivered again when the kernel retires it; back to
// blocks, the TPACKET_V2 ring is drained before any block is read. The second
// socket exists only while wanted. Without PACKET_FANOUT_CBPF (kernels before
// 4.3) immediate sessions get blocks, and the log says so.
//
// Busy polling (AfpacketOptions::busy_poll, off by default): while frames
// are wanted, a second thread at SCHED_IDLE spins on the per-frame ring and
// hands each frame to the sink itself; the backend thread meanwhile reads no
// ring (it still watches the sockets for errors, the interface and its
// eventfds). A packet then costs no wake-up of the daemon, and the reader it
// wakes lands on the poller's CPU, which the scheduler counts as idle (a
// vCPU that halted would first have to be woken by the host). Any other
// thread on that CPU runs first; if the poller finds it was off the CPU for
// over half of kPollerWindowNs (the machine is busy), it ends and the
// backend thread goes back to poll() for kPollerCooldownNs. Every change of
// socket or path stops the poller first.
//
// What it delivers, one batch per retired ring block (or per drain of the
// per-frame ring):
//   - frames with the lengths and nanosecond timestamps (tp_sec, tp_nsec) the
//     kernel gave; a VLAN tag the kernel moved to aux data
//     (TP_STATUS_VLAN_VALID) is put back after the MAC addresses, as libpcap
//     does for DLT_EN10MB;
//   - direction from sll_pkttype (PACKET_OUTGOING = OUT, everything else IN;
//     outgoing packets are captured, like libpcap);
//   - a LinkLayerInfo per packet so sessions can switch to DLT_LINUX_SLL2.
// Link types offered: DLT_EN10MB (default), DLT_LINUX_SLL2. Ethernet and
// loopback interfaces only.
//
// SetKernelFilter() attaches a classic BPF program (SO_ATTACH_FILTER) to the
// TPACKET_V3 socket, to the per-frame socket while it exists and to a bigger
// ring's socket while it takes over (see below), and to each new one before
// it is bound: the kernel drops what it rejects and keeps only the bytes it
// returns (tp_snaplen; tp_len, delivered as Packet::len, stays the length on
// the wire). This socket filter is not the fanout group's program
// (PACKET_FANOUT_DATA, which only picks the member socket); the kernel runs
// the filter of the member a packet was steered to.
//
// The kernel ring follows the sessions' buffers: SetRingBytesHint() (their
// rings together, each tcpdump -B) makes the thread grow it to
// that many bytes (more blocks of ring.block_bytes, at most max_ring_bytes)
// with the same fanout group: a new socket with the bigger ring joins it
// (its own hook first blocked by a reject-all socket filter, removed after
// a grace period), the program moves the packets to it, the old ring is read
// to its last packet and closed, and the new socket becomes member 0 — no
// loss, duplicates or reordering. It never shrinks while the device runs,
// and waits while a session is immediate (the per-frame socket is member 1).
//
// ifdropped() accumulates the kernel's PACKET_STATISTICS tp_drops (the kernel
// resets them on every read). SetPromiscuous() adds/drops a PACKET_MR_PROMISC
// membership (no CAP_NET_ADMIN needed; gone with the socket).
//
// Idle: while SetActive(false) is in force (DeviceFanout: no session open)
// the device has no packet socket at all — the thread closes the TPACKET_V3
// socket and any per-frame one (their drops stay in ifdropped()), so the
// kernel runs no hook per packet for it; Health() stays OK and the gone
// handler is not called. The thread still checks the interface every
// `recheck` and goes gone (Health() UNAVAILABLE, handler called) if it
// vanishes or goes down. SetActive(true) makes the thread open and bind the
// socket again (OpenSocket() + Bind(), as when an interface comes back: the
// kernel filter, promiscuous mode and the ring grown from -B are re-applied,
// the per-frame socket follows if immediate is wanted); AwaitActive()
// returns once it is bound, and DeviceFanout waits for it before the first
// session's open returns. A failure to reopen turns the device gone. Create()
// still opens the socket (so a wrong interface or missing CAP_NET_RAW fails
// as before); SetActive(false) before Start() closes it at once.
//
// When the interface vanishes or goes down the socket is closed, Health()
// turns UNAVAILABLE and the DeviceGoneHandler runs (sessions end). The thread
// then looks for the interface by name every `recheck` and reopens the socket
// when it is back and up; Health() turns OK and new sessions can open.
// An interface that comes back while the device is idle is only checked
// (opened and closed again). An interface missing or down when the backend
// is created is not an error:
// the device starts in that gone state (a warning is logged) and serves once
// the interface is present and up. Its DeviceInfo (pcap_flags) describes the
// interface as it was at creation.
//
//   AfpacketOptions o;
//   o.interface = "veth0";
//   absl::StatusOr<std::unique_ptr<AfpacketBackend>> b =
//       AfpacketBackend::Create(info /* name "mydev1" */, o);  // opens the socket
//   (*b)->SetDeviceGoneHandler([](const absl::Status& why) { ... });
//   (*b)->Start(sink);                                     // binds, starts the thread
//   (*b)->Inject(frame);                                   // send() on the socket
//   (*b)->SetActive(false);                                // no session: no socket
//   (*b)->SetImmediate(true);                              // per-packet delivery
#ifndef MYDEV_DAEMON_BACKENDS_AFPACKET_AFPACKET_BACKEND_H_
#define MYDEV_DAEMON_BACKENDS_AFPACKET_AFPACKET_BACKEND_H_

#include <linux/filter.h>  // sock_filter

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "daemon/backends/afpacket/tpacket_v2_ring.h"
#include "daemon/backends/afpacket/tpacket_v3_ring.h"
#include "daemon/backends/backend.h"

namespace mydev::daemon {

struct AfpacketOptions {
  std::string interface;                             // "eth0"
  TpacketV3Geometry ring;                            // kernel ring per device, at first
  uint64_t max_ring_bytes = 128ull << 20;            // the most SetRingBytesHint() grows it to
  absl::Duration recheck = absl::Milliseconds(500);  // interface presence polling
  // While packets come frame by frame (an immediate session is open), a
  // SCHED_IDLE thread spins on the per-frame ring and delivers (see the top
  // of this file).
  bool busy_poll = false;
};

class AfpacketBackend : public Backend {
 public:
  // Checks the interface (Ethernet or loopback), fills in the device's link
  // types, flags and description, and opens the packet socket and its ring
  // (not yet bound: nothing is captured before Start()). A missing or down
  // interface gives a backend that starts gone (Health() UNAVAILABLE).
  static absl::StatusOr<std::unique_ptr<AfpacketBackend>> Create(DeviceInfo info,
                                                                 const AfpacketOptions& options);
  ~AfpacketBackend() override;

  const DeviceInfo& info() const override { return info_; }
  absl::Status Start(PacketSink sink) override;
  void Stop() override;
  absl::StatusOr<uint32_t> Inject(absl::Span<const uint8_t> frame) override;
  uint64_t ifdropped() const override { return ifdropped_.load(std::memory_order_relaxed); }
  absl::Status SetPromiscuous(bool on) override;
  // Per-packet delivery on or off (see the top of this file); the backend
  // thread switches within a few milliseconds. FAILED_PRECONDITION when the
  // kernel cannot steer packets between two sockets (no PACKET_FANOUT_CBPF).
  absl::Status SetImmediate(bool on) override;
  // Grows the kernel ring to bytes (see the top of this file).
  void SetRingBytesHint(uint64_t bytes) override;
  // Blocks in the kernel ring now (it may grow, see SetRingBytesHint).
  uint32_t ring_blocks() const;
  // ring_blocks() of ring.block_bytes each (0 while the device has no socket).
  uint64_t kernel_ring_bytes() const override;
  // Waits for the backend thread's switch (see SetImmediate).
  void AwaitImmediate(absl::Duration limit) override;
  // false: the thread closes every packet socket of the device (an idle
  // device costs the kernel nothing per packet); true: it opens and binds
  // the socket again (see the top of this file). Before Start() it takes
  // effect at once (false) or in Start() (true).
  void SetActive(bool active) override;
  // Returns once the socket is open and bound after SetActive(true) (or
  // closed after SetActive(false)), when the device is gone, or after limit.
  void AwaitActive(absl::Duration limit) override;
  // Whether the device has its packet socket now (tests).
  bool socket_open() const;
  // Whether the busy poller runs now (at SCHED_IDLE), and how often one gave
  // way because it was starved of CPU (tests; see AfpacketOptions::busy_poll).
  bool busy_polling() const { return poller_running_.load(std::memory_order_acquire); }
  uint64_t busy_poll_give_ways() const { return poller_give_ways_.load(std::memory_order_relaxed); }
  // The poller gives way when it was off the CPU for over half of a window
  // of kPollerWindowNs (counting gaps between its clock readings longer than
  // kPollerGapNs); the device then waits kPollerCooldownNs before it polls
  // again.
  static constexpr int64_t kPollerWindowNs = 100'000'000;
  static constexpr int64_t kPollerGapNs = 200'000;
  static constexpr int64_t kPollerCooldownNs = 1'000'000'000;
  // Attaches program to every packet socket of the device (see the top of
  // this file); on failure detaches it (everything passes) and says why. An
  // empty program detaches (OK).
  absl::Status SetKernelFilter(absl::Span<const bpf_insn> program) override;
  absl::Status Health() const override;
  void SetDeviceGoneHandler(DeviceGoneHandler handler) override { gone_ = std::move(handler); }

 private:
  // Frames per batch from the TPACKET_V2 ring.
  static constexpr uint32_t kMaxFrameBatch = 256;

  AfpacketBackend(DeviceInfo info, const AfpacketOptions& options, UniqueFd stop_event,
                  UniqueFd wake_event);

  // Creates the socket and its ring for the interface as it is now.
  absl::Status OpenSocket() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Binds (capture starts), makes the socket the first member of a new
  // fanout group (its packets: member 0) and re-applies promiscuous mode if
  // wanted. A kernel without PACKET_FANOUT_CBPF leaves fanout_id_ -1.
  absl::Status Bind() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Opens the per-frame socket with its TPACKET_V2 ring, binds it and adds it
  // to the group as member 1 (the group's packets still go to member 0).
  absl::Status OpenFrameSocket() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The block count SetRingBytesHint() asks for, within max_ring_bytes and
  // never below the configured one.
  uint32_t WantedBlocks() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Opens a socket with a TPACKET_V3 ring of `blocks` blocks, a reject-all
  // socket filter (its own hook delivers nothing), bound and joined to the
  // fanout group as the last member.
  absl::Status OpenGroupMember(uint32_t blocks, UniqueFd* fd, std::unique_ptr<TpacketV3Ring>* ring)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Points the fanout program at member `index` (0: blocks, 1: frames).
  // Returns once no packet is still on its way into the other member.
  absl::Status SteerTo(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyPromiscuous(bool on) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Attaches kernel_filter_ to fd (OK when no filter was ever set).
  absl::Status AttachKernelFilter(int fd) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK if the interface still has our ifindex and is up.
  absl::Status CheckInterface() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadKernelStats() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the packets should go to the per-frame socket now.
  bool FramesWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True once the thread's delivery matches FramesWanted() (or nothing runs).
  bool SwitchSettled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True once the socket is open exactly while active_wanted_ (or gone, or
  // nothing runs).
  bool ActiveSettled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes every packet socket and ring (counting their drops first); the
  // device stays healthy. The backend thread's, or before Start().
  void CloseSocket() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Run(PacketSink sink);
  // Hands every retired block to the sink and returns it to the kernel
  // (less the block_consumed_ packets already delivered of the first).
  void DrainBlocks(const PacketSink& sink);
  // Hands the packets of the block the kernel is filling to the sink, while
  // the group's packets go to the per-frame socket (nothing writes to it).
  void DrainOpenBlock(const PacketSink& sink);
  // Delivers packets [skip, num_pkts) of a block; returns num_pkts.
  uint32_t DeliverBlock(tpacket_block_desc* block, uint32_t skip, const PacketSink& sink);
  // Fills batch and links (kMaxFrameBatch each) from ring's filled frames,
  // oldest first, without releasing them; returns how many.
  static uint32_t CollectFrames(const TpacketV2Ring& ring, Packet* batch, LinkLayerInfo* links);
  // Hands every filled TPACKET_V2 frame to the sink (batches of up to
  // kMaxFrameBatch) and returns them to the kernel.
  void DrainFrames(const PacketSink& sink);
  // The busy poller (AfpacketOptions::busy_poll): a thread of its own, at
  // SCHED_IDLE, that hands every frame of frame_ring_ to the sink while it
  // runs; the backend thread then reads neither ring. It ends when told
  // (StopPoller) or by itself when it was off the CPU for over half of
  // kPollerWindowNs (poller_done_, then wake_event_).
  void StartPoller(const PacketSink& sink);
  // Stops and joins the poller (if any); after it the backend thread owns
  // the rings again. Every change of socket or path begins with it.
  void StopPoller();
  void BusyPoll(const PacketSink& sink, TpacketV2Ring* ring);
  // Swaps in a socket with a bigger TPACKET_V3 ring (WantedBlocks()) without
  // loss (see the top of the file).
  void GrowRing(const PacketSink& sink);
  // Moves the group's packets to the per-frame socket (on) or back to the
  // blocks, in order and without loss or duplicates (see the top of the file).
  void SwitchPath(bool on, const PacketSink& sink);
  // What Health() says while the device is gone for `why`.
  absl::Status GoneStatus(const absl::Status& why) const;
  // Closes the socket, marks the device unavailable and tells the handler.
  void GoAway(const absl::Status& why);
  // Reopens the socket if the interface is back and up.
  void TryReopen();

  DeviceInfo info_;
  const AfpacketOptions options_;
  const UniqueFd stop_event_;  // eventfd: written by Stop()
  const UniqueFd wake_event_;  // eventfd: written by SetImmediate(), SetActive(), ...
  DeviceGoneHandler gone_;     // set before Start()
  std::atomic<uint64_t> ifdropped_{0};

  mutable absl::Mutex mu_;
  UniqueFd fd_ ABSL_GUARDED_BY(mu_);
  // Touched by the backend thread only once started (it alone replaces it).
  std::unique_ptr<TpacketV3Ring> ring_;
  int ifindex_ ABSL_GUARDED_BY(mu_) = 0;
  bool bound_ ABSL_GUARDED_BY(mu_) = false;
  bool promisc_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool promisc_on_ ABSL_GUARDED_BY(mu_) = false;  // membership on the current socket
  // The fanout group of fd_ (and of frame_fd_); -1 = none (no PACKET_FANOUT_CBPF).
  int fanout_id_ ABSL_GUARDED_BY(mu_) = -1;
  bool immediate_wanted_ ABSL_GUARDED_BY(mu_) = false;   // SetImmediate(true) in force
  bool frames_failed_ ABSL_GUARDED_BY(mu_) = false;      // the last switch to frames failed
  bool frames_applied_ ABSL_GUARDED_BY(mu_) = false;     // per_frame_, for other threads
  bool running_ ABSL_GUARDED_BY(mu_) = false;            // the thread is between Start() and Stop()
  bool active_wanted_ ABSL_GUARDED_BY(mu_) = true;       // SetActive(): some session is open
  uint64_t ring_bytes_wanted_ ABSL_GUARDED_BY(mu_) = 0;  // SetRingBytesHint()'s largest
  uint32_t ring_blocks_ ABSL_GUARDED_BY(mu_) = 0;        // blocks of ring_ (0 = none yet)
  bool grow_failed_ ABSL_GUARDED_BY(mu_) = false;        // until the next larger hint
  // SetKernelFilter()'s program, attached to every socket the device opens;
  // empty = none (the kernel passes everything).
  std::vector<sock_filter> kernel_filter_ ABSL_GUARDED_BY(mu_);
  // GrowRing()'s new socket from joining the group (it takes the packets) to
  // the swap, when it becomes fd_; -1 otherwise. GrowRing() owns it.
  int grow_fd_ ABSL_GUARDED_BY(mu_) = -1;
  // The per-frame socket, open while its ring is read (per_frame_).
  UniqueFd frame_fd_ ABSL_GUARDED_BY(mu_);
  absl::Status health_ ABSL_GUARDED_BY(mu_);
  std::string reopen_error_ ABSL_GUARDED_BY(mu_);  // last TryReopen() failure logged

  // The backend thread's own (it alone creates and replaces them):
  std::unique_ptr<TpacketV2Ring> frame_ring_;  // frame_fd_'s ring
  bool per_frame_ = false;                     // the group's packets go to frame_fd_
  // Packets of ring_'s current block already delivered (read while the kernel
  // still owned it, DrainOpenBlock); 0 after each ReleaseBlock().
  uint32_t block_consumed_ = 0;

  // Per-batch scratch of the backend thread.
  std::vector<Packet> batch_;
  std::vector<LinkLayerInfo> links_;
  std::thread thread_;

  // The busy poller, started and joined by the backend thread only.
  std::thread poller_;
  std::atomic<bool> poller_stop_{false};     // set by StopPoller
  std::atomic<bool> poller_done_{false};     // set by the poller when it ends by itself
  std::atomic<bool> poller_failed_{false};   // ... because SCHED_IDLE was refused
  std::atomic<bool> poller_running_{false};  // busy_polling()
  std::atomic<uint64_t> poller_give_ways_{0};
  int64_t poller_cooldown_until_ns_ = 0;  // CLOCK_MONOTONIC; no poller before it
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_AFPACKET_AFPACKET_BACKEND_H_
