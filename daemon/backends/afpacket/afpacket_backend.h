// afpacket_backend.h — a real Linux interface as a mydev device: a TPACKET_V3
// mmap ring on an AF_PACKET socket bound to the interface (the daemon's only
// privileged part: it needs CAP_NET_RAW, see capabilities.h).
//
// What it delivers, one batch per retired ring block:
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
// ifdropped() accumulates the kernel's PACKET_STATISTICS tp_drops (the kernel
// resets them on every read). SetPromiscuous() adds/drops a PACKET_MR_PROMISC
// membership (no CAP_NET_ADMIN needed; gone with the socket).
//
// When the interface vanishes or goes down the socket is closed, Health()
// turns UNAVAILABLE and the DeviceGoneHandler runs (sessions end). The thread
// then looks for the interface by name every `recheck` and reopens the socket
// when it is back and up; Health() turns OK and new sessions can open.
// An interface missing or down when the backend is created is not an error:
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
#ifndef MYDEV_DAEMON_BACKENDS_AFPACKET_AFPACKET_BACKEND_H_
#define MYDEV_DAEMON_BACKENDS_AFPACKET_AFPACKET_BACKEND_H_

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
#include "daemon/backends/afpacket/tpacket_v3_ring.h"
#include "daemon/backends/backend.h"

namespace mydev::daemon {

struct AfpacketOptions {
  std::string interface;                             // "eth0"
  TpacketV3Geometry ring;                            // kernel ring per device
  absl::Duration recheck = absl::Milliseconds(500);  // interface presence polling
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
  absl::Status Health() const override;
  void SetDeviceGoneHandler(DeviceGoneHandler handler) override { gone_ = std::move(handler); }

 private:
  AfpacketBackend(DeviceInfo info, const AfpacketOptions& options, UniqueFd stop_event);

  // Creates the socket and its ring for the interface as it is now.
  absl::Status OpenSocket() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Binds (capture starts) and re-applies promiscuous mode if wanted.
  absl::Status Bind() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyPromiscuous(bool on) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK if the interface still has our ifindex and is up.
  absl::Status CheckInterface() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadKernelStats() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Run(PacketSink sink);
  // Hands every retired block to the sink and returns it to the kernel.
  void DrainBlocks(const PacketSink& sink);
  // What Health() says while the device is gone for `why`.
  absl::Status GoneStatus(const absl::Status& why) const;
  // Closes the socket, marks the device unavailable and tells the handler.
  void GoAway(const absl::Status& why);
  // Reopens the socket if the interface is back and up.
  void TryReopen();

  DeviceInfo info_;
  const AfpacketOptions options_;
  const UniqueFd stop_event_;  // eventfd: written by Stop()
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
  absl::Status health_ ABSL_GUARDED_BY(mu_);
  std::string reopen_error_ ABSL_GUARDED_BY(mu_);  // last TryReopen() failure logged

  // Per-block scratch of the backend thread.
  std::vector<Packet> batch_;
  std::vector<LinkLayerInfo> links_;
  std::thread thread_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_AFPACKET_AFPACKET_BACKEND_H_
