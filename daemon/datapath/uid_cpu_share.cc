// uid_cpu_share.cc — see uid_cpu_share.h.
#include "daemon/datapath/uid_cpu_share.h"

#include <algorithm>

namespace mydev::daemon {

UidCpuShare::UidCpuShare(double share, absl::Duration window)
    : window_ns_(std::max<int64_t>(1, absl::ToInt64Nanoseconds(window))),
      budget_ns_(
          static_cast<int64_t>(std::clamp(share, 0.0, 1.0) * static_cast<double>(window_ns_))) {}

void UidCpuShare::StartBatch(int64_t now_ns, size_t distinct_uids) {
  enforcing_ = distinct_uids >= 2 && budget_ns_ < window_ns_;
  if (now_ns - window_start_ns_ >= window_ns_) {
    window_start_ns_ = now_ns;
    used_ns_.clear();
  }
}

bool UidCpuShare::OverShare(uint32_t uid) const {
  if (!enforcing_) return false;
  auto it = used_ns_.find(uid);
  return it != used_ns_.end() && it->second >= budget_ns_;
}

void UidCpuShare::Charge(uint32_t uid, int64_t ns) {
  if (ns > 0) used_ns_[uid] += ns;
}

}  // namespace mydev::daemon
