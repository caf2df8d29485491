// replay_backend_test.cc — the replay backend on small pcap files written by
// the test (pcap_dump_open) and a hand-built pcapng: link type, bytes,
// pacing at speed 1 and 2, as fast as possible, looping, idle after the end,
// truncated and unreadable files, and the factory.
#include "daemon/backends/replay/replay_backend.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "daemon/backends/backend_factory.h"

namespace mydev::daemon {
namespace {

struct Recorded {
  uint64_t ts_ns;
  uint32_t len;
  PacketDirection direction;
  std::vector<uint8_t> bytes;
};

class Collector {
 public:
  PacketSink Sink() {
    return [this](absl::Span<const Packet> batch) {
      absl::MutexLock lock(&mu_);
      ++batches_;
      for (const Packet& p : batch)
        packets_.push_back(
            {p.ts_ns, p.len, p.direction, std::vector<uint8_t>(p.data, p.data + p.caplen)});
    };
  }
  std::vector<Recorded> packets() const {
    absl::MutexLock lock(&mu_);
    return packets_;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return packets_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Recorded> packets_ ABSL_GUARDED_BY(mu_);
  int batches_ ABSL_GUARDED_BY(mu_) = 0;
};

// Frame i: 60 + i bytes, every byte = i.
std::vector<uint8_t> Frame(int i) { return std::vector<uint8_t>(60 + i, static_cast<uint8_t>(i)); }

std::string TempPath(const char* suffix) {
  const char* dir = getenv("TEST_TMPDIR");
  static int n = 0;
  return std::string(dir ? dir : "/tmp") + "/replay_" + std::to_string(getpid()) + "_" +
         std::to_string(n++) + suffix;
}

// Writes frames 0..gaps.size() with packet k at 1700000000 s + sum(gaps[<k]) ns.
// The default link type is not Ethernet: a device showing it shows the file's.
std::string WritePcap(const std::vector<int64_t>& gaps_ns, int dlt = DLT_LINUX_SLL,
                      uint32_t orig_len_extra = 0) {
  std::string path = TempPath(".pcap");
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  EXPECT_NE(out, nullptr) << pcap_geterr(dead);
  int64_t t = 1'700'000'000LL * 1'000'000'000LL;
  for (size_t i = 0; i <= gaps_ns.size(); ++i) {
    if (i > 0) t += gaps_ns[i - 1];
    std::vector<uint8_t> f = Frame(static_cast<int>(i));
    pcap_pkthdr h{};
    h.ts.tv_sec = t / 1'000'000'000;
    h.ts.tv_usec = t % 1'000'000'000;  // nanoseconds with NANO precision
    h.caplen = static_cast<uint32_t>(f.size());
    h.len = h.caplen + orig_len_extra;
    pcap_dump(reinterpret_cast<u_char*>(out), &h, f.data());
  }
  pcap_dump_close(out);
  pcap_close(dead);
  return path;
}

void Put32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void Put16(std::string* s, uint16_t v) { s->append(reinterpret_cast<const char*>(&v), 2); }

// A minimal pcapng (host byte order): SHB, one IDB with if_tsresol = 9
// (nanoseconds), and one EPB per frame, 1 ms apart.
std::string WritePcapng(int frames, int dlt) {
  std::string b;
  Put32(&b, 0x0A0D0D0A), Put32(&b, 28), Put32(&b, 0x1A2B3C4D);
  Put16(&b, 1), Put16(&b, 0), Put32(&b, 0xffffffff), Put32(&b, 0xffffffff), Put32(&b, 28);
  Put32(&b, 1), Put32(&b, 32), Put16(&b, static_cast<uint16_t>(dlt)), Put16(&b, 0);
  Put32(&b, 65535);
  Put16(&b, 9), Put16(&b, 1), b.append("\x09\0\0\0", 4);  // if_tsresol = 10^-9
  Put16(&b, 0), Put16(&b, 0);                             // opt_endofopt
  Put32(&b, 32);
  uint64_t t = 1'700'000'000ULL * 1'000'000'000ULL;
  for (int i = 0; i < frames; ++i, t += 1'000'000) {
    std::vector<uint8_t> f = Frame(i);
    uint32_t padded = (static_cast<uint32_t>(f.size()) + 3) & ~3u;
    uint32_t len = 32 + padded;
    Put32(&b, 6), Put32(&b, len), Put32(&b, 0);
    Put32(&b, static_cast<uint32_t>(t >> 32)), Put32(&b, static_cast<uint32_t>(t));
    Put32(&b, static_cast<uint32_t>(f.size())), Put32(&b, static_cast<uint32_t>(f.size()));
    b.append(reinterpret_cast<const char*>(f.data()), f.size());
    b.append(padded - f.size(), '\0');
    Put32(&b, len);
  }
  std::string path = TempPath(".pcapng");
  std::ofstream(path, std::ios::binary) << b;
  return path;
}

std::unique_ptr<ReplayBackend> OpenOrDie(const std::string& path, double speed, bool loop) {
  DeviceInfo info;
  info.name = "mydev5";
  info.backend = "replay";
  ReplayOptions o;
  o.path = path;
  o.speed = speed;
  o.loop = loop;
  absl::StatusOr<std::unique_ptr<ReplayBackend>> b = ReplayBackend::Open(info, o);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? std::move(*b) : nullptr;
}

bool WaitFor(const std::function<bool()>& done, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

TEST(ReplayBackendTest, AsFastAsPossiblePlaysEveryPacketOnceThenIdles) {
  std::string path = WritePcap(std::vector<int64_t>(999, 1'000'000'000), DLT_LINUX_SLL, 40);
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 0, false);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->info().dlts, std::vector<int>{DLT_LINUX_SLL});
  EXPECT_EQ(dev->info().description, "replay of " + path);
  Collector got;
  const int64_t before = RealtimeNs();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return dev->finished(); }));
  // 1000 packets recorded 1 s apart: at speed 0 far faster than that.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  std::vector<Recorded> p = got.packets();
  ASSERT_EQ(p.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(p[i].bytes, Frame(i)) << i;
    EXPECT_EQ(p[i].len, 60u + i + 40) << i;  // original length kept
    EXPECT_EQ(p[i].direction, PacketDirection::kIn);
    EXPECT_GE(static_cast<int64_t>(p[i].ts_ns), before);
    if (i > 0) {
      EXPECT_GE(p[i].ts_ns, p[i - 1].ts_ns);
    }
  }
  EXPECT_EQ(dev->packets_replayed(), 1000u);
  EXPECT_EQ(dev->passes_completed(), 1u);
  // Idle afterwards: nothing more arrives; Stop still works.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(got.size(), 1000u);
  dev->Stop();
  unlink(path.c_str());
}

// Recorded gaps 100, 50, 150, 100 ms (400 ms in all) at speed 1 and 2.
void CheckPace(double speed) {
  const std::vector<int64_t> gaps = {100'000'000, 50'000'000, 150'000'000, 100'000'000};
  std::string path = WritePcap(gaps);
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, speed, false);
  ASSERT_NE(dev, nullptr);
  Collector got;
  const int64_t start = RealtimeNs();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  // Half way through, about half the packets are out.
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(175 / speed)));
  size_t midway = got.size();
  EXPECT_GE(midway, 1u);  // 3 expected; slack for a slow thread start
  EXPECT_LE(midway, 3u);
  ASSERT_TRUE(WaitFor([&] { return dev->finished(); }));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(static_cast<int>(400 / speed)));
  EXPECT_LT(took, std::chrono::milliseconds(static_cast<int>(400 / speed) + 300));
  std::vector<Recorded> p = got.packets();
  ASSERT_EQ(p.size(), 5u);
  // Timestamps: the replay's start plus the scaled recorded offsets, exactly.
  EXPECT_GE(static_cast<int64_t>(p[0].ts_ns), start);
  EXPECT_LT(static_cast<int64_t>(p[0].ts_ns), start + 100'000'000);
  for (size_t i = 1; i < p.size(); ++i)
    EXPECT_EQ(static_cast<int64_t>(p[i].ts_ns - p[i - 1].ts_ns),
              static_cast<int64_t>(gaps[i - 1] / speed))
        << i;
  unlink(path.c_str());
}

TEST(ReplayBackendTest, RecordedPace) { CheckPace(1.0); }
TEST(ReplayBackendTest, TwiceAsFast) { CheckPace(2.0); }

TEST(ReplayBackendTest, LoopsUntilStopped) {
  std::string path = WritePcap(std::vector<int64_t>(9, 1000));
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 0, true);
  ASSERT_NE(dev, nullptr);
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return dev->passes_completed() >= 3; }));
  dev->Stop();
  EXPECT_FALSE(dev->finished());
  std::vector<Recorded> p = got.packets();
  ASSERT_GE(p.size(), 30u);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i].bytes, Frame(static_cast<int>(i % 10)));
  for (size_t i = 1; i < p.size(); ++i) EXPECT_GE(p[i].ts_ns, p[i - 1].ts_ns);
  unlink(path.c_str());
}

// The file is opened once, by Open() (as root, in mydevd): removing it, or
// taking away every permission, does not stop a looping replay.
TEST(ReplayBackendTest, LoopsOverTheFileOpenedAtStart) {
  std::string path = WritePcap(std::vector<int64_t>(4, 1000));
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 0, true);
  ASSERT_NE(dev, nullptr);
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  ASSERT_EQ(unlink(path.c_str()), 0);
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return dev->passes_completed() >= 3; }));
  dev->Stop();
  std::vector<Recorded> p = got.packets();
  ASSERT_GE(p.size(), 15u);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i].bytes, Frame(static_cast<int>(i % 5)));
}

TEST(ReplayBackendTest, LoopingPacedKeepsTimeGoingForward) {
  std::string path = WritePcap({20'000'000, 20'000'000});  // 3 packets, 40 ms
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 1.0, true);
  ASSERT_NE(dev, nullptr);
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return got.size() >= 7; }));
  dev->Stop();
  std::vector<Recorded> p = got.packets();
  // Pass 2 starts where pass 1 ended: offsets 0, 20, 40 | 40, 60, 80 | 80 ...
  const int64_t want[] = {0, 20, 40, 40, 60, 80, 80};
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(static_cast<int64_t>(p[i].ts_ns - p[0].ts_ns), want[i] * 1'000'000) << i;
  unlink(path.c_str());
}

TEST(ReplayBackendTest, StopInterruptsALongGap) {
  std::string path = WritePcap({3600LL * 1'000'000'000});  // the 2nd packet in an hour
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 1.0, false);
  ASSERT_NE(dev, nullptr);
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return got.size() == 1; }));
  EXPECT_EQ(dev->Start(got.Sink()).code(), absl::StatusCode::kFailedPrecondition);
  auto t0 = std::chrono::steady_clock::now();
  dev->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_FALSE(dev->finished());
  unlink(path.c_str());
}

TEST(ReplayBackendTest, ReadsPcapng) {
  std::string path = WritePcapng(5, DLT_EN10MB);
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 1.0, false);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->info().dlts, std::vector<int>{DLT_EN10MB});
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return dev->finished(); }));
  std::vector<Recorded> p = got.packets();
  ASSERT_EQ(p.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(p[i].bytes, Frame(i));
  for (int i = 1; i < 5; ++i) EXPECT_EQ(p[i].ts_ns - p[i - 1].ts_ns, 1'000'000u);  // 1 ms, ns-exact
  unlink(path.c_str());
}

TEST(ReplayBackendTest, TruncatedFilePlaysWhatIsThere) {
  std::string path = WritePcap(std::vector<int64_t>(9, 1000));
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(all.size() - 30)), 0);  // cut packet 9
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 0, true);  // loop: still must not spin
  ASSERT_NE(dev, nullptr);
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return dev->passes_completed() >= 2; }));
  dev->Stop();
  std::vector<Recorded> p = got.packets();
  ASSERT_GE(p.size(), 18u);
  for (int i = 0; i < 18; ++i) EXPECT_EQ(p[i].bytes, Frame(i % 9)) << i;
  unlink(path.c_str());
}

// Runs fn with stderr (where MYDEV_LOG writes) sent to a file; returns the
// lines written that contain `needle`.
int CountStderrLines(const std::function<void()>& fn, const std::string& needle) {
  std::string path = TempPath(".log");
  std::fflush(stderr);
  const int saved = dup(2);
  FILE* log = std::fopen(path.c_str(), "w");
  EXPECT_NE(log, nullptr);
  dup2(fileno(log), 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(log);
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) ++n;
  unlink(path.c_str());
  return n;
}

// A looping replay of a file with a bad record (issue 12: "ending this pass"
// ~100,000 times a second at 100% CPU): the pass after the error waits 1 s,
// then 2 s, ...; one log line per error pass; Health() names the error, and
// the packets before the bad record are still played every pass.
void CheckBadFileBacksOff(const std::string& path, int good_packets, const std::string& what) {
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 0, true);
  ASSERT_NE(dev, nullptr);
  EXPECT_TRUE(dev->Health().ok());
  Collector got;
  uint64_t passes = 0;
  absl::Status health;
  const int lines = CountStderrLines(
      [&] {
        ASSERT_TRUE(dev->Start(got.Sink()).ok());
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        passes = dev->passes_completed();
        health = dev->Health();
        dev->Stop();
      },
      "next pass in");
  std::printf("%s, loop, 1.5 s: %llu passes, %d warnings, %zu packets; Health: %s\n", what.c_str(),
              static_cast<unsigned long long>(passes), lines, got.size(),
              health.ToString().c_str());
  // Pass 1 at once, pass 2 after 1 s, pass 3 not before 3 s.
  EXPECT_GE(passes, 1u);
  EXPECT_LE(passes, 2u);
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 2);
  EXPECT_EQ(got.size(), passes * good_packets);
  EXPECT_TRUE(absl::IsUnavailable(health)) << health;
  EXPECT_NE(health.message().find("ended in error"), absl::string_view::npos) << health;
  EXPECT_NE(health.message().find(absl::StrCat("after ", good_packets, " packets")),
            absl::string_view::npos)
      << health;
  EXPECT_FALSE(dev->finished());
}

TEST(ReplayBackendTest, TruncatedLoopingFileBacksOffAndReportsTheError) {
  std::string path = WritePcap(std::vector<int64_t>(9, 1000));
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(all.size() - 30)), 0);  // cut packet 9
  CheckBadFileBacksOff(path, 9, "truncated file");
  unlink(path.c_str());
}

TEST(ReplayBackendTest, BadRecordLoopingFileBacksOffAndReportsTheError) {
  std::string path = WritePcap(std::vector<int64_t>(9, 1000));
  // Record 5's caplen (header: 24 bytes; record i: 16 + 60 + i bytes) made
  // absurd: libpcap refuses it ("invalid packet capture length").
  size_t off = 24;
  for (int i = 0; i < 5; ++i) off += 16 + 60 + i;
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  const uint32_t huge = 0x7ffffff0;
  f.seekp(static_cast<std::streamoff>(off + 8));
  f.write(reinterpret_cast<const char*>(&huge), 4);
  f.close();
  CheckBadFileBacksOff(path, 5, "bad record (caplen 0x7ffffff0)");
  unlink(path.c_str());
}

// A clean pass after bad ones clears Health().
TEST(ReplayBackendTest, HealthyFileReportsOk) {
  std::string path = WritePcap(std::vector<int64_t>(4, 1000));
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 0, true);
  ASSERT_NE(dev, nullptr);
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return dev->passes_completed() >= 3; }));
  EXPECT_TRUE(dev->Health().ok()) << dev->Health();
  dev->Stop();
  unlink(path.c_str());
}

TEST(ReplayBackendTest, EmptyLoopingFileGoesIdle) {
  std::string path = TempPath(".pcap");
  pcap_t* dead = pcap_open_dead(1, 65535);
  pcap_dump_close(pcap_dump_open(dead, path.c_str()));
  pcap_close(dead);
  std::unique_ptr<ReplayBackend> dev = OpenOrDie(path, 0, true);
  ASSERT_NE(dev, nullptr);
  Collector got;
  ASSERT_TRUE(dev->Start(got.Sink()).ok());
  ASSERT_TRUE(WaitFor([&] { return dev->finished(); }));
  EXPECT_EQ(dev->passes_completed(), 1u);
  EXPECT_EQ(got.size(), 0u);
  unlink(path.c_str());
}

TEST(ReplayBackendTest, UnreadableFilesAreClearErrors) {
  DeviceInfo info;
  info.name = "mydev5";
  ReplayOptions o;
  o.path = "/nonexistent/x.pcap";
  absl::Status missing = ReplayBackend::Open(info, o).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("/nonexistent/x.pcap"), std::string::npos);

  o.path = TempPath(".txt");
  std::ofstream(o.path) << "this is not a capture file, just some text\n";
  absl::Status garbage = ReplayBackend::Open(info, o).status();
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.message().find("pcap or pcapng"), std::string::npos) << garbage;
  unlink(o.path.c_str());

  o.path = WritePcap({});
  o.speed = -1;
  EXPECT_EQ(ReplayBackend::Open(info, o).status().code(), absl::StatusCode::kInvalidArgument);
  unlink(o.path.c_str());
}

TEST(ReplayBackendTest, FactoryBuildsReplayDevices) {
  std::string path = WritePcap({1000}, DLT_EN10MB);
  mydev::config::DeviceConfig d;
  d.set_name("mydev3");
  d.mutable_replay()->set_path(path);
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(d);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->info().backend, "replay");
  EXPECT_EQ((*b)->info().dlts, std::vector<int>{DLT_EN10MB});
  EXPECT_EQ((*b)->info().name, "mydev3");
  EXPECT_FALSE((*b)->info().can_inject);

  d.mutable_replay()->set_path("/nonexistent/y.pcapng");
  absl::Status s = CreateBackend(d).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("mydev3"), std::string::npos) << s;
  unlink(path.c_str());
}

}  // namespace
}  // namespace mydev::daemon
