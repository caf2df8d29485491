// capture_service.h — mydev.v1.Capture: session control for local clients.
// Every call that names a session is checked against the caller's uid
// (SO_PEERCRED, via PeerCredentialsTable) and the session token.
//
// The handlers only translate: the caller's credentials and the request in,
// the SessionManager's answer out (absl::Status -> grpc::Status with the same
// code and message, grpc_status.h). Every check of a request's values
// (sizes, direction, link type, BPF, access rules, limits) is the
// SessionManager's. OpenSession also reads the caller's process names
// (daemon/control/peer_process.h) once, for the stats.
//
//   CaptureService capture(&manager, &peers, "/run/mydevd/mydevd.sock.fds");
//   builder.RegisterService(&capture);
#ifndef MYDEV_DAEMON_RPC_CAPTURE_SERVICE_H_
#define MYDEV_DAEMON_RPC_CAPTURE_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/control/session_manager.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {

class CaptureService final : public mydev::v1::Capture::Service {
 public:
  CaptureService(SessionManager* sessions, const PeerCredentialsTable* peers,
                 std::string fd_socket_path);

  grpc::Status ListDevices(grpc::ServerContext* ctx, const mydev::v1::ListDevicesRequest* req,
                           mydev::v1::ListDevicesResponse* resp) override;
  grpc::Status OpenSession(grpc::ServerContext* ctx, const mydev::v1::OpenSessionRequest* req,
                           mydev::v1::OpenSessionResponse* resp) override;
  grpc::Status SetFilter(grpc::ServerContext* ctx, const mydev::v1::SetFilterRequest* req,
                         mydev::v1::SetFilterResponse* resp) override;
  grpc::Status SetDirection(grpc::ServerContext* ctx, const mydev::v1::SetDirectionRequest* req,
                            mydev::v1::SetDirectionResponse* resp) override;
  grpc::Status SetDataLink(grpc::ServerContext* ctx, const mydev::v1::SetDataLinkRequest* req,
                           mydev::v1::SetDataLinkResponse* resp) override;
  grpc::Status Inject(grpc::ServerContext* ctx, const mydev::v1::InjectRequest* req,
                      mydev::v1::InjectResponse* resp) override;
  grpc::Status GetSessionStats(grpc::ServerContext* ctx,
                               const mydev::v1::GetSessionStatsRequest* req,
                               mydev::v1::SessionStats* resp) override;
  grpc::Status CloseSession(grpc::ServerContext* ctx, const mydev::v1::CloseSessionRequest* req,
                            mydev::v1::CloseSessionResponse* resp) override;

 private:
  // The caller's session, checked against its uid and the token. The
  // caller's credentials go to *caller when it is not null.
  absl::StatusOr<std::shared_ptr<Session>> Find(grpc::ServerContext* ctx,
                                                const mydev::v1::SessionRef& ref,
                                                Credentials* caller = nullptr) const;

  SessionManager* const sessions_;
  const PeerCredentialsTable* const peers_;
  const std::string fd_socket_path_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_CAPTURE_SERVICE_H_
