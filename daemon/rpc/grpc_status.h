// grpc_status.h — absl::Status -> grpc::Status (the canonical codes share
// their numbers), keeping the message.
//
//   return ToGrpcStatus(absl::NotFoundError("no device 'mydev9'"));
#ifndef MYDEV_DAEMON_RPC_GRPC_STATUS_H_
#define MYDEV_DAEMON_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace mydev::daemon {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_GRPC_STATUS_H_
