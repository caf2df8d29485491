// uid_cpu_share.cc — see uid_cpu_share.h.
#include "daemon/datapath/uid_cpu_share.h"

#include <algorithm>

namespace mydev::daemon {

UidCpuShare::UidCpuShare(double share, absl::Duration window, double busy)
    : window_ns_(std::max<int64_t>(1, absl::ToInt64Nanoseconds(window))),
      budget_ns_(
          static_cast<int64_t>(std::clamp(share, 0.0, 1.0) * static_cast<double>(window_ns_))),
      busy_(std::clamp(busy, 0.0, 1.0)) {}

void UidCpuShare::StartBatch(int64_t now_ns, size_t distinct_uids) {
  enforcing_ = distinct_uids >= 2 && budget_ns_ < window_ns_;
  now_ns_ = now_ns;
  if (now_ns - window_start_ns_ >= window_ns_) {
    window_start_ns_ = now_ns;
    total_ns_ = 0;
    use_.clear();
  }
}

bool UidCpuShare::ShouldShed(uint32_t uid) {
  if (!enforcing_) return false;
  auto it = use_.find(uid);
  if (it == use_.end()) return false;
  Use& u = it->second;
  if (u.shed) return true;
  if (u.ns < budget_ns_) return false;
  // Over its share; shed only while deliveries keep the thread busy.
  const int64_t elapsed = std::max(now_ns_ - window_start_ns_, total_ns_);
  if (static_cast<double>(total_ns_) < busy_ * static_cast<double>(elapsed)) return false;
  u.shed = true;
  return true;
}

void UidCpuShare::Charge(uint32_t uid, int64_t ns) {
  if (ns <= 0) return;
  use_[uid].ns += ns;
  total_ns_ += ns;
}

}  // namespace mydev::daemon
