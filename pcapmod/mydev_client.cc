// mydev_client.cc — libmydev-client.so: the C API of mydev_client.h over
// gRPC to mydevd (channel "unix:<socket>"), the SCM_RIGHTS fd hand-off and
// the read-only ring mapping. pcap-mydev.c dlopen()s this library; it exports
// only mydev_client_api_v1 (mydev_client.lds), everything else is local so
// gRPC/protobuf never clash with the host program's.
//
//   const mydev_client_api* api = mydev_client_api_v1();
//   size_t n; mydev_device_desc devs[8]; char err[MYDEV_ERRBUF_SIZE];
//   api->list_devices(devs, 8, &n, err);      // n == 0 when mydevd is down
#include "pcapmod/mydev_client.h"

#include <grpcpp/grpcpp.h>
#include <pcap/pcap.h>  // pcap_direction_t (headers only: this library is loaded by libpcap)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "proto/mydev.grpc.pb.h"
#include "shm/fd_passing.h"
#include "shm/ring_consumer.h"

namespace mydev::client {
namespace {

namespace pb = ::mydev::v1;

// The module hands libpcap's pcap_direction_t values through unchanged.
static_assert(int{pb::DIRECTION_INOUT} == int{PCAP_D_INOUT} &&
                  int{pb::DIRECTION_IN} == int{PCAP_D_IN} &&
                  int{pb::DIRECTION_OUT} == int{PCAP_D_OUT},
              "proto Direction must number directions as pcap_direction_t does");

// Per-call deadline; MYDEV_CALL_TIMEOUT_MS overrides (tests use small values).
constexpr int kDefaultCallTimeoutMs = 5000;
// CloseSession runs from pcap_close(): never hold a closing program up long.
constexpr int kCloseTimeoutMs = 1000;

int CallTimeoutMs() {
  const char* env = std::getenv("MYDEV_CALL_TIMEOUT_MS");
  if (env == nullptr || *env == '\0') return kDefaultCallTimeoutMs;
  long v = std::strtol(env, nullptr, 10);
  return v > 0 && v <= 600000 ? static_cast<int>(v) : kDefaultCallTimeoutMs;
}

std::string SocketPath() {
  const char* env = std::getenv(MYDEV_SOCKET_ENV);
  return env != nullptr && *env != '\0' ? env : MYDEV_DEFAULT_SOCKET;
}

void SetError(char* errbuf, const std::string& msg) {
  if (errbuf != nullptr) std::snprintf(errbuf, MYDEV_ERRBUF_SIZE, "%s", msg.c_str());
}

std::string Unreachable(const std::string& path) {
  return absl::StrCat("cannot reach mydevd at ", path,
                      ": is mydevd running? (set " MYDEV_SOCKET_ENV ")");
}

// True when something accepts connections on path (no gRPC involved).
bool DaemonListening(const std::string& path) { return ConnectUnix(path).ok(); }

void SetDeadline(grpc::ClientContext& ctx, int ms) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

// gRPC status -> PCAP_ERROR* (+ errbuf).
int MapStatus(const grpc::Status& s, const std::string& path, const char* what, char* errbuf) {
  switch (s.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      SetError(errbuf, absl::StrCat(what, ": ", s.error_message()));
      return MYDEV_PCAP_ERROR_NO_SUCH_DEVICE;
    case grpc::StatusCode::PERMISSION_DENIED:
      SetError(errbuf, absl::StrCat(what, ": ", s.error_message()));
      return MYDEV_PCAP_ERROR_PERM_DENIED;
    case grpc::StatusCode::UNAVAILABLE:
      // gRPC's answer when mydevd is not there, but also mydevd's own for a
      // device that is gone for now (its interface was removed or is down).
      SetError(errbuf, DaemonListening(path) ? absl::StrCat(what, ": ", s.error_message())
                                             : Unreachable(path));
      return MYDEV_PCAP_ERROR;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      SetError(errbuf, absl::StrCat(what, ": mydevd at ", path, " did not answer within ",
                                    CallTimeoutMs(), " ms (MYDEV_CALL_TIMEOUT_MS)"));
      return MYDEV_PCAP_ERROR;
    default:
      SetError(errbuf, absl::StrCat(what, ": ", s.error_message()));
      return MYDEV_PCAP_ERROR;
  }
}

int MapAbslStatus(const absl::Status& s, const char* what, char* errbuf) {
  SetError(errbuf, absl::StrCat(what, ": ", s.message()));
  return s.code() == absl::StatusCode::kPermissionDenied ? MYDEV_PCAP_ERROR_PERM_DENIED
                                                         : MYDEV_PCAP_ERROR;
}

std::unique_ptr<pb::Capture::Stub> NewStub(const std::string& path) {
  return pb::Capture::NewStub(
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
}

}  // namespace

// One open session: its stub, its identity, its fds and its ring mapping.
struct Session {
  std::string path;
  std::unique_ptr<pb::Capture::Stub> stub;
  pb::SessionRef ref;
  UniqueFd fd_socket;  // liveness: closing it ends the session
  UniqueFd event;
  shm::MappedRing ring;
};

namespace {

template <typename Fn>
int Guarded(char* errbuf, Fn fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    SetError(errbuf, "mydev client: out of memory");
  } catch (...) {
    SetError(errbuf, "mydev client: unexpected internal error");
  }
  return MYDEV_PCAP_ERROR;
}

int ListDevices(mydev_device_desc* out, size_t max, size_t* n, char* errbuf) {
  *n = 0;
  return Guarded(errbuf, [&] {
    const std::string path = SocketPath();
    // No daemon: no channel, no threads, no waiting.
    if (!DaemonListening(path)) return 0;
    auto stub = NewStub(path);
    grpc::ClientContext ctx;
    SetDeadline(ctx, CallTimeoutMs());
    pb::ListDevicesResponse resp;
    grpc::Status s = stub->ListDevices(&ctx, pb::ListDevicesRequest(), &resp);
    if (!s.ok()) {
      // Listing must never break pcap_findalldevs(): report, list nothing.
      MapStatus(s, path, "listing mydevd's devices", errbuf);
      return 0;
    }
    for (const pb::Device& d : resp.devices()) {
      if (*n == max) break;
      mydev_device_desc& o = out[*n];
      std::memset(&o, 0, sizeof(o));
      std::snprintf(o.name, sizeof(o.name), "%s", d.name().c_str());
      std::snprintf(o.description, sizeof(o.description), "%s", d.description().c_str());
      o.pcap_flags = d.pcap_flags();
      ++*n;
    }
    return 0;
  });
}

void CloseSession(mydev_session* handle) {
  auto* s = reinterpret_cast<Session*>(handle);
  if (s == nullptr) return;
  try {
    if (s->stub != nullptr) {
      grpc::ClientContext ctx;
      SetDeadline(ctx, std::min(CallTimeoutMs(), kCloseTimeoutMs));
      pb::CloseSessionRequest req;
      *req.mutable_session() = s->ref;
      pb::CloseSessionResponse resp;
      (void)s->stub->CloseSession(&ctx, req, &resp);  // the fd socket closing ends it anyway
    }
  } catch (...) {
  }
  delete s;  // unmaps the ring, closes the fds
}

mydev_session* Open(const mydev_open_params* p, mydev_session_info* info, char* errbuf,
                    int* status) {
  *status = MYDEV_PCAP_ERROR;
  std::unique_ptr<Session> s;
  int rc = Guarded(errbuf, [&] {
    const std::string path = SocketPath();
    if (!DaemonListening(path)) {
      SetError(errbuf, Unreachable(path));
      return MYDEV_PCAP_ERROR;
    }
    s = std::make_unique<Session>();
    s->path = path;
    s->stub = NewStub(path);

    pb::OpenSessionRequest req;
    req.set_device(p->device != nullptr ? p->device : "");
    req.set_snaplen(p->snaplen);
    req.set_buffer_size(p->buffer_size);
    req.set_promisc(p->promisc != 0);
    req.set_immediate(p->immediate != 0);
    req.set_timeout_ms(p->timeout_ms);
    req.set_nanosecond(p->nanosecond != 0);
    req.set_direction(static_cast<pb::Direction>(p->direction));
    pb::OpenSessionResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, CallTimeoutMs());
    grpc::Status gs = s->stub->OpenSession(&ctx, req, &resp);
    if (!gs.ok()) {
      s->stub.reset();  // nothing to close
      return MapStatus(gs, path, req.device().c_str(), errbuf);
    }
    s->ref.set_session_id(resp.session_id());
    s->ref.set_token(resp.token());
    if (resp.token().size() != shm::kTokenBytes || resp.fd_socket().empty()) {
      SetError(errbuf,
               "mydevd answered OpenSession without a valid token or fd socket; "
               "are mydevd and libmydev-client.so the same version?");
      return MYDEV_PCAP_ERROR;
    }

    // Fetch the ring fds; this connection then stays open as the liveness fd.
    absl::StatusOr<UniqueFd> sock = ConnectUnix(resp.fd_socket());
    if (!sock.ok()) return MapAbslStatus(sock.status(), "connecting to mydevd's fd socket", errbuf);
    shm::HandoffRequest hreq;
    hreq.session_id = resp.session_id();
    std::memcpy(hreq.token.data(), resp.token().data(), shm::kTokenBytes);
    absl::StatusOr<shm::ReceivedFds> fds = shm::RequestFds(sock->get(), hreq, CallTimeoutMs());
    if (!fds.ok()) return MapAbslStatus(fds.status(), "receiving the ring from mydevd", errbuf);
    absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(fds->ring.get(), fds->ctl.get());
    if (!ring.ok()) return MapAbslStatus(ring.status(), "mapping the ring from mydevd", errbuf);
    s->fd_socket = std::move(*sock);
    s->event = std::move(fds->event);
    s->ring = std::move(*ring);  // ring and ctl fds close here; the mappings stay

    std::memset(info, 0, sizeof(*info));
    info->view = *s->ring.view();
    info->event_fd = s->event.get();
    info->liveness_fd = s->fd_socket.get();
    info->dlt = resp.dlt();
    for (int dlt : resp.dlts()) {
      if (info->n_dlts == MYDEV_MAX_DLTS) break;
      info->dlts[info->n_dlts++] = dlt;
    }
    if (info->n_dlts == 0) info->dlts[info->n_dlts++] = resp.dlt();
    info->snaplen = resp.snaplen();
    info->ring_bytes = resp.ring_bytes();
    return 0;
  });
  if (rc != 0) {
    *status = rc;
    CloseSession(reinterpret_cast<mydev_session*>(s.release()));
    return nullptr;
  }
  *status = 0;
  return reinterpret_cast<mydev_session*>(s.release());
}

// Runs one RPC of the session: req carries its ref, the call its deadline.
template <typename Req, typename Resp, typename Call>
grpc::Status CallForSession(Session& s, Req& req, Resp* resp, Call call) {
  *req.mutable_session() = s.ref;
  grpc::ClientContext ctx;
  SetDeadline(ctx, CallTimeoutMs());
  return call(*s.stub, &ctx, req, resp);
}

template <typename Req, typename Resp, typename Call>
int SessionCall(mydev_session* handle, Req& req, Resp* resp, const char* what, char* errbuf,
                Call call) {
  auto* s = reinterpret_cast<Session*>(handle);
  grpc::Status gs = CallForSession(*s, req, resp, call);
  return gs.ok() ? 0 : MapStatus(gs, s->path, what, errbuf);
}

int SetFilter(mydev_session* handle, const bpf_insn* insns, unsigned n, char* errbuf) {
  return Guarded(errbuf, [&] {
    // struct bpf_insn { u_short code; u_char jt; u_char jf; bpf_u_int32 k; }
    struct RawInsn {
      uint16_t code;
      uint8_t jt;
      uint8_t jf;
      uint32_t k;
    };
    const auto* raw = reinterpret_cast<const RawInsn*>(insns);
    pb::SetFilterRequest req;
    for (unsigned i = 0; i < n; ++i) {
      pb::BpfInsn* out = req.add_insns();
      out->set_code(raw[i].code);
      out->set_jt(raw[i].jt);
      out->set_jf(raw[i].jf);
      out->set_k(raw[i].k);
    }
    pb::SetFilterResponse resp;
    auto* s = reinterpret_cast<Session*>(handle);
    auto set_filter = [](pb::Capture::Stub& st, grpc::ClientContext* c, const auto& q, auto* r) {
      return st.SetFilter(c, q, r);
    };
    grpc::Status gs = CallForSession(*s, req, &resp, set_filter);
    if (gs.ok()) return 0;
    // INVALID_ARGUMENT on SetFilter means the daemon's validator refused the
    // program (too long, an instruction or extension it does not run, its
    // own bpf_validate disagreeing). libpcap has already validated it with
    // install_bpf_program(), so the program is good for pcap_filter():
    // the daemon's previous program is cleared (it would hide packets the
    // new one selects), and return 1: the module filters in userland. Any
    // other code is an error.
    if (gs.error_code() != grpc::StatusCode::INVALID_ARGUMENT)
      return MapStatus(gs, s->path, "setting the filter", errbuf);
    pb::SetFilterRequest clear;
    gs = CallForSession(*s, clear, &resp, set_filter);
    return gs.ok() ? 1 : MapStatus(gs, s->path, "clearing the filter mydevd refused", errbuf);
  });
}

int SetDirection(mydev_session* handle, int direction, char* errbuf) {
  return Guarded(errbuf, [&] {
    pb::SetDirectionRequest req;
    req.set_direction(static_cast<pb::Direction>(direction));
    pb::SetDirectionResponse resp;
    return SessionCall(handle, req, &resp, "setting the direction", errbuf,
                       [](pb::Capture::Stub& st, grpc::ClientContext* c, const auto& q, auto* r) {
                         return st.SetDirection(c, q, r);
                       });
  });
}

int SetDataLink(mydev_session* handle, int dlt, char* errbuf) {
  return Guarded(errbuf, [&] {
    pb::SetDataLinkRequest req;
    req.set_dlt(dlt);
    pb::SetDataLinkResponse resp;
    return SessionCall(handle, req, &resp, "setting the link type", errbuf,
                       [](pb::Capture::Stub& st, grpc::ClientContext* c, const auto& q, auto* r) {
                         return st.SetDataLink(c, q, r);
                       });
  });
}

int Inject(mydev_session* handle, const void* buf, size_t len, char* errbuf) {
  return Guarded(errbuf, [&] {
    pb::InjectRequest req;
    req.set_packet(static_cast<const char*>(buf), len);
    pb::InjectResponse resp;
    int rc = SessionCall(handle, req, &resp, "injecting", errbuf,
                         [](pb::Capture::Stub& st, grpc::ClientContext* c, const auto& q, auto* r) {
                           return st.Inject(c, q, r);
                         });
    if (rc != 0) return rc < 0 ? rc : MYDEV_PCAP_ERROR;
    return static_cast<int>(std::min<uint32_t>(resp.bytes_sent(), 0x7fffffff));
  });
}

int Stats(mydev_session* handle, mydev_stats* out, char* errbuf) {
  return Guarded(errbuf, [&] {
    pb::GetSessionStatsRequest req;
    pb::SessionStats resp;
    int rc = SessionCall(handle, req, &resp, "reading statistics", errbuf,
                         [](pb::Capture::Stub& st, grpc::ClientContext* c, const auto& q, auto* r) {
                           return st.GetSessionStats(c, q, r);
                         });
    if (rc != 0) return rc;
    out->packets_received = resp.packets_received();
    out->packets_dropped = resp.packets_dropped();
    out->packets_ifdropped = resp.packets_ifdropped();
    return 0;
  });
}

const mydev_client_api kApi = {
    MYDEV_CLIENT_API_VERSION,
    ListDevices,
    Open,
    SetFilter,
    SetDirection,
    SetDataLink,
    Inject,
    Stats,
    CloseSession,
};

}  // namespace
}  // namespace mydev::client

extern "C" const mydev_client_api* mydev_client_api_v1(void) { return &mydev::client::kApi; }
