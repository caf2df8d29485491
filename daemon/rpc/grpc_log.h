// grpc_log.h — gRPC's own log lines (gpr_log: "Handshake failed ...", one
// per refused TLS handshake) routed into mydevd's log, rate-limited: at most
// kGrpcLogBurst lines from one source line of gRPC per 10 s, then one line
// saying how many were left out. A flood of bad handshakes then costs a few
// log lines, not one each.
//
//   RouteGrpcLogs();   // once, first thing in main()
//   // -> "2024-05-01T12:00:00.123456Z W grpc: ssl_transport_security.cc:1501:
//   //     Handshake failed with fatal error SSL_ERROR_SSL: ..."
#ifndef MYDEV_DAEMON_RPC_GRPC_LOG_H_
#define MYDEV_DAEMON_RPC_GRPC_LOG_H_

namespace mydev::daemon {

// Lines from one gRPC source line let through per 10 s window.
inline constexpr int kGrpcLogBurst = 5;

// Installs the router (gpr_set_log_function). Idempotent.
void RouteGrpcLogs();

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_GRPC_LOG_H_
