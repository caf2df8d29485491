// session.cc — a well-behaved client's calls and attachment (see session.h).
#include "tests/hostile_client/session.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/flags/flag.h"
#include "base/unix_socket.h"
#include "shm/fd_passing.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"

namespace mydev::hostile {

std::unique_ptr<Capture::Stub> NewStub() {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  return Capture::NewStub(
      grpc::CreateCustomChannel("unix:" + Socket(), grpc::InsecureChannelCredentials(), args));
}

mydev::v1::OpenSessionRequest DefaultOpen() {
  mydev::v1::OpenSessionRequest r;
  r.set_device(absl::GetFlag(FLAGS_device));
  r.set_buffer_size(absl::GetFlag(FLAGS_buffer));
  r.set_timeout_ms(static_cast<uint32_t>(absl::GetFlag(FLAGS_timeout)));
  r.set_snaplen(static_cast<uint32_t>(absl::GetFlag(FLAGS_snaplen)));
  return r;
}

grpc::Status Open(Capture::Stub* stub, const mydev::v1::OpenSessionRequest& req,
                  mydev::v1::OpenSessionResponse* resp) {
  return Call(&Capture::Stub::OpenSession, stub, req, resp);
}

mydev::v1::SessionRef Ref(uint64_t id, const std::string& token) {
  mydev::v1::SessionRef r;
  r.set_session_id(id);
  r.set_token(token);
  return r;
}

mydev::v1::SessionRef Ref(const mydev::v1::OpenSessionResponse& o) {
  return Ref(o.session_id(), o.token());
}

grpc::Status GetStats(Capture::Stub* stub, const mydev::v1::SessionRef& ref,
                      mydev::v1::SessionStats* out) {
  mydev::v1::GetSessionStatsRequest req;
  *req.mutable_session() = ref;
  return Call(&Capture::Stub::GetSessionStats, stub, req, out);
}

grpc::Status CloseSession(Capture::Stub* stub, const mydev::v1::SessionRef& ref) {
  mydev::v1::CloseSessionRequest req;
  *req.mutable_session() = ref;
  mydev::v1::CloseSessionResponse resp;
  return Call(&Capture::Stub::CloseSession, stub, req, &resp);
}

grpc::Status ListDevices(Capture::Stub* stub) {
  mydev::v1::ListDevicesRequest req;
  mydev::v1::ListDevicesResponse resp;
  return Call(&Capture::Stub::ListDevices, stub, req, &resp);
}

std::optional<Attached> Attach(const mydev::v1::OpenSessionResponse& o, std::string* error) {
  absl::StatusOr<UniqueFd> sock = ConnectUnix(o.fd_socket());
  if (!sock.ok()) {
    *error = sock.status().ToString();
    return std::nullopt;
  }
  shm::HandoffRequest req;
  req.session_id = o.session_id();
  std::memcpy(req.token.data(), o.token().data(), std::min(o.token().size(), req.token.size()));
  absl::StatusOr<shm::ReceivedFds> fds = shm::RequestFds(sock->get(), req, 5000);
  if (!fds.ok()) {
    *error = fds.status().ToString();
    return std::nullopt;
  }
  absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(fds->ring.get(), fds->ctl.get());
  if (!ring.ok()) {
    *error = ring.status().ToString();
    return std::nullopt;
  }
  Attached a;
  a.sock = std::move(*sock);
  a.event = std::move(fds->event);
  a.ring_fd = std::move(fds->ring);
  a.ring = std::move(*ring);
  return a;
}

TimedOpen OpenAndAttachTimed(Capture::Stub* stub) {
  TimedOpen t;
  const int64_t t0 = NowMs();
  t.status = Open(stub, DefaultOpen(), &t.open);
  if (t.status.ok()) t.attached = Attach(t.open, &t.error);
  t.ms = NowMs() - t0;
  return t;
}

uint64_t ReadSomePackets(Attached& a, int64_t timeout_ms) {
  uint64_t got = 0;
  const int64_t end = NowMs() + timeout_ms;
  while (got == 0 && NowMs() < end) {
    while (mydev_ring_next(a.ring.view()) != nullptr) ++got;
    mydev_ring_release(a.ring.view());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return got;
}

std::optional<std::pair<mydev::v1::OpenSessionResponse, Attached>> OpenAttached(
    Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, DefaultOpen(), &o);
  if (!st.ok()) {
    Print("ready=0 code=" + std::string(CodeName(st.error_code())) +
          " message=" + Quote(st.error_message()));
    return std::nullopt;
  }
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  if (!a) {
    Print("ready=0 attach_error=" + Quote(err));
    return std::nullopt;
  }
  Print("ready=1 session=" + std::to_string(o.session_id()) + " token=" + Hex(o.token()));
  return std::make_pair(std::move(o), std::move(*a));
}

void PrintFinalStats(Capture::Stub* stub, const mydev::v1::OpenSessionResponse& o,
                     const Attached& a) {
  mydev::v1::SessionStats s;
  grpc::Status st = GetStats(stub, Ref(o), &s);
  const mydev_ring_header* h = a.ring.header();
  const mydev_ring_member_counters* c = mydev_ring_counters(a.ring.view());
  Print("stats_code=" + std::string(CodeName(st.error_code())) +
        " stats_received=" + std::to_string(s.packets_received()) +
        " stats_dropped=" + std::to_string(s.packets_dropped()) + " ring_received=" +
        std::to_string(__atomic_load_n(&c->packets_received, __ATOMIC_RELAXED)) +
        " ring_dropped=" + std::to_string(__atomic_load_n(&c->packets_dropped, __ATOMIC_RELAXED)) +
        " ring_closed=" + std::to_string(__atomic_load_n(&h->state, __ATOMIC_ACQUIRE)) +
        " close_reason=" + std::to_string(h->close_reason));
}

}  // namespace mydev::hostile
