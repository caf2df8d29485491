// display_text.h — how mydevctl shows values to people: counts and rates with
// SI suffixes, percentages, the names of the contract's enums, and user names.
// Shared by the table printer and `top`'s screen.
//
//   HumanCount(2345.0)                     -> "2.35k"
//   Percent(3, 200)                        -> "1.50%"
//   DeviceStateShown(DEVICE_STATE_WAITING) -> "waiting"
//   UserName(65534, /*resolve=*/true)      -> "nobody"
#ifndef MYDEV_TOOLS_MYDEVCTL_DISPLAY_TEXT_H_
#define MYDEV_TOOLS_MYDEVCTL_DISPLAY_TEXT_H_

#include <cstdint>
#include <string>

#include "proto/enum_names.h"
#include "proto/mydev.pb.h"

namespace mydev::ctl {

// The uid the daemon reports for a session whose owner the caller may not see
// (daemon/rpc/stats_service.h).
inline constexpr uint32_t kHiddenUid = 4294967295u;

// A count or rate in at most 4 significant characters plus a suffix:
// "0", "987", "1.23k", "45.6M", "7.89G", "1.00T".
std::string HumanCount(double value);

// part / whole as "12.34%"; "-" when whole is 0.
std::string Percent(double part, double whole);

// mydev::v1::DeviceStateName ("up", "waiting"), or "-" when unspecified (a
// daemon that does not say).
std::string DeviceStateShown(mydev::v1::DeviceState s);

// mydev::v1::KernelFilterStateName ("union", "reject_all", ...), or "-" when
// unspecified (a daemon from before the kernel pre-filter).
std::string KernelFilterStateShown(mydev::v1::KernelFilterState s);
// A device's kernel pre-filter for one column: its state and, when it has a
// program, its length: "union/57", "reject_all/1", "none", "-".
std::string KernelFilterShown(const mydev::v1::DeviceStats& d);
// A device's DETAIL column: why it is not up, and why its kernel pre-filter
// passes every packet ("kernel filter: ..."), joined by "; ".
std::string DeviceDetail(const mydev::v1::DeviceStats& d);

// mydev::v1::StatsScopeName ("devices", "sessions", "local"), or "-" when
// unspecified. Directions print as mydev::v1::DirectionName (proto/enum_names.h).
std::string ScopeShown(mydev::v1::StatsScope s);

// The user name of uid on this machine when resolve is true and it has one,
// else the decimal uid; "-" for kHiddenUid. (A remote daemon's uids mean
// nothing here: callers pass resolve = false for them.)
std::string UserName(uint32_t uid, bool resolve);

// A session's command for one column: its command line, else its command
// name, else "-".
std::string CommandText(const mydev::v1::SessionStats& s);

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_DISPLAY_TEXT_H_
