// stats_snapshot.cc — see stats_snapshot.h.
#include "daemon/rpc/stats_snapshot.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"

namespace mydev::daemon {

mydev::v1::KernelFilterState KernelFilterStateOf(const KernelFilterStatus& kf) {
  if (!kf.supported) return mydev::v1::KERNEL_FILTER_STATE_NONE;
  switch (kf.kind) {
    case KernelFilterKind::kRejectAll:
      return mydev::v1::KERNEL_FILTER_STATE_REJECT_ALL;
    case KernelFilterKind::kUnion:
      return mydev::v1::KERNEL_FILTER_STATE_UNION;
    case KernelFilterKind::kAcceptAll:
      return mydev::v1::KERNEL_FILTER_STATE_ACCEPT_ALL;
    case KernelFilterKind::kFallback:
      return mydev::v1::KERNEL_FILTER_STATE_FALLBACK;
  }
  return mydev::v1::KERNEL_FILTER_STATE_UNSPECIFIED;
}

void FillSessionStats(Session& session, const SessionManager& manager,
                      mydev::v1::SessionStats* out) {
  const SessionStatus st = session.status();
  const SessionCounters& c = st.counters;
  const SessionParams& params = session.params();
  out->set_session_id(session.id());
  out->set_device(params.device);
  out->set_uid(session.owner().uid);
  out->set_pid(static_cast<uint32_t>(session.owner().pid));
  out->set_packets_received(c.packets_received);
  out->set_packets_dropped(c.packets_dropped);
  uint64_t ifdrop = 0;
  if (DeviceFanout* d = manager.FindDevice(params.device)) {
    uint64_t now = d->counters().packets_ifdropped;
    ifdrop = now >= params.ifdropped_at_open ? now - params.ifdropped_at_open : 0;
  }
  out->set_packets_ifdropped(ifdrop);
  out->set_bytes_received(c.bytes_received);
  out->set_ring_bytes(session.ring_bytes());
  out->set_snaplen(params.snaplen);
  out->set_filter_set(st.filter_insns != 0);
  out->set_comm(params.comm);
  out->set_cmdline(params.cmdline);
  out->set_opened_time_ns(absl::ToUnixNanos(session.opened_at()));
  out->set_direction(st.direction);
  out->set_immediate(params.immediate);
  out->set_timeout_ms(params.timeout_ms);
  out->set_dlt(st.dlt);
  out->set_filter_insns(st.filter_insns);
  out->set_promisc(params.promisc);
  out->set_ring_fill_bytes(c.ring_fill_bytes);
  out->set_ring_high_water_bytes(c.ring_high_water_bytes);
  out->set_wakeups(c.wakeups);
  out->set_packets_shed(c.packets_shed);
  out->set_ring_members(c.ring_members);
}

void FillDeviceStats(const DeviceFanout& device, mydev::v1::DeviceStats* out) {
  const DeviceCounters c = device.counters();
  const DeviceInfo& info = device.info();
  out->set_name(info.name);
  out->set_backend(info.backend);
  out->set_packets_seen(c.packets_seen);
  out->set_bytes_seen(c.bytes_seen);
  out->set_packets_ifdropped(c.packets_ifdropped);
  out->set_sessions(c.sessions);
  if (const absl::Status health = device.health(); health.ok()) {
    out->set_state(mydev::v1::DEVICE_STATE_UP);
  } else {
    out->set_state(mydev::v1::DEVICE_STATE_WAITING);
    out->set_state_detail(std::string(health.message()));
  }
  out->set_dlt(info.dlts.empty() ? 0 : info.dlts.front());
  out->set_promisc_sessions(c.promisc_sessions);
  const KernelFilterStatus kf = device.kernel_filter();
  out->set_kernel_filter(KernelFilterStateOf(kf));
  out->set_kernel_filter_insns(kf.insns);
  out->set_kernel_filter_detail(kf.note);
  out->set_kernel_ring_bytes(c.kernel_ring_bytes);
}

void TakeStatsSnapshot(const SessionManager& manager, mydev::v1::StatsSnapshot* out) {
  out->set_time_ns(absl::ToUnixNanos(absl::Now()));
  for (const DeviceFanout* d : manager.devices()) FillDeviceStats(*d, out->add_devices());
  for (const auto& s : manager.List()) FillSessionStats(*s, manager, out->add_sessions());
}

}  // namespace mydev::daemon
