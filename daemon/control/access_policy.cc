// access_policy.cc — see access_policy.h.
#include "daemon/control/access_policy.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mydev::daemon {
namespace {

// Decimal id, not the reserved (uid_t)-1.
bool ParseId(absl::string_view text, uint32_t* id) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text)
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  uint64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v >= std::numeric_limits<uint32_t>::max()) return false;
  *id = static_cast<uint32_t>(v);
  return true;
}

size_t InitialBufferSize(int which) {
  long n = sysconf(which);
  return n > 0 ? static_cast<size_t>(n) : 16384;
}

// Calls lookup(buf) with a growing buffer while it reports ERANGE.
template <typename Lookup>
int WithBuffer(int which, Lookup lookup) {
  std::vector<char> buf(InitialBufferSize(which));
  for (;;) {
    int err = lookup(buf.data(), buf.size());
    if (err != ERANGE || buf.size() >= (1u << 20)) return err;
    buf.resize(buf.size() * 2);
  }
}

}  // namespace

absl::StatusOr<uint32_t> ResolveUser(absl::string_view user) {
  uint32_t id;
  if (ParseId(user, &id)) return id;
  const std::string name(user);
  passwd pw, *found = nullptr;
  int err = WithBuffer(_SC_GETPW_R_SIZE_MAX, [&](char* buf, size_t n) {
    return getpwnam_r(name.c_str(), &pw, buf, n, &found);
  });
  if (found != nullptr) return static_cast<uint32_t>(pw.pw_uid);
  if (err != 0 && err != ENOENT && err != ESRCH)
    return absl::UnavailableError(
        absl::StrCat("looking up user '", user, "': ", std::strerror(err)));
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown user '", user, "' (not in the user database; give a uid number instead)"));
}

absl::StatusOr<uint32_t> ResolveGroup(absl::string_view group) {
  uint32_t id;
  if (ParseId(group, &id)) return id;
  const std::string name(group);
  struct group gr, *found = nullptr;
  int err = WithBuffer(_SC_GETGR_R_SIZE_MAX, [&](char* buf, size_t n) {
    return getgrnam_r(name.c_str(), &gr, buf, n, &found);
  });
  if (found != nullptr) return static_cast<uint32_t>(gr.gr_gid);
  if (err != 0 && err != ENOENT && err != ESRCH)
    return absl::UnavailableError(
        absl::StrCat("looking up group '", group, "': ", std::strerror(err)));
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown group '", group, "' (not in the group database; give a gid number instead)"));
}

Caller LookUpCaller(uint32_t uid, uint32_t gid) {
  Caller c;
  c.uid = uid;
  c.gid = gid;
  passwd pw, *found = nullptr;
  WithBuffer(_SC_GETPW_R_SIZE_MAX, [&](char* buf, size_t n) {
    int err = getpwuid_r(uid, &pw, buf, n, &found);
    if (found != nullptr) c.name = pw.pw_name;
    return err;
  });
  if (found == nullptr || c.name.empty()) return c;
  // getgrouplist includes its base group; the account's primary group.
  const gid_t base = found->pw_gid;
  std::vector<gid_t> groups(32);
  for (int attempt = 0; attempt < 8; ++attempt) {
    int n = static_cast<int>(groups.size());
    if (getgrouplist(c.name.c_str(), base, groups.data(), &n) >= 0) {
      groups.resize(n);
      for (gid_t g : groups) c.groups.push_back(static_cast<uint32_t>(g));
      return c;
    }
    groups.resize(std::max<size_t>(static_cast<size_t>(n), groups.size() * 2));
  }
  c.groups.push_back(static_cast<uint32_t>(base));
  return c;
}

std::string DescribeCaller(const Caller& caller) {
  if (caller.name.empty()) return absl::StrCat("uid ", caller.uid);
  return absl::StrCat("user ", caller.name, " (uid ", caller.uid, ")");
}

absl::StatusOr<PrincipalSet> PrincipalSet::Resolve(const mydev::config::Principals& p,
                                                   absl::string_view where) {
  PrincipalSet set;
  set.everyone_ = p.everyone();
  for (const std::string& u : p.user()) {
    absl::StatusOr<uint32_t> uid = ResolveUser(u);
    if (!uid.ok())
      return absl::Status(uid.status().code(), absl::StrCat(where, ": ", uid.status().message()));
    set.uids_.insert(*uid);
  }
  for (const std::string& g : p.group()) {
    absl::StatusOr<uint32_t> gid = ResolveGroup(g);
    if (!gid.ok())
      return absl::Status(gid.status().code(), absl::StrCat(where, ": ", gid.status().message()));
    set.gids_.insert(*gid);
  }
  return set;
}

PrincipalSet PrincipalSet::Everyone() {
  PrincipalSet set;
  set.everyone_ = true;
  return set;
}

bool PrincipalSet::Contains(const Caller& caller) const {
  if (everyone_ || uids_.count(caller.uid) || gids_.count(caller.gid)) return true;
  for (uint32_t g : caller.groups)
    if (gids_.count(g)) return true;
  return false;
}

AccessPolicy::AccessPolicy(uint32_t default_max_sessions, uint64_t default_max_ring_bytes) {
  defaults_.max_sessions = default_max_sessions;
  defaults_.max_ring_bytes = default_max_ring_bytes;
}

absl::StatusOr<AccessPolicy> AccessPolicy::FromConfig(const mydev::config::Config& config,
                                                      uint32_t default_max_sessions,
                                                      uint64_t default_max_ring_bytes) {
  AccessPolicy policy(default_max_sessions, default_max_ring_bytes);
  for (const mydev::config::DeviceConfig& d : config.device()) {
    if (!d.has_access()) continue;
    DeviceRules rules;
    if (d.access().has_capture()) {
      absl::StatusOr<PrincipalSet> s = PrincipalSet::Resolve(
          d.access().capture(), absl::StrCat("device ", d.name(), " access.capture"));
      if (!s.ok()) return s.status();
      rules.capture = std::move(*s);
    }
    if (d.access().has_inject()) {
      absl::StatusOr<PrincipalSet> s = PrincipalSet::Resolve(
          d.access().inject(), absl::StrCat("device ", d.name(), " access.inject"));
      if (!s.ok()) return s.status();
      rules.inject = std::move(*s);
      rules.inject_configured = true;
    }
    policy.devices_[d.name()] = std::move(rules);
  }
  for (int i = 0; i < config.user_limits_size(); ++i) {
    const mydev::config::UserLimits& u = config.user_limits(i);
    absl::StatusOr<uint32_t> uid = ResolveUser(u.user());
    if (!uid.ok())
      return absl::Status(uid.status().code(),
                          absl::StrCat("user_limits ", i, ": ", uid.status().message()));
    UserLimit l = policy.defaults_;
    if (u.max_sessions()) l.max_sessions = u.max_sessions();
    if (u.max_ring_bytes_total()) l.max_ring_bytes = u.max_ring_bytes_total();
    if (!policy.per_uid_.emplace(*uid, l).second)
      return absl::InvalidArgumentError(absl::StrCat(
          "user_limits ", i, ": user '", u.user(), "' (uid ", *uid, ") is listed more than once"));
  }
  if (config.has_stats_viewers()) {
    absl::StatusOr<PrincipalSet> s = PrincipalSet::Resolve(config.stats_viewers(), "stats_viewers");
    if (!s.ok()) return s.status();
    policy.stats_viewers_ = std::move(*s);
  }
  return policy;
}

absl::Status AccessPolicy::CheckCapture(const Caller& caller, absl::string_view device) const {
  if (caller.uid == 0) return absl::OkStatus();
  auto it = devices_.find(device);
  if (it == devices_.end() || it->second.capture.Contains(caller)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(DescribeCaller(caller), " may not capture on ",
                                                  device, ": not in device ", device,
                                                  "'s capture users/groups"));
}

absl::Status AccessPolicy::CheckInject(const Caller& caller, absl::string_view device) const {
  if (caller.uid == 0) return absl::OkStatus();
  auto it = devices_.find(device);
  if (it == devices_.end() || !it->second.inject_configured)
    return absl::PermissionDeniedError(absl::StrCat(
        DescribeCaller(caller), " may not inject on ", device, ": device ", device,
        " grants inject to no one but root (add access { inject { user: ... } } to its config)"));
  if (it->second.inject.Contains(caller)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(DescribeCaller(caller), " may not inject on ",
                                                  device, ": not in device ", device,
                                                  "'s inject users/groups"));
}

bool AccessPolicy::MaySeeOwner(const Caller& caller, uint32_t owner_uid) const {
  return caller.uid == 0 || caller.uid == owner_uid || stats_viewers_.Contains(caller);
}

UserLimit AccessPolicy::LimitsFor(uint32_t uid) const {
  auto it = per_uid_.find(uid);
  return it == per_uid_.end() ? defaults_ : it->second;
}

}  // namespace mydev::daemon
