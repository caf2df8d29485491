// table_printer.cc — the table form of printers.h (for people): a line about
// the source, the device table, the session table. The columns mydev-stats
// printed come first, in its order; the contract's newer fields follow.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "tools/mydevctl/display_text.h"
#include "tools/mydevctl/printers.h"

namespace mydev::ctl {

std::string FormatTable(const mydev::v1::StatsSnapshot& s, Sections sections,
                        const SnapshotSource& source) {
  std::string out;
  absl::StrAppendFormat(&out, "host %s  target %s  scope %s  at %s\n",
                        s.host().empty() ? "-" : s.host(), source.target, ScopeShown(s.scope()),
                        absl::FormatTime("%Y-%m-%d %H:%M:%E3S %Z", absl::FromUnixNanos(s.time_ns()),
                                         absl::LocalTimeZone()));
  if (sections != Sections::kSessions) {
    absl::StrAppendFormat(&out, "\n%-10s %-10s %14s %16s %10s %8s %-8s %4s %7s %-16s %s\n",
                          "DEVICE", "BACKEND", "PACKETS", "BYTES", "IFDROPS", "SESSIONS", "STATE",
                          "DLT", "PROMISC", "KFILTER", "DETAIL");
    for (const auto& d : s.devices()) {
      absl::StrAppendFormat(&out, "%-10s %-10s %14u %16u %10u %8u %-8s %4d %7u %-16s %s\n",
                            d.name(), d.backend(), d.packets_seen(), d.bytes_seen(),
                            d.packets_ifdropped(), d.sessions(), DeviceStateShown(d.state()),
                            d.dlt(), d.promisc_sessions(), KernelFilterShown(d), DeviceDetail(d));
    }
  }
  if (sections != Sections::kDevices) {
    absl::StrAppendFormat(&out,
                          "\n%-8s %-10s %-10s %8s %12s %10s %7s %14s %10s %8s %6s %6s %-5s %-5s "
                          "%s\n",
                          "SESSION", "DEVICE", "USER", "PID", "RECEIVED", "DROPPED", "DROP%",
                          "BYTES", "RING", "SNAPLEN", "FILL%", "HIGH%", "DIR", "BPF", "COMMAND");
    for (const auto& x : s.sessions()) {
      const double ring = static_cast<double>(x.ring_bytes());
      absl::StrAppendFormat(
          &out, "%-8u %-10s %-10s %8u %12u %10u %7s %14u %10u %8u %6s %6s %-5s %-5s %s\n",
          x.session_id(), x.device(), UserName(x.uid(), source.resolve_users), x.pid(),
          x.packets_received(), x.packets_dropped(),
          Percent(static_cast<double>(x.packets_dropped()),
                  static_cast<double>(x.packets_received() + x.packets_dropped())),
          x.bytes_received(), x.ring_bytes(), x.snaplen(),
          Percent(static_cast<double>(x.ring_fill_bytes()), ring),
          Percent(static_cast<double>(x.ring_high_water_bytes()), ring),
          DirectionName(x.direction()),
          x.filter_set() ? absl::StrCat(x.filter_insns()) : std::string("-"), CommandText(x));
    }
  }
  return out;
}

}  // namespace mydev::ctl
