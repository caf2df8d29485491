// kv_printer.cc — the kv form of printers.h: mydev-stats' "key=value" lines
// (tests/e2e/daemon.py parses them), unchanged up to `filter=` / `sessions=`,
// the fields the contract gained since appended after them.
#include "absl/strings/str_format.h"
#include "tools/mydevctl/display_text.h"
#include "tools/mydevctl/printers.h"

namespace mydev::ctl {

std::string KvEscape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (c <= 0x20 || c >= 0x7f || c == '%') {
      absl::StrAppendFormat(&out, "%%%02X", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string FormatKv(const mydev::v1::StatsSnapshot& s, Sections sections) {
  std::string out;
  if (sections != Sections::kSessions) {
    for (const auto& d : s.devices()) {
      absl::StrAppendFormat(
          &out, "device name=%s backend=%s packets=%u bytes=%u ifdropped=%u sessions=%u",
          KvEscape(d.name()), KvEscape(d.backend()), d.packets_seen(), d.bytes_seen(),
          d.packets_ifdropped(), d.sessions());
      absl::StrAppendFormat(&out, " state=%s dlt=%d promisc=%u detail=%s",
                            DeviceStateShown(d.state()), d.dlt(), d.promisc_sessions(),
                            KvEscape(d.state_detail()));
      absl::StrAppendFormat(&out,
                            " kernel_filter=%s kernel_filter_insns=%u kernel_filter_detail=%s"
                            " kernel_ring_bytes=%u\n",
                            KernelFilterStateShown(d.kernel_filter()), d.kernel_filter_insns(),
                            KvEscape(d.kernel_filter_detail()), d.kernel_ring_bytes());
    }
  }
  if (sections != Sections::kDevices) {
    for (const auto& x : s.sessions()) {
      absl::StrAppendFormat(&out,
                            "session id=%u device=%s uid=%u pid=%u received=%u dropped=%u "
                            "ifdropped=%u bytes=%u ring=%u snaplen=%u filter=%d",
                            x.session_id(), KvEscape(x.device()), x.uid(), x.pid(),
                            x.packets_received(), x.packets_dropped(), x.packets_ifdropped(),
                            x.bytes_received(), x.ring_bytes(), x.snaplen(),
                            x.filter_set() ? 1 : 0);
      absl::StrAppendFormat(&out,
                            " comm=%s opened_ns=%d direction=%s immediate=%d timeout_ms=%u "
                            "dlt=%d filter_insns=%u promisc=%d ring_fill=%u ring_high_water=%u "
                            "wakeups=%u ring_members=%u cmdline=%s\n",
                            KvEscape(x.comm()), x.opened_time_ns(), DirectionName(x.direction()),
                            x.immediate() ? 1 : 0, x.timeout_ms(), x.dlt(), x.filter_insns(),
                            x.promisc() ? 1 : 0, x.ring_fill_bytes(), x.ring_high_water_bytes(),
                            x.wakeups(), x.ring_members(), KvEscape(x.cmdline()));
    }
  }
  absl::StrAppendFormat(&out, "end time_ns=%d host=%s scope=%s\n", s.time_ns(), KvEscape(s.host()),
                        ScopeShown(s.scope()));
  return out;
}

}  // namespace mydev::ctl
