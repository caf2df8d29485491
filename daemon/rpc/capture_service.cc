// capture_service.cc — see capture_service.h.
#include "daemon/rpc/capture_service.h"

#include <cstdint>

#include "absl/types/span.h"
#include "daemon/control/peer_process.h"
#include "daemon/rpc/grpc_status.h"
#include "daemon/rpc/stats_snapshot.h"

namespace mydev::daemon {

CaptureService::CaptureService(SessionManager* sessions, const PeerCredentialsTable* peers,
                               std::string fd_socket_path)
    : sessions_(sessions), peers_(peers), fd_socket_path_(std::move(fd_socket_path)) {}

absl::StatusOr<std::shared_ptr<Session>> CaptureService::Find(grpc::ServerContext* ctx,
                                                              const mydev::v1::SessionRef& ref,
                                                              Credentials* caller) const {
  absl::StatusOr<Credentials> who = peers_->ForPeer(ctx->peer());
  if (!who.ok()) return who.status();
  if (caller != nullptr) *caller = *who;
  return sessions_->Lookup(ref.session_id(), ref.token(), who->uid);
}

grpc::Status CaptureService::ListDevices(grpc::ServerContext*, const mydev::v1::ListDevicesRequest*,
                                         mydev::v1::ListDevicesResponse* resp) {
  for (DeviceFanout* d : sessions_->devices()) {
    const DeviceInfo& info = d->info();
    mydev::v1::Device* out = resp->add_devices();
    out->set_name(info.name);
    out->set_description(info.description);
    out->set_backend(info.backend);
    for (int dlt : info.dlts) out->add_dlts(dlt);
    out->set_pcap_flags(info.pcap_flags);
    out->set_can_inject(info.can_inject);
  }
  return grpc::Status::OK;
}

grpc::Status CaptureService::OpenSession(grpc::ServerContext* ctx,
                                         const mydev::v1::OpenSessionRequest* req,
                                         mydev::v1::OpenSessionResponse* resp) {
  absl::StatusOr<Credentials> who = peers_->ForPeer(ctx->peer());
  if (!who.ok()) return ToGrpcStatus(who.status());
  // Once, now: who is capturing (the pid SO_PEERCRED gave; empty when it is
  // not visible from here or already gone).
  absl::StatusOr<std::shared_ptr<Session>> s =
      sessions_->Open(*req, *who, PeerProcess::Read(static_cast<pid_t>(who->pid)));
  if (!s.ok()) return ToGrpcStatus(s.status());
  if (ctx->IsCancelled()) {  // the caller gave up (deadline, went away): free it now
    sessions_->Free((*s)->id(), "the caller gave up before OpenSession returned");
    return grpc::Status(grpc::StatusCode::CANCELLED, "the caller gave up");
  }
  const Session& session = **s;
  resp->set_session_id(session.id());
  resp->set_token(std::string(session.token().begin(), session.token().end()));
  resp->set_fd_socket(fd_socket_path_);
  resp->set_dlt(session.dlt());
  if (DeviceFanout* d = sessions_->FindDevice(session.params().device))
    for (int dlt : d->info().dlts) resp->add_dlts(dlt);
  resp->set_snaplen(session.params().snaplen);
  resp->set_ring_bytes(session.ring_bytes());
  return grpc::Status::OK;
}

grpc::Status CaptureService::SetFilter(grpc::ServerContext* ctx,
                                       const mydev::v1::SetFilterRequest* req,
                                       mydev::v1::SetFilterResponse*) {
  absl::StatusOr<std::shared_ptr<Session>> s = Find(ctx, req->session());
  if (!s.ok()) return ToGrpcStatus(s.status());
  return ToGrpcStatus(sessions_->SetFilter(**s, req->insns()));
}

grpc::Status CaptureService::SetDirection(grpc::ServerContext* ctx,
                                          const mydev::v1::SetDirectionRequest* req,
                                          mydev::v1::SetDirectionResponse*) {
  absl::StatusOr<std::shared_ptr<Session>> s = Find(ctx, req->session());
  if (!s.ok()) return ToGrpcStatus(s.status());
  return ToGrpcStatus(sessions_->SetDirection(**s, req->direction()));
}

grpc::Status CaptureService::SetDataLink(grpc::ServerContext* ctx,
                                         const mydev::v1::SetDataLinkRequest* req,
                                         mydev::v1::SetDataLinkResponse*) {
  absl::StatusOr<std::shared_ptr<Session>> s = Find(ctx, req->session());
  if (!s.ok()) return ToGrpcStatus(s.status());
  return ToGrpcStatus(sessions_->SetDataLink(**s, req->dlt()));
}

grpc::Status CaptureService::Inject(grpc::ServerContext* ctx, const mydev::v1::InjectRequest* req,
                                    mydev::v1::InjectResponse* resp) {
  Credentials who;
  absl::StatusOr<std::shared_ptr<Session>> s = Find(ctx, req->session(), &who);
  if (!s.ok()) return ToGrpcStatus(s.status());
  absl::StatusOr<uint32_t> sent =
      sessions_->Inject(**s, who,
                        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(req->packet().data()),
                                            req->packet().size()));
  if (!sent.ok()) return ToGrpcStatus(sent.status());
  resp->set_bytes_sent(*sent);
  return grpc::Status::OK;
}

grpc::Status CaptureService::GetSessionStats(grpc::ServerContext* ctx,
                                             const mydev::v1::GetSessionStatsRequest* req,
                                             mydev::v1::SessionStats* resp) {
  absl::StatusOr<std::shared_ptr<Session>> s = Find(ctx, req->session());
  if (!s.ok()) return ToGrpcStatus(s.status());
  FillSessionStats(**s, *sessions_, resp);
  return grpc::Status::OK;
}

grpc::Status CaptureService::CloseSession(grpc::ServerContext* ctx,
                                          const mydev::v1::CloseSessionRequest* req,
                                          mydev::v1::CloseSessionResponse*) {
  absl::StatusOr<Credentials> who = peers_->ForPeer(ctx->peer());
  if (!who.ok()) return ToGrpcStatus(who.status());
  return ToGrpcStatus(
      sessions_->Close(req->session().session_id(), req->session().token(), who->uid));
}

}  // namespace mydev::daemon
