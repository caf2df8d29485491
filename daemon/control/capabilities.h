// capabilities.h — mydevd gives up root once its devices and sockets are
// set up: it switches to an unprivileged user and keeps at most one Linux
// capability, CAP_NET_RAW, and only when a device needs it.
//
// What is kept, and why:
//   - the user: `mydevd --user NAME`; as root without --user, the system user
//     `mydevd` (tools/install.sh creates it) if it exists, else mydevd stays
//     uid 0 and logs how to fix that. Not root, mydevd cannot write the files
//     root owns (CAP_DAC_OVERRIDE alone is not the whole of root: uid 0 owns
//     /etc, /usr, ...). Supplementary groups become the user's own
//     (getgrouplist), the real, effective and saved ids all the user's, so
//     root cannot be taken back.
//   - CAP_NET_RAW, only with an afpacket device: the afpacket backend creates
//     AF_PACKET sockets with it at start, whenever the first session opens
//     on an idle device (its socket is closed while no session is open) and
//     whenever an interface that vanished comes back (from its capture
//     thread, which inherits it).
//     With only synthetic and replay devices nothing is kept.
// Not kept:
//   - CAP_NET_ADMIN: promiscuous mode is a PACKET_MR_PROMISC membership on the
//     packet socket (PACKET_ADD_MEMBERSHIP), which needs no capability;
//     only SIOCSIFFLAGS would, and mydevd does not use it.
//   - CAP_SETUID/CAP_SETGID, CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, ...: nothing
//     after start-up needs them. Replay files are opened at start, as root,
//     and kept open (each loop rewinds the open file); the socket directory
//     is made (and, if mydevd made it, given to the user) before the switch,
//     and the sockets are then created by the user, who can remove them at
//     shutdown.
// The bounding set is reduced to what is kept (when CAP_SETPCAP allows), and
// the ambient and inheritable sets are cleared, so an exec cannot win
// capabilities back.
//
// Capabilities belong to threads, not processes: call this while the
// process still has a single thread (mydevd does it between opening the
// devices and starting gRPC and the device threads); every thread started
// afterwards inherits the reduced sets and the user. With more threads it
// refuses.
//
// A process without capabilities (a non-root test) has nothing to drop: the
// call returns false and changes nothing (switching to another user is then
// an error).
//
//   absl::StatusOr<UserIdentity> user = LookUpUser("mydevd");
//   PrivilegeDrop drop;
//   drop.user = *user;           // or std::nullopt: stay who we are
//   drop.keep_net_raw = true;    // an afpacket device is configured
//   absl::StatusOr<bool> dropped = DropPrivileges(drop);
//   if (!dropped.ok()) return dropped.status();
//   // now uid/gid = mydevd's, CapEff = CapPrm = CapBnd = CAP_NET_RAW
#ifndef MYDEV_DAEMON_CONTROL_CAPABILITIES_H_
#define MYDEV_DAEMON_CONTROL_CAPABILITIES_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mydev::daemon {

// The calling thread's capability sets, as bit masks (bit n = capability n).
struct CapabilitySets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

absl::StatusOr<CapabilitySets> GetCapabilities();

// An account to run as, resolved from the user database.
struct UserIdentity {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;              // the account's primary group
  std::vector<gid_t> groups;  // its groups (getgrouplist), gid included
};

// NOT_FOUND when there is no such user (a decimal uid without an account is
// not accepted: mydevd wants a real, named system user).
absl::StatusOr<UserIdentity> LookUpUser(const std::string& name);

struct PrivilegeDrop {
  std::optional<UserIdentity> user;  // switch to it; nullopt: keep the ids
  bool keep_net_raw = false;         // keep CAP_NET_RAW (afpacket devices)
};

// See the file comment. True if anything was dropped, false if the process
// had no capabilities and nothing to switch.
absl::StatusOr<bool> DropPrivileges(const PrivilegeDrop& drop);

// DropPrivileges({.user = std::nullopt, .keep_net_raw = true}).
absl::StatusOr<bool> DropCapabilitiesExceptNetRaw();

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_CAPABILITIES_H_
