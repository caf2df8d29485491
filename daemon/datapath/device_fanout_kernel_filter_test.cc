// device_fanout_kernel_filter_test.cc — DeviceFanout and the kernel
// pre-filter, against a backend that records what it is asked to attach:
// reject-all at Start and with no session, the union as sessions come, go
// and change filters, the new filter in the kernel before the session uses
// it, a session on another link type taking everything, a backend that
// refuses (fallback, said in the status) and one with no kernel (asked once);
// and the kernel ring's size it asks for (the sessions' rings together).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "daemon/backends/synthetic/synthetic_frame_generator.h"
#include "daemon/datapath/device_fanout.h"
#include "daemon/testing/test_util.h"

namespace mydev::daemon {
namespace {

// Records every SetKernelFilter; answers with `answer`.
class RecordingBackend : public Backend {
 public:
  explicit RecordingBackend(absl::Status answer = absl::OkStatus()) : answer_(std::move(answer)) {
    info_ = TestDeviceInfo();
    info_.backend = "afpacket";
    info_.dlts = {DLT_EN10MB, DLT_LINUX_SLL2};
  }
  const DeviceInfo& info() const override { return info_; }
  absl::Status Start(PacketSink) override { return absl::OkStatus(); }
  void Stop() override {}
  absl::Status SetKernelFilter(absl::Span<const bpf_insn> program) override {
    absl::MutexLock lock(&mu_);
    programs_.emplace_back(program.begin(), program.end());
    if (watched_ != nullptr) watched_filter_set_.push_back(watched_->filter_set());
    return answer_;
  }
  std::vector<std::vector<bpf_insn>> programs() {
    absl::MutexLock lock(&mu_);
    return programs_;
  }
  void SetRingBytesHint(uint64_t bytes) override {
    absl::MutexLock lock(&mu_);
    hints_.push_back(bytes);
  }
  std::vector<uint64_t> hints() {
    absl::MutexLock lock(&mu_);
    return hints_;
  }
  // Records, at each SetKernelFilter, whether s had a filter then.
  void Watch(const Session* s) {
    absl::MutexLock lock(&mu_);
    watched_ = s;
  }
  std::vector<bool> watched_filter_set() {
    absl::MutexLock lock(&mu_);
    return watched_filter_set_;
  }

 private:
  DeviceInfo info_;
  const absl::Status answer_;
  absl::Mutex mu_;
  std::vector<std::vector<bpf_insn>> programs_ ABSL_GUARDED_BY(mu_);
  const Session* watched_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<bool> watched_filter_set_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> hints_ ABSL_GUARDED_BY(mu_);
};

// A backend with no kernel below it: the default SetKernelFilter.
class NoKernelBackend : public Backend {
 public:
  NoKernelBackend() : info_(TestDeviceInfo()) {}
  const DeviceInfo& info() const override { return info_; }
  absl::Status Start(PacketSink) override { return absl::OkStatus(); }
  void Stop() override {}

 private:
  DeviceInfo info_;
};

std::shared_ptr<Session> NewSession(uint64_t id, uint32_t snaplen = 262144) {
  SessionParams p;
  p.device = "mydev0";
  p.snaplen = snaplen;
  p.ring_bytes = 1 << 20;
  absl::StatusOr<std::shared_ptr<Session>> s = Session::Create(id, Credentials{1, 1, 1}, p);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

BpfProgram Compile(const char* expr) {
  absl::StatusOr<BpfProgram> p = BpfProgram::FromInsns(CompileFilter(expr), 4096);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

bool IsRejectAll(const std::vector<bpf_insn>& p) {
  return p.size() == 1 && p[0].code == (BPF_RET | BPF_K) && p[0].k == 0;
}

// The union without its VLAN prologue (3 instructions, which libpcap's
// bpf_filter cannot run) accepts exactly what one of the programs does.
void ExpectUnionOf(const std::vector<bpf_insn>& u, const std::vector<const char*>& exprs) {
  ASSERT_GT(u.size(), 3u);
  ASSERT_EQ(u[0].k, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT));
  const std::vector<bpf_insn> body(u.begin() + 3, u.end());
  std::vector<std::vector<bpf_insn>> programs;
  for (const char* e : exprs) programs.push_back(CompileFilter(e));
  SyntheticFrameGenerator gen(3);
  int accepted = 0;
  for (int i = 0; i < 500; ++i) {
    std::vector<uint8_t> f;
    PacketDirection dir;
    gen.Next(&f, &dir);
    const u_int n = static_cast<u_int>(f.size());
    bool any = false;
    for (const auto& p : programs) any |= bpf_filter(p.data(), f.data(), n, n) != 0;
    EXPECT_EQ(bpf_filter(body.data(), f.data(), n, n) != 0, any) << "frame " << i;
    accepted += any;
  }
  EXPECT_GT(accepted, 0);
}

TEST(FanoutKernelFilterTest, FollowsTheSessions) {
  auto backend = std::make_unique<RecordingBackend>();
  RecordingBackend* b = backend.get();
  DeviceFanout dev(std::move(backend), absl::Milliseconds(10));
  ASSERT_TRUE(dev.Start().ok());
  ASSERT_EQ(b->programs().size(), 1u);
  EXPECT_TRUE(IsRejectAll(b->programs().back())) << "no session: nothing leaves the kernel";
  EXPECT_TRUE(dev.kernel_filter().supported);
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kRejectAll);

  auto udp = NewSession(1, 96);
  ASSERT_TRUE(dev.AddSession(udp).ok());
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kAcceptAll) << "opened with no filter";
  EXPECT_EQ(dev.kernel_filter().note, "session 1 has no filter");
  ASSERT_EQ(b->programs().back().size(), 1u);
  EXPECT_EQ(b->programs().back()[0].k, 96u) << "its snaplen";

  b->Watch(udp.get());
  dev.SetSessionFilter(*udp, Compile("udp"));
  EXPECT_EQ(b->watched_filter_set(), std::vector<bool>{false})
      << "the kernel took the new filter before the session used it";
  EXPECT_TRUE(udp->filter_set());
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kUnion);
  EXPECT_EQ(dev.kernel_filter().insns, b->programs().back().size());
  EXPECT_EQ(dev.kernel_filter().note, "");
  ExpectUnionOf(b->programs().back(), {"udp"});

  auto tcp = NewSession(2);
  ASSERT_TRUE(dev.AddSession(tcp).ok());
  dev.SetSessionFilter(*tcp, Compile("tcp"));
  ExpectUnionOf(b->programs().back(), {"udp", "tcp"});

  // SLL2: its filter runs on the daemon's record, so it takes everything.
  dev.SetSessionDataLink(*tcp, DLT_LINUX_SLL2);
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kAcceptAll);
  EXPECT_EQ(dev.kernel_filter().note, "session 2 filters another link type than the kernel's");
  EXPECT_EQ(tcp->dlt(), DLT_LINUX_SLL2);
  dev.SetSessionDataLink(*tcp, DLT_EN10MB);
  ExpectUnionOf(b->programs().back(), {"udp", "tcp"});

  dev.SetSessionFilter(*tcp, std::nullopt);
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kAcceptAll);
  dev.RemoveSession(2);
  ExpectUnionOf(b->programs().back(), {"udp"});
  dev.RemoveSession(1);
  EXPECT_TRUE(IsRejectAll(b->programs().back())) << "the last session left";
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kRejectAll);
  dev.Stop();
}

TEST(FanoutKernelFilterTest, DeviceGoneLeavesRejectAllForTheReopenedSocket) {
  auto backend = std::make_unique<RecordingBackend>();
  RecordingBackend* b = backend.get();
  DeviceFanout dev(std::move(backend), absl::Milliseconds(10));
  ASSERT_TRUE(dev.Start().ok());
  ASSERT_TRUE(dev.AddSession(NewSession(1)).ok());
  EXPECT_FALSE(IsRejectAll(b->programs().back()));
  dev.OnDeviceGone(absl::UnavailableError("veth0 went away"));
  EXPECT_TRUE(IsRejectAll(b->programs().back()));
  dev.Stop();
}

TEST(FanoutKernelFilterTest, RefusedProgramIsAFallbackSaidInTheStatus) {
  DeviceFanout dev(std::make_unique<RecordingBackend>(absl::InvalidArgumentError("kernel says no")),
                   absl::Milliseconds(10));
  ASSERT_TRUE(dev.Start().ok());
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kFallback);
  EXPECT_EQ(dev.kernel_filter().note, "kernel says no");
  EXPECT_EQ(dev.kernel_filter().insns, 0u);
  dev.Stop();
}

TEST(FanoutKernelFilterTest, TooLongUnionFallsBackToAcceptAll) {
  auto backend = std::make_unique<RecordingBackend>();
  RecordingBackend* b = backend.get();
  DeviceFanout dev(std::move(backend), absl::Milliseconds(10));
  ASSERT_TRUE(dev.Start().ok());
  std::string hosts;
  for (int i = 0; i < 150; ++i)
    hosts += (i ? " or host 10.1." : "host 10.1.") + std::to_string(i) + ".1";
  const BpfProgram long_filter = Compile(hosts.c_str());  // ~650 instructions (compiled once: slow)
  std::vector<std::shared_ptr<Session>> sessions;
  for (uint64_t id = 1; id <= 12; ++id) {
    sessions.push_back(NewSession(id, static_cast<uint32_t>(1000 + id)));
    ASSERT_TRUE(dev.AddSession(sessions.back()).ok());
    dev.SetSessionFilter(*sessions.back(), long_filter);
  }
  const KernelFilterStatus st = dev.kernel_filter();
  EXPECT_EQ(st.kind, KernelFilterKind::kFallback);
  EXPECT_NE(st.note.find("more than the limit of 4096"), std::string::npos) << st.note;
  ASSERT_EQ(b->programs().back().size(), 1u);
  EXPECT_EQ(b->programs().back()[0].k, 1012u) << "the most any session needs";
  dev.Stop();
}

TEST(FanoutKernelFilterTest, BackendWithoutKernelIsAskedOnce) {
  DeviceFanout dev(std::make_unique<NoKernelBackend>(), absl::Milliseconds(10));
  ASSERT_TRUE(dev.Start().ok());
  auto s = NewSession(1);
  ASSERT_TRUE(dev.AddSession(s).ok());
  dev.SetSessionFilter(*s, Compile("udp"));
  EXPECT_TRUE(s->filter_set());
  EXPECT_FALSE(dev.kernel_filter().supported);
  dev.Stop();
}

// Each open asks for the sessions' rings together, a shared ring once: the
// device thread copies into each ring, so its kernel ring may hold as much.
TEST(FanoutKernelFilterTest, KernelRingHintIsTheSessionsRingsTogether) {
  auto backend = std::make_unique<RecordingBackend>();
  RecordingBackend* b = backend.get();
  DeviceFanout dev(std::move(backend), absl::Milliseconds(10));
  dev.set_share_rings(true);
  ASSERT_TRUE(dev.Start().ok());
  auto open = [&](uint64_t id, uint32_t uid, uint64_t ring_bytes) {
    SessionParams p;
    p.device = "mydev0";
    p.snaplen = 262144;
    p.ring_bytes = ring_bytes;
    absl::StatusOr<std::shared_ptr<Session>> s = Session::Create(
        id, Credentials{uid, uid, 1}, p, dev.RingToJoin(uid, ring_bytes), /*shareable=*/true);
    EXPECT_TRUE(s.ok()) << s.status();
    EXPECT_TRUE(dev.AddSession(*s).ok());
    return *s;
  };
  constexpr uint64_t kMiB = 1 << 20;
  auto a = open(1, 1000, 2 * kMiB);
  auto b2 = open(2, 1000, 2 * kMiB);  // a's ring-mate: nothing more
  auto c = open(3, 1000, 4 * kMiB);   // another size: a ring of its own
  auto d = open(4, 2000, 2 * kMiB);   // another uid: a ring of its own
  EXPECT_EQ(b->hints(), (std::vector<uint64_t>{2 * kMiB, 2 * kMiB, 6 * kMiB, 8 * kMiB}));
  dev.RemoveSession(a->id());
  auto e = open(5, 1000, 2 * kMiB);  // joins the ring a left to b2
  EXPECT_EQ(b->hints().back(), 8 * kMiB);
  dev.Stop();
}

}  // namespace
}  // namespace mydev::daemon
