// dashboard_source.h — what mydev-dashboard's web server serves, apart from
// how it is produced: the Prometheus text for /metrics and the page's state as
// JSON for /api/state and /events. FleetState implements it from the targets'
// WatchStats streams; web_server_test fakes it.
//
//   class Fleet : public DashboardSource { ... };
//   WebServer server(options, &fleet);        // serves /, /metrics, /events
//   uint64_t seen = 0;
//   while (streaming) {
//     seen = source->WaitForChange(seen, absl::Seconds(15));
//     Send(source->StateJson(/*full_history=*/false));
//   }
#ifndef MYDEV_TOOLS_DASHBOARD_DASHBOARD_SOURCE_H_
#define MYDEV_TOOLS_DASHBOARD_DASHBOARD_SOURCE_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace mydev::dashboard {

// The data behind every page; thread-safe (called from the server's threads).
class DashboardSource {
 public:
  virtual ~DashboardSource() = default;

  // /metrics: the Prometheus text exposition format (version 0.0.4).
  virtual std::string MetricsText() = 0;

  // A mydev.dashboard.v1.DashboardState as JSON (proto field names). With
  // full_history each device carries its whole history, else its newest point.
  virtual std::string StateJson(bool full_history) = 0;

  // Waits until the state's version exceeds seen, or timeout; returns the
  // version now. Never blocks longer than timeout, whatever the targets do.
  virtual uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) = 0;
};

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_DASHBOARD_SOURCE_H_
