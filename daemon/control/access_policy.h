// access_policy.h — who may capture on / inject into each device, per-user
// session and ring-memory limits, and who may see other users' sessions in
// Stats: the `access`, `user_limits` and `stats_viewers` parts of the config
// (proto/config.proto), resolved once and checked on every call.
//
// Rules, in order:
//   * root (uid 0) may always capture, inject and see every session's owner
//     (limits still apply to root: they protect the daemon; raise them with
//     user_limits { user: "root" ... }).
//   * a device without `access`, or whose `access` has no `capture`, is open
//     to every local user for capture; with `capture { ... }` only the users
//     and groups listed (or `everyone: true`).
//   * inject is allowed only where `access { inject { ... } }` grants it.
//   * Stats: everyone sees every counter; the uid and pid of a session are
//     shown to its owner, root and `stats_viewers`, hidden for others.
//
// A caller matches a Principals when its uid is listed, or its primary gid
// (SO_PEERCRED) or one of its supplementary groups is. Supplementary groups
// come from getgrouplist(3) for the uid's user-database entry, not from
// /proc/<pid>/status: the check happens after accept, when the peer's pid may
// already have exited and been reused by another process (or be 0 because
// the caller sits in another pid namespace), so reading /proc would trust an
// unrelated process. getgrouplist answers for the *account*, like a new
// login would; a process that dropped a group (setgroups) keeps the rights
// its account has. User and group names in the config are resolved when it
// is loaded: rename or add users, then restart mydevd.
//
//   absl::StatusOr<AccessPolicy> p = AccessPolicy::FromConfig(config, 64, 1ull << 30);
//   Caller who = LookUpCaller(creds.uid, creds.gid);   // name + groups
//   absl::Status s = p->CheckCapture(who, "mydev1");
//   // PERMISSION_DENIED: "user nobody (uid 65534) may not capture on mydev1:
//   //                     not in device mydev1's capture users/groups"
//   UserLimit l = p->LimitsFor(who.uid);
#ifndef MYDEV_DAEMON_CONTROL_ACCESS_POLICY_H_
#define MYDEV_DAEMON_CONTROL_ACCESS_POLICY_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/config.pb.h"

namespace mydev::daemon {

// The uid shown in Stats in place of a hidden owner ((uid_t)-1, never a user).
inline constexpr uint32_t kHiddenUid = 0xffffffffu;

// Who is asking.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;              // primary gid of the peer (SO_PEERCRED)
  std::vector<uint32_t> groups;  // supplementary groups (may include gid)
  std::string name;              // user name; empty when the uid has no entry
};

// Fills name and groups from the user database (getpwuid_r + getgrouplist).
// A uid without an entry gets no name and no supplementary groups.
Caller LookUpCaller(uint32_t uid, uint32_t gid);

// "user nobody (uid 65534)" or "uid 4242".
std::string DescribeCaller(const Caller& caller);

// A resolved config Principals.
class PrincipalSet {
 public:
  // where names the config field in errors ("device mydev1 access.capture").
  static absl::StatusOr<PrincipalSet> Resolve(const mydev::config::Principals& p,
                                              absl::string_view where);
  static PrincipalSet Everyone();
  static PrincipalSet Nobody() { return PrincipalSet(); }

  bool Contains(const Caller& caller) const;

 private:
  bool everyone_ = false;
  std::set<uint32_t> uids_;
  std::set<uint32_t> gids_;
};

// A user's resolved limits.
struct UserLimit {
  uint32_t max_sessions = 0;
  uint64_t max_ring_bytes = 0;  // ring data bytes of all its sessions together
};

// Resolves "alice" or "1000" to a uid (and "pcap" or "105" to a gid).
absl::StatusOr<uint32_t> ResolveUser(absl::string_view user);
absl::StatusOr<uint32_t> ResolveGroup(absl::string_view group);

class AccessPolicy {
 public:
  // No rules: every device open for capture, inject for root only, owners
  // hidden from other non-root users, these limits for everyone.
  AccessPolicy(uint32_t default_max_sessions, uint64_t default_max_ring_bytes);

  // Resolves every name in config (INVALID_ARGUMENT naming the field for an
  // unknown user or group, or a duplicate user_limits entry). The defaults are
  // limits.max_sessions_per_uid / max_ring_bytes_per_uid after ResolveLimits.
  static absl::StatusOr<AccessPolicy> FromConfig(const mydev::config::Config& config,
                                                 uint32_t default_max_sessions,
                                                 uint64_t default_max_ring_bytes);

  // OK or PERMISSION_DENIED naming the caller, the device and the rule.
  absl::Status CheckCapture(const Caller& caller, absl::string_view device) const;
  absl::Status CheckInject(const Caller& caller, absl::string_view device) const;

  // May the caller see the uid/pid of sessions owned by owner_uid?
  bool MaySeeOwner(const Caller& caller, uint32_t owner_uid) const;

  UserLimit LimitsFor(uint32_t uid) const;

 private:
  struct DeviceRules {
    PrincipalSet capture = PrincipalSet::Everyone();
    PrincipalSet inject;  // nobody
    bool inject_configured = false;
  };

  UserLimit defaults_;
  std::map<std::string, DeviceRules, std::less<>> devices_;
  std::map<uint32_t, UserLimit> per_uid_;
  PrincipalSet stats_viewers_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_ACCESS_POLICY_H_
