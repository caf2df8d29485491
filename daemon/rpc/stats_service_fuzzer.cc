// stats_service_fuzzer.cc — libFuzzer target for mydev.v1.Stats: the fuzz
// bytes are decoded as a sequence of GetStats / WatchStats calls from
// callers of different uids, sent to the real StatsService (+ SessionManager
// with two sessions and a stats_viewers policy) in-process over socketpairs
// (one gRPC channel per caller; the peer table names each fd's uid, as the
// daemon's acceptor does). The service's WatchClock is a manual clock the
// input advances, so intervals up to 60 s cost no real time.
//
// Invariants checked (abort otherwise):
//   * GetStats lists exactly the manager's sessions, and each device's count;
//   * in every snapshot (scope STATS_SCOPE_LOCAL) a session's uid/pid are the
//     owner's for root, the owner and the viewer, and kHiddenUid/0 (comm and
//     cmdline empty) for a stranger or an unknown peer;
//   * a WatchStats is admitted exactly when under max_per_client (root exempt;
//     unknown peers share one count) and max_total, else RESOURCE_EXHAUSTED;
//     watch_streams() always equals the streams the fuzzer holds open;
//   * the m-th message of a stream with interval I (0 = 1000, clamped to
//     [100, 60000] ms) is sent once the clock passed (m-1)*I, and not before
//     (probe op); a cancelled stream ends.
//
// Input: up to 24 ops of 3 bytes [op][a][b]:
//   op % 7: 0 GetStats as caller a;  1 WatchStats as caller a, interval
//           kIntervals[b % 16];  2 read b%4+1 due messages of stream a;
//           3 cancel stream a;  4 advance the clock by kSteps[b % 10];
//           5 open / free a third session (owned by the stranger);
//           6 probe stream a: nothing more may arrive before it is due.
//   callers a % 6: root, owner A, owner B, viewer, stranger, unknown peer.
// Seeds: testdata/fuzz/stats_service_fuzzer/ (tools/fuzz.sh runs it).
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/backends/synthetic/synthetic_backend.h"
#include "daemon/control/access_policy.h"
#include "daemon/control/config.h"
#include "daemon/control/session_manager.h"
#include "daemon/datapath/device_fanout.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "daemon/rpc/stats_service.h"
#include "proto/config.pb.h"
#include "proto/mydev.grpc.pb.h"

namespace mydev::daemon {
namespace {

namespace v1 = mydev::v1;

constexpr uint32_t kOwnerA = 4001, kOwnerB = 4004, kViewer = 4002, kStranger = 4003;
constexpr WatchLimits kWatchLimits{5, 2};

struct CallerSpec {
  bool known;  // in the peer table
  uint32_t uid;
};
constexpr CallerSpec kCallers[6] = {{true, 0},       {true, kOwnerA},   {true, kOwnerB},
                                    {true, kViewer}, {true, kStranger}, {false, 0}};

constexpr uint32_t kIntervals[16] = {0,     1,     50,    99,          100,         101,  250, 1000,
                                     59999, 60000, 60001, 0xFFFFFFFFu, 0x80000000u, 5000, 333, 7};
constexpr int64_t kStepsMs[10] = {1, 50, 99, 100, 250, 999, 1000, 60000, 60001, 3600000};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "stats_service_fuzzer: %s\n", what);
  std::abort();
}

struct ManualClock {
  std::atomic<int64_t> ns{0};
  absl::Time Now() const { return absl::UnixEpoch() + absl::Nanoseconds(ns.load()); }
};

// One daemon for the whole run: a synthetic mydev0 (not started), two
// sessions (owner A and owner B), viewer uid in stats_viewers.
struct Harness {
  Harness() {
    DeviceInfo info;
    info.name = "mydev0";
    info.backend = "synthetic";
    info.description = "fuzz";
    info.dlts = {DLT_EN10MB};
    device = std::make_unique<DeviceFanout>(
        std::make_unique<SyntheticBackend>(info, SyntheticOptions{}), absl::Milliseconds(10));
    limits.default_ring_bytes = 64 << 10;
    limits.max_ring_bytes = 1 << 20;
    mydev::config::Config config;
    config.mutable_stats_viewers()->add_user(std::to_string(kViewer));
    absl::StatusOr<AccessPolicy> policy = AccessPolicy::FromConfig(config, 8, 64 << 20);
    if (!policy.ok()) Fail("cannot build the access policy");
    manager = std::make_unique<SessionManager>(limits, std::vector<DeviceFanout*>{device.get()},
                                               *std::move(policy));
    OpenSession({kOwnerA, kOwnerA, 1111});
    OpenSession({kOwnerB, kOwnerB, 2222});
    WatchClock watch_clock;
    watch_clock.now = [this] { return clock.Now(); };
    watch_clock.recheck = absl::Microseconds(100);
    stats = std::make_unique<StatsService>(manager.get(), &peers, kWatchLimits, watch_clock);
    grpc::ServerBuilder builder;
    builder.RegisterService(stats.get());
    server = builder.BuildAndStart();
    if (!server) Fail("cannot start the in-process server");
    for (int i = 0; i < 6; ++i) {
      int sv[2];  // gRPC expects non-blocking sockets
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0)
        Fail("socketpair");
      if (kCallers[i].known) peers.Set(sv[0], {kCallers[i].uid, kCallers[i].uid, 7});
      grpc::AddInsecureChannelFromFd(server.get(), sv[0]);  // gRPC owns both fds now
      stubs[i] = v1::Stats::NewStub(grpc::CreateInsecureChannelFromFd("fuzz", sv[1]));
    }
  }

  uint64_t OpenSession(const Credentials& owner) {
    v1::OpenSessionRequest req;
    req.set_device("mydev0");
    absl::StatusOr<std::shared_ptr<Session>> s = manager->Open(req, owner);
    if (!s.ok()) Fail("cannot open a session");
    owners[(*s)->id()] = owner;
    return (*s)->id();
  }

  ManualClock clock;
  Limits limits;
  std::unique_ptr<DeviceFanout> device;
  std::unique_ptr<SessionManager> manager;
  std::map<uint64_t, Credentials> owners;  // every session ever opened
  PeerCredentialsTable peers;
  std::unique_ptr<StatsService> stats;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::Stats::Stub> stubs[6];
};

Harness& TheHarness() {
  static Harness* h = new Harness();  // lives for the process (threads use it)
  return *h;
}

bool MaySee(const CallerSpec& c, uint32_t owner) {
  return c.known && (c.uid == 0 || c.uid == owner || c.uid == kViewer);
}

// Owner hiding, and that every session listed was opened here.
void CheckSnapshot(Harness& h, const CallerSpec& c, const v1::StatsSnapshot& snap) {
  if (snap.scope() != v1::STATS_SCOPE_LOCAL) Fail("a local snapshot not of STATS_SCOPE_LOCAL");
  for (const v1::SessionStats& s : snap.sessions()) {
    auto it = h.owners.find(s.session_id());
    if (it == h.owners.end()) Fail("a snapshot lists a session never opened");
    const Credentials& o = it->second;
    if (MaySee(c, o.uid)) {
      if (s.uid() != o.uid || s.pid() != static_cast<uint32_t>(o.pid))
        Fail("a caller allowed to see the owner got the wrong uid/pid");
    } else if (s.uid() != kHiddenUid || s.pid() != 0 || !s.comm().empty() || !s.cmdline().empty()) {
      Fail("a caller not allowed to see the owner got its uid/pid/comm/cmdline");
    }
  }
}

// GetStats: also exactly the manager's sessions now.
void CheckCurrent(Harness& h, const v1::StatsSnapshot& snap) {
  std::set<uint64_t> listed, live;
  for (const v1::SessionStats& s : snap.sessions()) listed.insert(s.session_id());
  for (const auto& s : h.manager->List()) live.insert(s->id());
  if (listed != live || static_cast<size_t>(snap.sessions_size()) != live.size())
    Fail("GetStats sessions differ from the manager's");
  if (snap.devices_size() != 1 || snap.devices(0).name() != "mydev0" ||
      snap.devices(0).sessions() != live.size())
    Fail("GetStats device counters differ from the manager's");
}

struct Stream {
  int caller;
  int64_t key;  // the service's count key: uid, -1 unknown
  uint32_t interval_ms;
  absl::Time opened;
  uint64_t received = 0;
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReader<v1::StatsSnapshot>> reader;

  // Messages sent by now: the first at once, then one per interval.
  uint64_t Due(absl::Time now) const {
    return 1 + static_cast<uint64_t>((now - opened) / absl::Milliseconds(interval_ms));
  }
};

uint32_t Clamped(uint32_t ms) { return ms == 0 ? 1000 : std::clamp(ms, 100u, 60000u); }

std::unique_ptr<grpc::ClientContext> NewContext() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

void WaitForStreams(Harness& h, size_t want) {
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (h.stats->watch_streams() != want) {
    if (absl::Now() > give_up) Fail("watch_streams() never reached the streams held open");
    absl::SleepFor(absl::Microseconds(100));
  }
}

void EndStream(Harness& h, std::vector<Stream>& streams, size_t i) {
  streams[i].ctx->TryCancel();
  grpc::Status s = streams[i].reader->Finish();
  if (s.ok() || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    Fail("a cancelled stream ended without CANCELLED");
  streams.erase(streams.begin() + static_cast<std::ptrdiff_t>(i));
  WaitForStreams(h, streams.size());
}

}  // namespace
}  // namespace mydev::daemon

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mydev::daemon;
  namespace v1 = mydev::v1;
  Harness& h = TheHarness();
  std::vector<Stream> streams;
  uint64_t third = 0;  // the stranger's session, 0 if not open
  int probes = 0;
  for (size_t n = 0; n + 3 <= size && n < 24 * 3; n += 3) {
    const uint8_t op = data[n] % 7, a = data[n + 1], b = data[n + 2];
    switch (op) {
      case 0: {
        const CallerSpec& c = kCallers[a % 6];
        auto ctx = NewContext();
        v1::StatsSnapshot snap;
        grpc::Status s = h.stubs[a % 6]->GetStats(ctx.get(), v1::GetStatsRequest(), &snap);
        if (!s.ok()) Fail("GetStats failed");
        CheckCurrent(h, snap);
        CheckSnapshot(h, c, snap);
        break;
      }
      case 1: {
        Stream st;
        st.caller = a % 6;
        const CallerSpec& c = kCallers[st.caller];
        st.key = c.known ? c.uid : -1;
        st.interval_ms = Clamped(kIntervals[b % 16]);
        st.opened = h.clock.Now();
        size_t mine = 0;
        for (const Stream& o : streams) mine += o.key == st.key;
        const bool admit = (st.key == 0 || mine < kWatchLimits.max_per_client) &&
                           streams.size() < kWatchLimits.max_total;
        v1::WatchStatsRequest req;
        req.set_interval_ms(kIntervals[b % 16]);
        st.ctx = NewContext();
        st.reader = h.stubs[st.caller]->WatchStats(st.ctx.get(), req);
        v1::StatsSnapshot snap;
        if (st.reader->Read(&snap)) {
          if (!admit) Fail("WatchStats admitted over its caps");
          CheckSnapshot(h, c, snap);
          st.received = 1;
          streams.push_back(std::move(st));
        } else {
          grpc::Status s = st.reader->Finish();
          if (admit || s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED ||
              s.error_message().empty())
            Fail("WatchStats refused under its caps, or not with RESOURCE_EXHAUSTED");
        }
        WaitForStreams(h, streams.size());
        break;
      }
      case 2: {
        if (streams.empty()) break;
        Stream& st = streams[a % streams.size()];
        const uint64_t due = st.Due(h.clock.Now());
        for (int k = 0; k <= b % 4 && st.received < due; ++k) {
          v1::StatsSnapshot snap;
          if (!st.reader->Read(&snap)) Fail("a due WatchStats message never came");
          CheckSnapshot(h, kCallers[st.caller], snap);
          ++st.received;
        }
        break;
      }
      case 3:
        if (!streams.empty()) EndStream(h, streams, a % streams.size());
        break;
      case 4:
        h.clock.ns += kStepsMs[b % 10] * 1000000;
        break;
      case 5:
        if (third == 0) {
          third = h.OpenSession({kStranger, kStranger, 3333});
        } else {
          h.manager->Free(third, "fuzz");
          third = 0;
        }
        break;
      case 6: {
        if (streams.empty() || probes >= 2) break;
        const size_t i = a % streams.size();
        Stream& st = streams[i];
        if (st.received != st.Due(h.clock.Now())) break;  // more is due: not a probe
        ++probes;
        std::thread canceller([&st] {
          absl::SleepFor(absl::Milliseconds(3));
          st.ctx->TryCancel();
        });
        v1::StatsSnapshot snap;
        const bool early = st.reader->Read(&snap);
        canceller.join();
        if (early) Fail("WatchStats sent a message before its interval passed");
        EndStream(h, streams, i);
        break;
      }
    }
  }
  while (!streams.empty()) EndStream(h, streams, streams.size() - 1);
  if (third != 0) h.manager->Free(third, "fuzz");
  return 0;
}
