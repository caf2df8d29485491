// session.h — talking to mydevd the way a real client does: the Capture
// stub on --socket, calls with a 10 s deadline, OpenSession with the
// --device/--buffer/--timeout/--snaplen request, the other session RPCs,
// attaching (the fd hand-off, then the ring mapped read-only), and the
// lines the long-running roles print at start and at the end.
#ifndef MYDEV_TESTS_HOSTILE_CLIENT_SESSION_H_
#define MYDEV_TESTS_HOSTILE_CLIENT_SESSION_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "base/unique_fd.h"
#include "proto/mydev.grpc.pb.h"
#include "shm/ring_consumer.h"

namespace mydev::hostile {

using mydev::v1::Capture;

// A Capture stub on --socket, no message size limits on our side.
std::unique_ptr<Capture::Stub> NewStub();

// One unary call with a 10 s deadline.
template <typename Req, typename Resp>
grpc::Status Call(grpc::Status (Capture::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  Capture::Stub* stub, const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return (stub->*method)(&ctx, req, resp);
}

// The OpenSession request the flags describe.
mydev::v1::OpenSessionRequest DefaultOpen();

grpc::Status Open(Capture::Stub* stub, const mydev::v1::OpenSessionRequest& req,
                  mydev::v1::OpenSessionResponse* resp);

mydev::v1::SessionRef Ref(uint64_t id, const std::string& token);
mydev::v1::SessionRef Ref(const mydev::v1::OpenSessionResponse& o);

grpc::Status GetStats(Capture::Stub* stub, const mydev::v1::SessionRef& ref,
                      mydev::v1::SessionStats* out);
grpc::Status CloseSession(Capture::Stub* stub, const mydev::v1::SessionRef& ref);
grpc::Status ListDevices(Capture::Stub* stub);

// An attached session: its fd socket (kept open = session alive) and ring.
struct Attached {
  UniqueFd sock;
  UniqueFd event;
  UniqueFd ring_fd;
  shm::MappedRing ring;
};

// Fetches the session's fds over its fd socket and maps the ring; nullopt
// with *error set on failure.
std::optional<Attached> Attach(const mydev::v1::OpenSessionResponse& o, std::string* error);

// One OpenSession with the default request, then the fd hand-off, timed:
// what a well-behaved user experiences (e.g. during a flood).
struct TimedOpen {
  grpc::Status status;                  // OpenSession's
  mydev::v1::OpenSessionResponse open;  // valid when status.ok()
  std::optional<Attached> attached;     // nullopt: open or attach failed
  std::string error;                    // why Attach failed
  int64_t ms = 0;                       // open + attach wall time
};
TimedOpen OpenAndAttachTimed(Capture::Stub* stub);

// Reads the ring until at least one packet came or timeout_ms passed;
// returns how many were read (0: nothing arrived).
uint64_t ReadSomePackets(Attached& a, int64_t timeout_ms);

// Opens and attaches, printing "ready=1 session=N token=HEX" (or "ready=0
// ..." and nullopt on failure).
std::optional<std::pair<mydev::v1::OpenSessionResponse, Attached>> OpenAttached(
    Capture::Stub* stub);

// Prints the session's counters as the daemon (GetSessionStats) and the
// ring header see them, and whether and why the ring was closed.
void PrintFinalStats(Capture::Stub* stub, const mydev::v1::OpenSessionResponse& o,
                     const Attached& a);

}  // namespace mydev::hostile

#endif  // MYDEV_TESTS_HOSTILE_CLIENT_SESSION_H_
