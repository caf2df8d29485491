// socket_floods.cc — floods of the gRPC socket: idle connections that never
// speak HTTP/2 (`conn-flood`) and WatchStats streams never read
// (`watch-flood`), held until stopped.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "base/unix_socket.h"
#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {

// Opens --n idle connections to the gRPC socket (no HTTP/2 preface, never
// speaks), notes how many the daemon closed at once, prints
// "ready=1 ... held=H refused=R", then holds the rest until SIGTERM or
// --seconds; before letting go, tries one OpenSession of its own.
int ConnFlood(Capture::Stub* stub) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const int n = static_cast<int>(NOr(1100));
  std::vector<UniqueFd> conns;
  int connect_errors = 0;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<UniqueFd> s = ConnectUnix(Socket());
    if (s.ok())
      conns.push_back(std::move(*s));
    else
      ++connect_errors;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_settle_ms)));
  int refused = 0, held = 0;
  for (auto& c : conns) {
    pollfd p = {c.get(), POLLRDHUP, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP))) {
      ++refused;
      c.reset();
    } else {
      ++held;
    }
  }
  Print("ready=1 attack=conn-flood tried=" + std::to_string(n) +
        " connect_errors=" + std::to_string(connect_errors) + " held=" + std::to_string(held) +
        " refused=" + std::to_string(refused));
  SleepUntilStopped(SecondsOr(3600));
  // Its own new connection is over the cap too.
  mydev::v1::ListDevicesRequest req;
  mydev::v1::ListDevicesResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  const int64_t t0 = NowMs();
  grpc::Status own = stub->ListDevices(&ctx, req, &resp);
  int still_held = 0;
  for (auto& c : conns) {
    if (!c.valid()) continue;
    pollfd p = {c.get(), POLLRDHUP, 0};
    if (poll(&p, 1, 0) == 0) ++still_held;
  }
  Print("own_call=" + std::string(CodeName(own.error_code())) + " own_call_ms=" +
        std::to_string(NowMs() - t0) + " still_held=" + std::to_string(still_held));
  return 0;
}

// Opens --n WatchStats streams (interval 100 ms) and never reads past the
// first snapshot; prints "ready=1 ... open=O refused=R code=... message=...",
// holds them until SIGTERM or --seconds.
int WatchFlood() {
  const int n = static_cast<int>(NOr(50));
  auto stats = mydev::v1::Stats::NewStub(
      grpc::CreateChannel("unix:" + Socket(), grpc::InsecureChannelCredentials()));
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<mydev::v1::StatsSnapshot>>> streams;
  int open = 0, refused = 0;
  grpc::Status last_refusal;
  mydev::v1::WatchStatsRequest req;
  req.set_interval_ms(100);
  for (int i = 0; i < n; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stats->WatchStats(ctxs.back().get(), req));
    mydev::v1::StatsSnapshot snap;
    if (streams.back()->Read(&snap)) {
      ++open;
    } else {
      last_refusal = streams.back()->Finish();
      ++refused;
    }
  }
  Print("ready=1 attack=watch-flood tried=" + std::to_string(n) + " open=" + std::to_string(open) +
        " refused=" + std::to_string(refused) + " code=" + CodeName(last_refusal.error_code()) +
        " message=" + Quote(last_refusal.error_message()));
  SleepUntilStopped(SecondsOr(3600));
  for (auto& c : ctxs) c->TryCancel();
  Print("released=" + std::to_string(open));
  std::fflush(stdout);
  _exit(0);  // the cancelled streams are not finished one by one
}

}  // namespace mydev::hostile
