// backend_factory.cc — see backend_factory.h.
#include "daemon/backends/backend_factory.h"

#include <pcap/pcap.h>  // PCAP_IF_*

#include "absl/strings/str_cat.h"
#include "daemon/backends/afpacket/afpacket_backend.h"
#include "daemon/backends/replay/replay_backend.h"
#include "daemon/backends/synthetic/synthetic_backend.h"
#include "daemon/control/config.h"

namespace mydev::daemon {
namespace {

// A device with no link of its own (synthetic, replay) is always up.
constexpr uint32_t kAlwaysUpPcapFlags =
    PCAP_IF_UP | PCAP_IF_RUNNING | PCAP_IF_CONNECTION_STATUS_NOT_APPLICABLE;

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const mydev::config::DeviceConfig& d) {
  DeviceInfo info;
  info.name = d.name();
  info.dlts = {DLT_EN10MB};
  switch (d.backend_case()) {
    case mydev::config::DeviceConfig::kSynthetic: {
      info.backend = "synthetic";
      info.description = d.description().empty() ? kDefaultDeviceDescription : d.description();
      info.pcap_flags = kAlwaysUpPcapFlags;
      SyntheticOptions o;
      if (d.synthetic().has_rate_pps()) o.rate_pps = d.synthetic().rate_pps();  // else 1000
      o.seed = d.synthetic().seed();
      o.count = d.synthetic().count();
      return std::make_unique<SyntheticBackend>(std::move(info), o);
    }
    case mydev::config::DeviceConfig::kReplay: {
      info.backend = "replay";
      info.description = d.description();  // empty: "replay of <path>"
      info.pcap_flags = kAlwaysUpPcapFlags;
      ReplayOptions o;
      o.path = d.replay().path();
      o.speed = d.replay().has_speed() ? d.replay().speed() : 1.0;
      o.loop = d.replay().loop();
      absl::StatusOr<std::unique_ptr<ReplayBackend>> b = ReplayBackend::Open(std::move(info), o);
      if (!b.ok())
        return absl::Status(b.status().code(),
                            absl::StrCat("device '", d.name(), "': ", b.status().message()));
      return std::unique_ptr<Backend>(std::move(*b));
    }
    case mydev::config::DeviceConfig::kAfpacket: {
      info.description = d.description();  // empty: "Linux interface <name>"
      const mydev::config::AfpacketBackend& c = d.afpacket();
      AfpacketOptions o;
      o.interface = c.interface();
      if (c.block_bytes() != 0) o.ring.block_bytes = c.block_bytes();
      if (c.block_count() != 0) o.ring.block_count = c.block_count();
      if (c.block_timeout_ms() != 0) o.ring.retire_timeout_ms = c.block_timeout_ms();
      if (c.max_ring_bytes() != 0) o.max_ring_bytes = c.max_ring_bytes();
      o.busy_poll = c.busy_poll();
      absl::StatusOr<std::unique_ptr<AfpacketBackend>> b =
          AfpacketBackend::Create(std::move(info), o);
      if (!b.ok()) return b.status();
      return std::unique_ptr<Backend>(std::move(*b));
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("device '", d.name(), "' has no supported backend"));
  }
}

}  // namespace mydev::daemon
