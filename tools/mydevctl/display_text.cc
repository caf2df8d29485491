// display_text.cc — see display_text.h.
#include "tools/mydevctl/display_text.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/user_name.h"

namespace mydev::ctl {

std::string HumanCount(double value) {
  if (!std::isfinite(value) || value < 0) return "-";
  static constexpr const char* kSuffixes[] = {"", "k", "M", "G", "T", "P"};
  size_t i = 0;
  while (value >= 999.5 && i + 1 < std::size(kSuffixes)) {
    value /= 1000.0;
    ++i;
  }
  if (i == 0) return absl::StrFormat("%.0f", value);
  if (value < 9.995) return absl::StrFormat("%.2f%s", value, kSuffixes[i]);
  if (value < 99.95) return absl::StrFormat("%.1f%s", value, kSuffixes[i]);
  return absl::StrFormat("%.0f%s", value, kSuffixes[i]);
}

std::string Percent(double part, double whole) {
  if (whole <= 0) return "-";
  return absl::StrFormat("%.2f%%", 100.0 * part / whole);
}

std::string DeviceStateShown(mydev::v1::DeviceState s) {
  return s == mydev::v1::DEVICE_STATE_UNSPECIFIED ? "-" : mydev::v1::DeviceStateName(s);
}

std::string KernelFilterStateShown(mydev::v1::KernelFilterState s) {
  return s == mydev::v1::KERNEL_FILTER_STATE_UNSPECIFIED ? "-"
                                                         : mydev::v1::KernelFilterStateName(s);
}

std::string KernelFilterShown(const mydev::v1::DeviceStats& d) {
  std::string shown = KernelFilterStateShown(d.kernel_filter());
  if (d.kernel_filter_insns() != 0) absl::StrAppendFormat(&shown, "/%u", d.kernel_filter_insns());
  return shown;
}

std::string DeviceDetail(const mydev::v1::DeviceStats& d) {
  std::string detail = d.state_detail();
  if (!d.kernel_filter_detail().empty())
    absl::StrAppendFormat(&detail, "%skernel filter: %s", detail.empty() ? "" : "; ",
                          d.kernel_filter_detail());
  return detail;
}

std::string ScopeShown(mydev::v1::StatsScope s) {
  return s == mydev::v1::STATS_SCOPE_UNSPECIFIED ? "-" : mydev::v1::StatsScopeName(s);
}

std::string UserName(uint32_t uid, bool resolve) {
  if (uid == kHiddenUid) return "-";
  if (resolve) {
    std::string name = UserNameOf(uid);
    if (!name.empty()) return name;
  }
  return std::to_string(uid);
}

std::string CommandText(const mydev::v1::SessionStats& s) {
  if (!s.cmdline().empty()) return s.cmdline();
  if (!s.comm().empty()) return s.comm();
  return "-";
}

}  // namespace mydev::ctl
