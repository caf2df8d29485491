// capabilities.cc — see capabilities.h. Uses the capget/capset system calls
// and prctl directly (libcap is not needed).
#include "daemon/control/capabilities.h"

#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mydev::daemon {
namespace {

constexpr uint64_t kNetRaw = uint64_t{1} << CAP_NET_RAW;

int Threads() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

int LastCap() {
  int last = CAP_LAST_CAP;
  if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "r")) {
    if (std::fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
    std::fclose(f);
  }
  return last;
}

absl::Status SetCapabilities(const CapabilitySets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(sets.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(sets.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(sets.inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) != 0) return absl::ErrnoToStatus(errno, "capset");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CapabilitySets> GetCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return absl::ErrnoToStatus(errno, "capget");
  CapabilitySets s;
  for (int i = 0; i < 2; ++i) {
    s.effective |= uint64_t{data[i].effective} << (32 * i);
    s.permitted |= uint64_t{data[i].permitted} << (32 * i);
    s.inheritable |= uint64_t{data[i].inheritable} << (32 * i);
  }
  return s;
}

absl::StatusOr<UserIdentity> LookUpUser(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("empty user name");
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return absl::ErrnoToStatus(rc, absl::StrCat("looking up user '", name, "'"));
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("there is no user '", name, "'"));
  UserIdentity u;
  u.name = name;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  int n = 32;
  for (int attempt = 0; attempt < 8; ++attempt) {
    u.groups.resize(n);
    int got = n;
    if (getgrouplist(name.c_str(), u.gid, u.groups.data(), &got) >= 0) {
      u.groups.resize(got);
      return u;
    }
    n = std::max(got, 2 * n);  // glibc says how many it needs
  }
  return absl::InternalError(absl::StrCat("getgrouplist for user '", name, "' keeps failing"));
}

absl::StatusOr<bool> DropPrivileges(const PrivilegeDrop& drop) {
  absl::StatusOr<CapabilitySets> now = GetCapabilities();
  if (!now.ok()) return now.status();
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  const bool switching =
      drop.user.has_value() &&
      (ruid != drop.user->uid || euid != drop.user->uid || suid != drop.user->uid ||
       rgid != drop.user->gid || egid != drop.user->gid || sgid != drop.user->gid);
  const bool has_caps = (now->permitted | now->effective | now->inheritable) != 0;
  if (!has_caps && !switching) return false;
  if (switching && !(now->effective & (uint64_t{1} << CAP_SETUID) &&
                     now->effective & (uint64_t{1} << CAP_SETGID)))
    return absl::PermissionDeniedError(absl::StrCat("switching to user '", drop.user->name,
                                                    "' needs root (CAP_SETUID and CAP_SETGID); ",
                                                    "start mydevd as root, or without --user"));
  if (int n = Threads(); n != 1)
    return absl::FailedPreconditionError(absl::StrCat(
        "dropping privileges with ", n,
        " threads running; capabilities are per thread, so drop them before starting threads"));
  const uint64_t keep_mask = drop.keep_net_raw ? kNetRaw : 0;

  // The bounding set first: removing from it needs CAP_SETPCAP, dropped below.
  if (now->effective & (uint64_t{1} << CAP_SETPCAP)) {
    for (int cap = 0, last = LastCap(); cap <= last; ++cap) {
      if ((keep_mask >> cap) & 1 || prctl(PR_CAPBSET_READ, cap) != 1) continue;
      if (prctl(PR_CAPBSET_DROP, cap) != 0)
        return absl::ErrnoToStatus(
            errno, absl::StrCat("dropping capability ", cap, " from the bounding set"));
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return absl::ErrnoToStatus(errno, "clearing the ambient capabilities");

  if (switching) {
    const UserIdentity& u = *drop.user;
    // Without KEEPCAPS, leaving uid 0 empties the permitted set.
    if (keep_mask != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
      return absl::ErrnoToStatus(errno, "prctl(PR_SET_KEEPCAPS)");
    if (setgroups(u.groups.size(), u.groups.data()) != 0)
      return absl::ErrnoToStatus(errno, absl::StrCat("setgroups for user '", u.name, "'"));
    if (setresgid(u.gid, u.gid, u.gid) != 0)
      return absl::ErrnoToStatus(errno, absl::StrCat("setresgid(", u.gid, ")"));
    if (setresuid(u.uid, u.uid, u.uid) != 0)
      return absl::ErrnoToStatus(errno, absl::StrCat("setresuid(", u.uid, ")"));
    if (keep_mask != 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
      return absl::ErrnoToStatus(errno, "prctl(PR_SET_KEEPCAPS, 0)");
  }

  // After setresuid the effective set is empty and the permitted set what
  // KEEPCAPS kept; keep (and raise) only keep_mask.
  absl::StatusOr<CapabilitySets> held = GetCapabilities();
  if (!held.ok()) return held.status();
  CapabilitySets keep;
  keep.permitted = held->permitted & keep_mask;
  keep.effective = keep.permitted;
  if (absl::Status s = SetCapabilities(keep); !s.ok()) return s;

  absl::StatusOr<CapabilitySets> after = GetCapabilities();
  if (!after.ok()) return after.status();
  if ((after->permitted | after->effective | after->inheritable) & ~keep_mask)
    return absl::InternalError("capabilities beyond the kept ones remain after capset");
  if (switching) {
    getresuid(&ruid, &euid, &suid);
    getresgid(&rgid, &egid, &sgid);
    const UserIdentity& u = *drop.user;
    if (ruid != u.uid || euid != u.uid || suid != u.uid || rgid != u.gid || egid != u.gid ||
        sgid != u.gid)
      return absl::InternalError(absl::StrCat("still not user '", u.name, "' after setresuid"));
    if (u.uid != 0 && setuid(0) == 0)
      return absl::InternalError("root could be taken back after switching users");
  }
  return true;
}

absl::StatusOr<bool> DropCapabilitiesExceptNetRaw() {
  PrivilegeDrop drop;
  drop.keep_net_raw = true;
  return DropPrivileges(drop);
}

}  // namespace mydev::daemon
