// backend_factory.h — builds the backend a device's config names. The one
// place that knows every backend kind: afpacket and replay are added here.
//
//   absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(config.device(0));
#ifndef MYDEV_DAEMON_BACKENDS_BACKEND_FACTORY_H_
#define MYDEV_DAEMON_BACKENDS_BACKEND_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "daemon/backends/backend.h"
#include "proto/config.pb.h"

namespace mydev::daemon {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const mydev::config::DeviceConfig& device);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_BACKENDS_BACKEND_FACTORY_H_
