// capabilities.h — mydevd drops every Linux capability it does not need once
// its devices are open.
//
// Kept: CAP_NET_RAW, and only that. The afpacket backend creates AF_PACKET
// sockets with it, at start and again whenever an interface that vanished
// comes back.
// Not kept:
//   - CAP_NET_ADMIN: promiscuous mode is a PACKET_MR_PROMISC membership on the
//     packet socket (PACKET_ADD_MEMBERSHIP), which needs no capability;
//     only SIOCSIFFLAGS would, and mydevd does not use it.
//   - everything else (CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, CAP_SETUID, ...):
//     nothing after start-up needs them.
// The bounding set is reduced to CAP_NET_RAW too (when CAP_SETPCAP allows),
// and the ambient and inheritable sets are cleared, so an exec cannot win
// the capabilities back.
//
// Capabilities belong to threads, not processes: call this while the
// process still has a single thread (mydevd does it between opening the
// devices and starting gRPC and the device threads); every thread started
// afterwards inherits the reduced sets. With more threads it refuses.
//
// A process without capabilities (a non-root test) has nothing to drop: the
// call returns false and changes nothing.
//
//   absl::StatusOr<bool> dropped = DropCapabilitiesExceptNetRaw();
//   if (!dropped.ok()) return dropped.status();
//   // *dropped: the sets were reduced; false: there were none to begin with
#ifndef MYDEV_DAEMON_CAPABILITIES_H_
#define MYDEV_DAEMON_CAPABILITIES_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace mydev::daemon {

// The calling thread's capability sets, as bit masks (bit n = capability n).
struct CapabilitySets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

absl::StatusOr<CapabilitySets> GetCapabilities();

// See the file comment. True if capabilities were dropped, false if the
// process had none.
absl::StatusOr<bool> DropCapabilitiesExceptNetRaw();

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CAPABILITIES_H_
