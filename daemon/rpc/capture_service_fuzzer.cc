// capture_service_fuzzer.cc — libFuzzer target for the gRPC request handlers
// of mydev.v1.Capture: the fuzz bytes are decoded as the real request
// messages and sent to the real CaptureService + SessionManager, in-process,
// over a socketpair (gRPC's channel-from-fd, so the handler sees a peer
// "fd:N" with this process's credentials, as from the daemon's acceptor).
// Every request must get a status, never a crash; no session may outlive it.
//
// Input: [op][flags][open_len] + open_len bytes of OpenSessionRequest + the
// op's request message (the rest).
//   op % 8: 0 ListDevices, 1 SetFilter, 2 SetDirection, 3 SetDataLink,
//           4 Inject, 5 GetSessionStats, 6 CloseSession, 7 OpenSession only
//   flags:  bit0 open on "mydev0" whatever the request says;
//           bit1 point the op's SessionRef at the opened session (id + token);
//           bit2 point only the id there (the token stays the fuzzer's).
// Seeds: testdata/fuzz/capture_service_fuzzer/ (tools/fuzz.sh runs it).
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <type_traits>

#include "daemon/backends/synthetic/synthetic_backend.h"
#include "daemon/control/config.h"
#include "daemon/control/session_manager.h"
#include "daemon/datapath/device_fanout.h"
#include "daemon/rpc/capture_service.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {
namespace {

// One daemon for the whole run: a synthetic mydev0 (not started: the
// handlers never need packets), small limits so rings stay cheap.
struct Harness {
  Harness() {
    DeviceInfo info;
    info.name = "mydev0";
    info.backend = "synthetic";
    info.description = "fuzz";
    info.dlts = {DLT_EN10MB, DLT_LINUX_SLL2};
    device = std::make_unique<DeviceFanout>(
        std::make_unique<SyntheticBackend>(info, SyntheticOptions{}), absl::Milliseconds(10));
    limits.default_ring_bytes = 64 << 10;
    limits.max_ring_bytes = 1 << 20;
    manager = std::make_unique<SessionManager>(limits, std::vector<DeviceFanout*>{device.get()});
    capture = std::make_unique<CaptureService>(manager.get(), &peers, "/nonexistent/fuzz.fds");
    grpc::ServerBuilder builder;
    builder.RegisterService(capture.get());
    builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_message_bytes));
    server = builder.BuildAndStart();
    int sv[2];  // gRPC expects non-blocking sockets
    if (!server || ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
      std::fprintf(stderr, "capture_service_fuzzer: cannot start the in-process server\n");
      std::abort();
    }
    absl::StatusOr<Credentials> me = PeerCredentialsOf(sv[0]);
    if (!me.ok()) std::abort();
    peers.Set(sv[0], *me);
    grpc::AddInsecureChannelFromFd(server.get(), sv[0]);  // gRPC owns both fds now
    stub = mydev::v1::Capture::NewStub(grpc::CreateInsecureChannelFromFd("fuzz", sv[1]));
  }

  Limits limits;
  std::unique_ptr<DeviceFanout> device;
  std::unique_ptr<SessionManager> manager;
  PeerCredentialsTable peers;
  std::unique_ptr<CaptureService> capture;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<mydev::v1::Capture::Stub> stub;
};

Harness& TheHarness() {
  static Harness* h = new Harness();  // lives for the process (threads use it)
  return *h;
}

struct Call {
  explicit Call() { ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10)); }
  grpc::ClientContext ctx;
};

// A handler's answer: any status but one that says the daemon itself broke.
void Check(const grpc::Status& s, const char* what) {
  if (s.error_code() == grpc::StatusCode::UNKNOWN || s.error_code() == grpc::StatusCode::INTERNAL ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::fprintf(stderr, "%s: %d %s\n", what, s.error_code(), s.error_message().c_str());
    std::abort();
  }
  if (!s.ok() && s.error_message().empty()) {
    std::fprintf(stderr, "%s: error %d without a message\n", what, s.error_code());
    std::abort();
  }
}

template <typename Request>
bool Decode(const uint8_t* data, size_t size, Request* req) {
  return req->ParseFromArray(data, static_cast<int>(size));
}

void PointAt(mydev::v1::SessionRef* ref, const mydev::v1::OpenSessionResponse& open,
             uint8_t flags) {
  if (flags & 2) {
    ref->set_session_id(open.session_id());
    ref->set_token(open.token());
  } else if (flags & 4) {
    ref->set_session_id(open.session_id());
  }
}

// Decodes the op's request from data, points its SessionRef (if it has one)
// per flags, and sends it; OK without a call if the bytes do not decode.
template <typename Request, typename Response>
grpc::Status Send(grpc::Status (mydev::v1::Capture::Stub::*rpc)(grpc::ClientContext*,
                                                                const Request&, Response*),
                  const uint8_t* data, size_t size, const mydev::v1::OpenSessionResponse& open,
                  uint8_t flags) {
  Request req;
  Response resp;
  if (!Decode(data, size, &req)) return grpc::Status::OK;
  if constexpr (!std::is_same_v<Request, mydev::v1::ListDevicesRequest>)
    PointAt(req.mutable_session(), open, flags);
  Call c;
  return (TheHarness().stub.get()->*rpc)(&c.ctx, req, &resp);
}

}  // namespace
}  // namespace mydev::daemon

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mydev::daemon;
  namespace v1 = mydev::v1;
  if (size < 3) return 0;
  Harness& h = TheHarness();
  const uint8_t op = data[0] % 8, flags = data[1];
  const size_t open_len = data[2];
  data += 3;
  size -= 3;
  if (open_len > size) return 0;
  const uint8_t* rest = data + open_len;
  const size_t rest_len = size - open_len;

  v1::OpenSessionRequest open_req;
  if (!Decode(data, open_len, &open_req)) return 0;
  if (flags & 1) open_req.set_device("mydev0");
  v1::OpenSessionResponse open;
  bool opened = false;
  {
    Call c;
    grpc::Status s = h.stub->OpenSession(&c.ctx, open_req, &open);
    Check(s, "OpenSession");
    opened = s.ok();
    if (opened && (open.token().size() != 32 || open.snaplen() == 0 || open.ring_bytes() == 0))
      std::abort();
  }

  grpc::Status s;
  switch (op) {
    case 0:
      s = Send(&v1::Capture::Stub::ListDevices, rest, rest_len, open, flags);
      break;
    case 1:
      s = Send(&v1::Capture::Stub::SetFilter, rest, rest_len, open, flags);
      break;
    case 2:
      s = Send(&v1::Capture::Stub::SetDirection, rest, rest_len, open, flags);
      break;
    case 3:
      s = Send(&v1::Capture::Stub::SetDataLink, rest, rest_len, open, flags);
      break;
    case 4:
      s = Send(&v1::Capture::Stub::Inject, rest, rest_len, open, flags);
      break;
    case 5:
      s = Send(&v1::Capture::Stub::GetSessionStats, rest, rest_len, open, flags);
      break;
    case 6:
      s = Send(&v1::Capture::Stub::CloseSession, rest, rest_len, open, flags);
      break;
    default:
      break;
  }
  Check(s, "request");

  if (opened) {
    Call close;
    v1::CloseSessionRequest req;
    v1::CloseSessionResponse resp;
    req.mutable_session()->set_session_id(open.session_id());
    req.mutable_session()->set_token(open.token());
    grpc::Status closed = h.stub->CloseSession(&close.ctx, req, &resp);
    // Only an earlier CloseSession of this very session may have beaten us.
    if (!closed.ok() && !(op == 6 && closed.error_code() == grpc::StatusCode::NOT_FOUND)) {
      std::fprintf(stderr, "closing the fuzz session: %s\n", closed.error_message().c_str());
      std::abort();
    }
  }
  if (!h.manager->List().empty()) {
    std::fprintf(stderr, "a session outlived its input\n");
    std::abort();
  }
  return 0;
}
