// backend.h — the interface every capture device backend implements
// (synthetic/, afpacket/, replay/ beside this file). backend_factory.h builds
// one from a device's config: the only daemon code that names a concrete backend.
//
// A backend owns its own thread. Between Start() and Stop() it hands batches
// of packets to the sink from that thread; the packet bytes are valid only for
// the duration of the sink call.
//
//   std::unique_ptr<Backend> b = ...;
//   absl::Status s = b->Start([](absl::Span<const Packet> batch) {
//     for (const Packet& p : batch) use(p.data, p.caplen, p.len, p.ts_ns);
//   });
//   ...
//   b->Stop();   // joins the thread; no sink call runs after it returns
#ifndef MYDEV_DAEMON_BACKENDS_BACKEND_H_
#define MYDEV_DAEMON_BACKENDS_BACKEND_H_

#include <pcap/dlt.h>   // DLT_*: DeviceInfo::dlts
#include <pcap/pcap.h>  // struct bpf_insn: SetKernelFilter
#include <time.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace mydev::daemon {

enum class PacketDirection : uint8_t {
  kIn = 1,   // received by the device
  kOut = 2,  // sent by the device
};

// Link-layer facts about a packet taken from a Linux interface (its
// sockaddr_ll): what a DLT_LINUX_SLL2 header needs (see daemon/datapath/sll2.h), so a
// session that switched to SLL2 can rebuild the record from the default form.
struct LinkLayerInfo {
  uint16_t protocol = 0;  // sll_protocol, host byte order (ETH_P_*)
  uint16_t hatype = 0;    // ARPHRD_*
  uint32_t ifindex = 0;
  uint8_t pkttype = 0;  // PACKET_HOST, PACKET_OUTGOING, ...
  uint8_t halen = 0;    // valid bytes of addr
  uint8_t addr[8] = {};
  uint32_t payload_offset = 0;  // bytes at data before the network-layer header
};

// One packet as a backend delivers it.
struct Packet {
  uint64_t ts_ns = 0;   // CLOCK_REALTIME nanoseconds
  uint32_t len = 0;     // length on the wire
  uint32_t caplen = 0;  // bytes at data (<= len)
  PacketDirection direction = PacketDirection::kIn;
  const uint8_t* data = nullptr;
  const LinkLayerInfo* link = nullptr;  // set by backends that offer DLT_LINUX_SLL2
};

// Nanoseconds on clock: CLOCK_REALTIME for Packet::ts_ns, CLOCK_MONOTONIC
// for pacing and the rings' wake timeouts.
inline int64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Called from the backend's thread with one batch at a time.
using PacketSink = std::function<void(absl::Span<const Packet> batch)>;

// Called from the backend's thread when the device stops serving (interface
// vanished or went down); why says so. The backend keeps running and serves
// again once the device returns (Health() turns OK).
using DeviceGoneHandler = std::function<void(const absl::Status& why)>;

// What ListDevices shows about a device.
struct DeviceInfo {
  std::string name;         // "mydev0"
  std::string description;  // shown by `tcpdump -D`
  std::string backend;      // "synthetic", "afpacket", "replay"
  std::vector<int> dlts;    // DLT_* (pcap/dlt.h); first = default
  uint32_t pcap_flags = 0;  // PCAP_IF_* (pcap/pcap.h)
  bool can_inject = false;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const DeviceInfo& info() const = 0;

  // Starts delivering batches to sink from the backend's own thread.
  // Fails with FAILED_PRECONDITION when already started.
  virtual absl::Status Start(PacketSink sink) = 0;

  // Stops and joins the thread. Idempotent.
  virtual void Stop() = 0;

  // Sends one frame out of the device. Returns the bytes sent.
  virtual absl::StatusOr<uint32_t> Inject(absl::Span<const uint8_t> frame) {
    (void)frame;
    return absl::UnimplementedError("device '" + info().name + "' (" + info().backend +
                                    " backend) cannot inject packets");
  }

  // Packets the backend (or the kernel below it) dropped before the fan-out.
  virtual uint64_t ifdropped() const { return 0; }

  // Bytes of the kernel ring the backend reads the device from now (0: it
  // has none, or no socket while idle). Stats show it beside ifdropped().
  virtual uint64_t kernel_ring_bytes() const { return 0; }

  // Promiscuous mode on (true) or off. DeviceFanout reference-counts the
  // sessions that asked for it and calls this on the first and the last one.
  virtual absl::Status SetPromiscuous(bool on) {
    (void)on;
    return absl::OkStatus();
  }

  // Per-packet delivery on (true) or off: while on, the backend hands each
  // packet to the sink as soon as it has it, for sessions in immediate mode,
  // instead of batching them for throughput (afpacket: TPACKET_V3 blocks).
  // DeviceFanout reference-counts the immediate sessions and calls this on
  // the first and the last one. Backends that never hold packets back
  // ignore it.
  virtual absl::Status SetImmediate(bool on) {
    (void)on;
    return absl::OkStatus();
  }
  // Whether any session is open on the device (DeviceFanout calls it with
  // false before Start() when there is none, with true for the first session
  // and with false after the last one). A backend whose packets cost
  // something to make while nobody listens pauses (synthetic: its generator
  // sleeps until a session comes; afpacket: closes its packet socket); the
  // others ignore it.
  virtual void SetActive(bool active) { (void)active; }
  // Returns once the last SetActive() is in effect (afpacket: its thread has
  // opened and bound the packet socket), or after `limit`. DeviceFanout calls
  // it, outside its lock, before the device's first session's open returns,
  // so that the session gets every packet sent after that.
  virtual void AwaitActive(absl::Duration limit) { (void)limit; }

  // The bytes of the session rings on the device together (each asked for
  // with tcpdump -B; a shared ring once): DeviceFanout calls it when a
  // session opens. A backend with a kernel ring of its own may grow that ring
  // to match, within its limit (afpacket), so that what the kernel holds for
  // the device's thread, which copies into each of them, is what the
  // sessions hold for their readers; the others ignore it.
  virtual void SetRingBytesHint(uint64_t bytes) { (void)bytes; }

  // Returns once the last SetImmediate() is in effect (a backend may switch
  // from its own thread), or after `limit`. DeviceFanout calls it, outside
  // its lock, before an immediate session's open returns, so that the
  // session's first packets already come one by one.
  virtual void AwaitImmediate(absl::Duration limit) { (void)limit; }

  // Installs `program` (classic BPF) as the filter of the kernel socket(s)
  // the device reads from, so that packets it rejects never reach the
  // daemon and only as many bytes as it returns are copied (DeviceFanout
  // installs the union of its sessions' filters, filter_union.h; `ret #0`
  // with no session). It runs in the Linux kernel as a socket filter: on the
  // frame as the kernel holds it (a VLAN tag may be outside it), with the
  // kernel's ancillary loads (SKF_AD_*). Kept across reopening the socket.
  // UNIMPLEMENTED (the default) for backends with no kernel below them: their
  // sessions' own filters do all the work. On any other error the backend
  // filters nothing in the kernel (every packet reaches the daemon).
  virtual absl::Status SetKernelFilter(absl::Span<const bpf_insn> program) {
    (void)program;
    return absl::UnimplementedError("device '" + info().name + "' (" + info().backend +
                                    " backend) has no kernel filter");
  }

  // OK while the device serves; UNAVAILABLE (saying why) while it is gone.
  virtual absl::Status Health() const { return absl::OkStatus(); }

  // Registers the handler called when the device goes away. Call before Start().
  virtual void SetDeviceGoneHandler(DeviceGoneHandler handler) { (void)handler; }
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_BACKEND_H_
