// backend_factory.cc — see backend_factory.h.
#include "daemon/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "daemon/config.h"
#include "daemon/synthetic_backend.h"

namespace mydev::daemon {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const mydev::config::DeviceConfig& d) {
  DeviceInfo info;
  info.name = d.name();
  info.dlts = {kDltEn10mb};
  switch (d.backend_case()) {
    case mydev::config::DeviceConfig::kSynthetic: {
      info.backend = "synthetic";
      info.description = d.description().empty() ? kDefaultDeviceDescription : d.description();
      // PCAP_IF_UP | PCAP_IF_RUNNING | PCAP_IF_CONNECTION_STATUS_NOT_APPLICABLE
      info.pcap_flags = 0x2 | 0x4 | 0x30;
      SyntheticOptions o;
      if (d.synthetic().has_rate_pps()) o.rate_pps = d.synthetic().rate_pps();  // else 1000
      o.seed = d.synthetic().seed();
      o.count = d.synthetic().count();
      return std::make_unique<SyntheticBackend>(std::move(info), o);
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("device '", d.name(), "' has no supported backend"));
  }
}

}  // namespace mydev::daemon
