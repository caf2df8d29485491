// mydev_stats.cc — prints mydevd's read-only statistics (devices and
// sessions), once or as a live watch. The operator's and the tests' view of
// what the daemon is doing.
//
//   mydev-stats                      # one snapshot, table form
//   mydev-stats --watch 1000         # a snapshot per second until ^C
//   mydev-stats --socket PATH        # else $MYDEV_SOCKET, else /run/mydevd/mydevd.sock
//   mydev-stats --format=kv          # "key=value" lines, for scripts and tests
//   mydev-stats --help               # every flag
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "proto/mydev.grpc.pb.h"

ABSL_FLAG(std::string, socket, "",
          "mydevd's socket; empty: $MYDEV_SOCKET, else /run/mydevd/mydevd.sock");
ABSL_FLAG(int32_t, watch, -1,
          "milliseconds between snapshots of a live watch (until ^C); -1: one snapshot");
ABSL_FLAG(std::string, format, "table", "table, or kv (\"key=value\" lines for scripts)");

namespace {

void PrintTable(const mydev::v1::StatsSnapshot& s) {
  std::printf("%-10s %-10s %14s %16s %10s %8s\n", "DEVICE", "BACKEND", "PACKETS", "BYTES",
              "IFDROPS", "SESSIONS");
  for (const auto& d : s.devices()) {
    std::printf("%-10s %-10s %14llu %16llu %10llu %8u\n", d.name().c_str(), d.backend().c_str(),
                (unsigned long long)d.packets_seen(), (unsigned long long)d.bytes_seen(),
                (unsigned long long)d.packets_ifdropped(), d.sessions());
  }
  std::printf("\n%-8s %-10s %6s %8s %12s %10s %14s %10s %8s\n", "SESSION", "DEVICE", "UID", "PID",
              "RECEIVED", "DROPPED", "BYTES", "RING", "SNAPLEN");
  for (const auto& x : s.sessions()) {
    std::printf("%-8llu %-10s %6u %8u %12llu %10llu %14llu %10llu %8u\n",
                (unsigned long long)x.session_id(), x.device().c_str(), x.uid(), x.pid(),
                (unsigned long long)x.packets_received(), (unsigned long long)x.packets_dropped(),
                (unsigned long long)x.bytes_received(), (unsigned long long)x.ring_bytes(),
                x.snaplen());
  }
  std::fflush(stdout);
}

void PrintKeyValue(const mydev::v1::StatsSnapshot& s) {
  for (const auto& d : s.devices()) {
    std::printf("device name=%s backend=%s packets=%llu bytes=%llu ifdropped=%llu sessions=%u\n",
                d.name().c_str(), d.backend().c_str(), (unsigned long long)d.packets_seen(),
                (unsigned long long)d.bytes_seen(), (unsigned long long)d.packets_ifdropped(),
                d.sessions());
  }
  for (const auto& x : s.sessions()) {
    std::printf(
        "session id=%llu device=%s uid=%u pid=%u received=%llu dropped=%llu ifdropped=%llu "
        "bytes=%llu ring=%llu snaplen=%u filter=%d\n",
        (unsigned long long)x.session_id(), x.device().c_str(), x.uid(), x.pid(),
        (unsigned long long)x.packets_received(), (unsigned long long)x.packets_dropped(),
        (unsigned long long)x.packets_ifdropped(), (unsigned long long)x.bytes_received(),
        (unsigned long long)x.ring_bytes(), x.snaplen(), x.filter_set() ? 1 : 0);
  }
  std::printf("end\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "prints mydevd's device and session counters.\n"
      "usage: mydev-stats [--socket PATH] [--watch MS] [--format=table|kv]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  const std::string format = absl::GetFlag(FLAGS_format);
  if (rest.size() > 1 || (format != "table" && format != "kv")) {
    std::fprintf(stderr, "mydev-stats: bad arguments (see --help)\n");
    return 2;
  }
  std::string socket = absl::GetFlag(FLAGS_socket);
  if (socket.empty()) {
    const char* env = std::getenv("MYDEV_SOCKET");
    socket = env && *env ? env : "/run/mydevd/mydevd.sock";
  }
  const int watch_ms = absl::GetFlag(FLAGS_watch);
  const bool kv = format == "kv";
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  auto stub = mydev::v1::Stats::NewStub(channel);
  auto print = [kv](const mydev::v1::StatsSnapshot& s) { kv ? PrintKeyValue(s) : PrintTable(s); };

  if (watch_ms < 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    mydev::v1::StatsSnapshot snap;
    grpc::Status st = stub->GetStats(&ctx, mydev::v1::GetStatsRequest(), &snap);
    if (!st.ok()) {
      std::fprintf(stderr, "mydev-stats: cannot get stats from mydevd at %s: %s\n", socket.c_str(),
                   st.error_message().c_str());
      return 1;
    }
    print(snap);
    return 0;
  }
  grpc::ClientContext ctx;
  mydev::v1::WatchStatsRequest req;
  req.set_interval_ms(watch_ms);
  auto reader = stub->WatchStats(&ctx, req);
  mydev::v1::StatsSnapshot snap;
  while (reader->Read(&snap)) print(snap);
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    std::fprintf(stderr, "mydev-stats: watch ended: %s\n", st.error_message().c_str());
    return 1;
  }
  return 0;
}
