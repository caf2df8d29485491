// capabilities.cc — see capabilities.h. Uses the capget/capset system calls
// and prctl directly (libcap is not needed).
#include "daemon/capabilities.h"

#include <dirent.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

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

absl::StatusOr<bool> DropCapabilitiesExceptNetRaw() {
  absl::StatusOr<CapabilitySets> now = GetCapabilities();
  if (!now.ok()) return now.status();
  if (now->permitted == 0 && now->effective == 0 && now->inheritable == 0) return false;
  if (int n = Threads(); n != 1)
    return absl::FailedPreconditionError(absl::StrCat(
        "dropping capabilities with ", n,
        " threads running; capabilities are per thread, so drop them before starting threads"));

  // The bounding set first: removing from it needs CAP_SETPCAP, dropped below.
  if (now->effective & (uint64_t{1} << CAP_SETPCAP)) {
    for (int cap = 0, last = LastCap(); cap <= last; ++cap) {
      if (cap == CAP_NET_RAW || prctl(PR_CAPBSET_READ, cap) != 1) continue;
      if (prctl(PR_CAPBSET_DROP, cap) != 0)
        return absl::ErrnoToStatus(errno, absl::StrCat("dropping capability ", cap,
                                                       " from the bounding set"));
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return absl::ErrnoToStatus(errno, "clearing the ambient capabilities");

  CapabilitySets keep;
  keep.permitted = now->permitted & kNetRaw;
  keep.effective = keep.permitted;
  if (absl::Status s = SetCapabilities(keep); !s.ok()) return s;

  absl::StatusOr<CapabilitySets> after = GetCapabilities();
  if (!after.ok()) return after.status();
  if ((after->permitted | after->effective | after->inheritable) & ~kNetRaw)
    return absl::InternalError("capabilities other than CAP_NET_RAW remain after capset");
  return true;
}

}  // namespace mydev::daemon
