// stats_snapshot.cc — see stats_snapshot.h.
#include "daemon/rpc/stats_snapshot.h"

#include "absl/time/clock.h"

namespace mydev::daemon {

void FillSessionStats(Session& session, const SessionManager& manager,
                      mydev::v1::SessionStats* out) {
  SessionCounters c = session.counters();
  out->set_session_id(session.id());
  out->set_device(session.params().device);
  out->set_uid(session.owner().uid);
  out->set_pid(static_cast<uint32_t>(session.owner().pid));
  out->set_packets_received(c.packets_received);
  out->set_packets_dropped(c.packets_dropped);
  uint64_t ifdrop = 0;
  if (DeviceFanout* d = manager.FindDevice(session.params().device)) {
    uint64_t now = d->counters().packets_ifdropped;
    ifdrop =
        now >= session.params().ifdropped_at_open ? now - session.params().ifdropped_at_open : 0;
  }
  out->set_packets_ifdropped(ifdrop);
  out->set_bytes_received(c.bytes_received);
  out->set_ring_bytes(session.ring_bytes());
  out->set_snaplen(session.params().snaplen);
  out->set_filter_set(session.filter_set());
}

void TakeStatsSnapshot(const SessionManager& manager, mydev::v1::StatsSnapshot* out) {
  out->set_time_ns(absl::ToUnixNanos(absl::Now()));
  for (DeviceFanout* d : manager.devices()) {
    DeviceCounters c = d->counters();
    mydev::v1::DeviceStats* ds = out->add_devices();
    ds->set_name(d->info().name);
    ds->set_backend(d->info().backend);
    ds->set_packets_seen(c.packets_seen);
    ds->set_bytes_seen(c.bytes_seen);
    ds->set_packets_ifdropped(c.packets_ifdropped);
    ds->set_sessions(c.sessions);
  }
  for (const auto& s : manager.List()) FillSessionStats(*s, manager, out->add_sessions());
}

}  // namespace mydev::daemon
