// backend.h — the interface every capture device backend implements
// (synthetic today; afpacket and replay plug in through backend_factory.h).
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
#ifndef MYDEV_DAEMON_BACKEND_H_
#define MYDEV_DAEMON_BACKEND_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace mydev::daemon {

enum class PacketDirection : uint8_t {
  kIn = 1,   // received by the device
  kOut = 2,  // sent by the device
};

// One packet as a backend delivers it.
struct Packet {
  uint64_t ts_ns = 0;      // CLOCK_REALTIME nanoseconds
  uint32_t len = 0;        // length on the wire
  uint32_t caplen = 0;     // bytes at data (<= len)
  PacketDirection direction = PacketDirection::kIn;
  const uint8_t* data = nullptr;
};

// Called from the backend's thread with one batch at a time.
using PacketSink = std::function<void(absl::Span<const Packet> batch)>;

inline constexpr int kDltEn10mb = 1;  // DLT_EN10MB

// What ListDevices shows about a device.
struct DeviceInfo {
  std::string name;            // "mydev0"
  std::string description;     // shown by `tcpdump -D`
  std::string backend;         // "synthetic", "afpacket", "replay"
  std::vector<int> dlts;       // first = default
  uint32_t pcap_flags = 0;     // PCAP_IF_*
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
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKEND_H_
