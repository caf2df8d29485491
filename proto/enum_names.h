// enum_names.h — short lower-case names of mydev.proto's enums, derived from
// protobuf's own value names (STATS_SCOPE_DEVICES -> "devices"), so mydevd's
// log lines and mydevctl's columns spell them alike and a value added to the
// proto is named without another switch.
//
//   StatsScopeName(mydev::v1::STATS_SCOPE_SESSIONS)   -> "sessions"
//   DirectionName(mydev::v1::DIRECTION_INOUT)         -> "inout"
//   DeviceStateName(mydev::v1::DEVICE_STATE_WAITING)  -> "waiting"
//   KernelFilterStateName(mydev::v1::KERNEL_FILTER_STATE_REJECT_ALL) -> "reject_all"
//   StatsScopeName(mydev::v1::STATS_SCOPE_UNSPECIFIED) -> "unspecified" (also unknown values)
#ifndef MYDEV_PROTO_ENUM_NAMES_H_
#define MYDEV_PROTO_ENUM_NAMES_H_

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "proto/mydev.pb.h"

namespace mydev::v1 {

// full without prefix, lower-cased; "unspecified" when full is empty (a
// value the proto does not define).
inline std::string ShortEnumName(absl::string_view full, absl::string_view prefix) {
  if (full.empty()) return "unspecified";
  if (absl::StartsWith(full, prefix)) full.remove_prefix(prefix.size());
  return absl::AsciiStrToLower(full);
}

inline std::string StatsScopeName(StatsScope s) {
  return ShortEnumName(StatsScope_Name(s), "STATS_SCOPE_");
}
inline std::string DirectionName(Direction d) {
  return ShortEnumName(Direction_Name(d), "DIRECTION_");
}
inline std::string DeviceStateName(DeviceState s) {
  return ShortEnumName(DeviceState_Name(s), "DEVICE_STATE_");
}
inline std::string KernelFilterStateName(KernelFilterState s) {
  return ShortEnumName(KernelFilterState_Name(s), "KERNEL_FILTER_STATE_");
}

}  // namespace mydev::v1

#endif  // MYDEV_PROTO_ENUM_NAMES_H_
