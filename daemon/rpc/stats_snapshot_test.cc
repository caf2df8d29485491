// stats_snapshot_test.cc — every SessionStats and DeviceStats field filled
// from a real session (its real ring, read back through the ring_abi.h
// reader): who opened it, its current settings, the ring's fill after
// packets arrive and after the reader releases them, the high-water mark and
// the wake-ups; a device's state, link type and promiscuous references.
#include "daemon/rpc/stats_snapshot.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "daemon/backends/synthetic/synthetic_backend.h"
#include "daemon/testing/test_util.h"
#include "shm/ring_consumer.h"

namespace mydev::daemon {
namespace {

std::string TokenOf(const Session& s) { return std::string(s.token().begin(), s.token().end()); }

// A device whose interface is missing: listed, refuses sessions.
class GoneBackend : public Backend {
 public:
  GoneBackend() {
    info_.name = "mydev1";
    info_.backend = "afpacket";
    info_.dlts = {DLT_LINUX_SLL2, DLT_EN10MB};
  }
  const DeviceInfo& info() const override { return info_; }
  absl::Status Start(PacketSink) override { return absl::OkStatus(); }
  void Stop() override {}
  absl::Status Health() const override {
    return absl::UnavailableError("interface veth9 does not exist");
  }

 private:
  DeviceInfo info_;
};

// n packets of `bytes` bytes each, received by the device.
struct Batch {
  std::vector<uint8_t> frame;
  std::vector<Packet> packets;
  Batch(size_t n, uint32_t bytes) : frame(bytes, 0x5a), packets(n) {
    for (size_t i = 0; i < n; ++i) {
      packets[i].ts_ns = 1000 + i;
      packets[i].len = packets[i].caplen = bytes;
      packets[i].direction = PacketDirection::kIn;
      packets[i].data = frame.data();
    }
  }
  // Ring bytes one of these packets takes (record header + bytes, aligned).
  uint64_t RecordBytes() const { return MYDEV_ALIGN8(sizeof(mydev_ring_record) + frame.size()); }
};

class StatsSnapshotTest : public ::testing::Test {
 protected:
  StatsSnapshotTest() {
    DeviceInfo info = TestDeviceInfo();
    info.dlts = {DLT_EN10MB, DLT_LINUX_SLL2};
    up_ = std::make_unique<DeviceFanout>(
        std::make_unique<SyntheticBackend>(info, SyntheticOptions{}), absl::Milliseconds(10));
    gone_ = std::make_unique<DeviceFanout>(std::make_unique<GoneBackend>(), absl::Milliseconds(10));
    Limits limits;
    limits.default_ring_bytes = 1 << 20;
    manager_ = std::make_unique<SessionManager>(limits,
                                                std::vector<DeviceFanout*>{up_.get(), gone_.get()});
  }

  std::shared_ptr<Session> Open(const mydev::v1::OpenSessionRequest& req,
                                const PeerProcess& process = {}) {
    absl::StatusOr<std::shared_ptr<Session>> s =
        manager_->Open(req, Credentials{1000, 1000, 4242}, process);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : nullptr;
  }

  mydev::v1::SessionStats Stats(Session& s) {
    mydev::v1::SessionStats out;
    FillSessionStats(s, *manager_, &out);
    return out;
  }

  std::unique_ptr<DeviceFanout> up_, gone_;
  std::unique_ptr<SessionManager> manager_;
};

TEST_F(StatsSnapshotTest, SessionRowSaysWhoAndHow) {
  mydev::v1::OpenSessionRequest req;
  req.set_device("mydev0");
  req.set_snaplen(96);
  req.set_promisc(true);
  req.set_immediate(true);
  req.set_timeout_ms(250);
  req.set_direction(mydev::v1::DIRECTION_IN);
  const int64_t before = absl::ToUnixNanos(absl::Now());
  std::shared_ptr<Session> s =
      Open(req, PeerProcess{"tcpdump", "tcpdump -i mydev0 -n -p udp port 53"});
  const int64_t after = absl::ToUnixNanos(absl::Now());
  ASSERT_NE(s, nullptr);

  mydev::v1::SessionStats st = Stats(*s);
  EXPECT_EQ(st.session_id(), s->id());
  EXPECT_EQ(st.device(), "mydev0");
  EXPECT_EQ(st.uid(), 1000u);
  EXPECT_EQ(st.pid(), 4242u);
  EXPECT_EQ(st.comm(), "tcpdump");
  EXPECT_EQ(st.cmdline(), "tcpdump -i mydev0 -n -p udp port 53");
  EXPECT_GE(st.opened_time_ns(), before);
  EXPECT_LE(st.opened_time_ns(), after);
  EXPECT_EQ(st.direction(), mydev::v1::DIRECTION_IN);
  EXPECT_TRUE(st.immediate());
  EXPECT_EQ(st.timeout_ms(), 250u);
  EXPECT_EQ(st.dlt(), DLT_EN10MB);
  EXPECT_EQ(st.snaplen(), 96u);
  EXPECT_FALSE(st.filter_set());
  EXPECT_EQ(st.filter_insns(), 0u);
  EXPECT_TRUE(st.promisc());
  EXPECT_EQ(st.ring_bytes(), 1u << 20);
  EXPECT_EQ(st.ring_fill_bytes(), 0u);
  EXPECT_EQ(st.ring_high_water_bytes(), 0u);
  EXPECT_EQ(st.wakeups(), 0u);

  // What changes after open shows as it is now.
  const std::vector<bpf_insn> udp = CompileFilter("udp");
  ASSERT_FALSE(udp.empty());
  google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn> insns;
  for (const bpf_insn& i : udp) {
    mydev::v1::BpfInsn* p = insns.Add();
    p->set_code(i.code);
    p->set_jt(i.jt);
    p->set_jf(i.jf);
    p->set_k(i.k);
  }
  ASSERT_TRUE(manager_->SetFilter(*s, insns).ok());
  ASSERT_TRUE(manager_->SetDirection(*s, mydev::v1::DIRECTION_OUT).ok());
  ASSERT_TRUE(manager_->SetDataLink(*s, DLT_LINUX_SLL2).ok());
  st = Stats(*s);
  EXPECT_TRUE(st.filter_set());
  EXPECT_EQ(st.filter_insns(), udp.size());
  EXPECT_EQ(st.direction(), mydev::v1::DIRECTION_OUT);
  EXPECT_EQ(st.dlt(), DLT_LINUX_SLL2);
  ASSERT_TRUE(manager_->SetFilter(*s, {}).ok());
  EXPECT_EQ(Stats(*s).filter_insns(), 0u);
  EXPECT_FALSE(Stats(*s).filter_set());
}

TEST_F(StatsSnapshotTest, UnknownProcessIsEmptyNotAnError) {
  mydev::v1::OpenSessionRequest req;
  req.set_device("mydev0");
  std::shared_ptr<Session> s = Open(req);  // e.g. pid 0: another pid namespace
  ASSERT_NE(s, nullptr);
  mydev::v1::SessionStats st = Stats(*s);
  EXPECT_EQ(st.comm(), "");
  EXPECT_EQ(st.cmdline(), "");
}

TEST_F(StatsSnapshotTest, RingFillFollowsPacketsAndTheReader) {
  mydev::v1::OpenSessionRequest req;
  req.set_device("mydev0");
  req.set_immediate(true);
  std::shared_ptr<Session> s = Open(req);
  ASSERT_NE(s, nullptr);
  absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(s->ring_fd(), s->ctl_fd());
  ASSERT_TRUE(ring.ok()) << ring.status();
  mydev_ring_view* v = ring->view();

  Batch ten(10, 100);
  up_->OnBatch(ten.packets);
  mydev::v1::SessionStats st = Stats(*s);
  EXPECT_EQ(st.packets_received(), 10u);
  EXPECT_EQ(st.bytes_received(), 1000u);
  EXPECT_EQ(st.ring_fill_bytes(), 10 * ten.RecordBytes());
  EXPECT_EQ(st.ring_high_water_bytes(), 10 * ten.RecordBytes());
  EXPECT_EQ(st.wakeups(), 0u) << "the reader never slept";

  // The reader takes 4 and releases them.
  for (int i = 0; i < 4; ++i) ASSERT_NE(mydev_ring_next(v), nullptr);
  mydev_ring_release(v);
  st = Stats(*s);
  EXPECT_EQ(st.ring_fill_bytes(), 6 * ten.RecordBytes());
  EXPECT_EQ(st.ring_high_water_bytes(), 10 * ten.RecordBytes());
  // Reads the rest, then sleeps: the next batch wakes it (immediate mode).
  while (mydev_ring_next(v) != nullptr) {
  }
  mydev_ring_release(v);
  ASSERT_EQ(mydev_ring_prepare_sleep(v), 1);
  Batch three(3, 100);
  up_->OnBatch(three.packets);
  st = Stats(*s);
  EXPECT_EQ(st.ring_fill_bytes(), 3 * ten.RecordBytes());
  EXPECT_EQ(st.ring_high_water_bytes(), 10 * ten.RecordBytes()) << "3 < 10 waiting";
  EXPECT_EQ(st.wakeups(), 1u);
  EXPECT_EQ(st.packets_received(), 13u);
  while (mydev_ring_next(v) != nullptr) {
  }
  mydev_ring_release(v);
  EXPECT_EQ(Stats(*s).ring_fill_bytes(), 0u);

  // A reader that stops: the ring fills, drops are counted, the mark is the
  // ring's size (less the tail no record fitted in).
  Batch many(1000, 1500);
  for (int i = 0; i < 20; ++i) up_->OnBatch(many.packets);
  st = Stats(*s);
  EXPECT_GT(st.packets_dropped(), 0u);
  EXPECT_GT(st.ring_fill_bytes(), st.ring_bytes() - 2 * many.RecordBytes());
  EXPECT_LE(st.ring_fill_bytes(), st.ring_bytes());
  EXPECT_EQ(st.ring_high_water_bytes(), st.ring_fill_bytes());
  // A hostile client cannot push the gauges out of range.
  __atomic_store_n(&v->ctl->consumer_pos, ~uint64_t{0} - 4096, __ATOMIC_RELAXED);
  st = Stats(*s);
  EXPECT_LE(st.ring_fill_bytes(), st.ring_bytes());
  EXPECT_LE(st.ring_high_water_bytes(), st.ring_bytes());
}

TEST_F(StatsSnapshotTest, DeviceRowsSayStateLinkTypeAndPromiscuousReferences) {
  mydev::v1::OpenSessionRequest req;
  req.set_device("mydev0");
  req.set_promisc(true);
  std::shared_ptr<Session> a = Open(req);
  std::shared_ptr<Session> b = Open(req);
  req.set_promisc(false);
  std::shared_ptr<Session> c = Open(req);
  ASSERT_TRUE(a && b && c);
  req.set_device("mydev1");
  EXPECT_EQ(manager_->Open(req, Credentials{1000, 1000, 1}).status().code(),
            absl::StatusCode::kUnavailable);

  const int64_t before = absl::ToUnixNanos(absl::Now());
  mydev::v1::StatsSnapshot snap;
  TakeStatsSnapshot(*manager_, &snap);
  EXPECT_GE(snap.time_ns(), before);
  ASSERT_EQ(snap.devices_size(), 2);
  const mydev::v1::DeviceStats& up = snap.devices(0);
  EXPECT_EQ(up.name(), "mydev0");
  EXPECT_EQ(up.state(), mydev::v1::DEVICE_STATE_UP);
  EXPECT_EQ(up.state_detail(), "");
  EXPECT_EQ(up.dlt(), DLT_EN10MB);
  EXPECT_EQ(up.sessions(), 3u);
  EXPECT_EQ(up.promisc_sessions(), 2u);
  EXPECT_EQ(up.kernel_filter(), mydev::v1::KERNEL_FILTER_STATE_NONE) << "synthetic: no kernel";
  EXPECT_EQ(up.kernel_filter_insns(), 0u);
  const mydev::v1::DeviceStats& gone = snap.devices(1);
  EXPECT_EQ(gone.name(), "mydev1");
  EXPECT_EQ(gone.backend(), "afpacket");
  EXPECT_EQ(gone.state(), mydev::v1::DEVICE_STATE_WAITING);
  EXPECT_EQ(gone.state_detail(), "interface veth9 does not exist");
  EXPECT_EQ(gone.dlt(), DLT_LINUX_SLL2);
  EXPECT_EQ(gone.sessions(), 0u);
  EXPECT_EQ(gone.promisc_sessions(), 0u);
  ASSERT_EQ(snap.sessions_size(), 3);

  ASSERT_TRUE(manager_->Close(a->id(), TokenOf(*a), 1000).ok());
  snap.Clear();
  TakeStatsSnapshot(*manager_, &snap);
  EXPECT_EQ(snap.devices(0).promisc_sessions(), 1u);
  EXPECT_EQ(snap.devices(0).sessions(), 2u);
  EXPECT_EQ(snap.sessions_size(), 2);
}

TEST(KernelFilterStateOfTest, NamesEachKind) {
  KernelFilterStatus kf;
  EXPECT_EQ(KernelFilterStateOf(kf), mydev::v1::KERNEL_FILTER_STATE_NONE);
  kf.supported = true;
  EXPECT_EQ(KernelFilterStateOf(kf), mydev::v1::KERNEL_FILTER_STATE_REJECT_ALL);
  kf.kind = KernelFilterKind::kUnion;
  EXPECT_EQ(KernelFilterStateOf(kf), mydev::v1::KERNEL_FILTER_STATE_UNION);
  kf.kind = KernelFilterKind::kAcceptAll;
  EXPECT_EQ(KernelFilterStateOf(kf), mydev::v1::KERNEL_FILTER_STATE_ACCEPT_ALL);
  kf.kind = KernelFilterKind::kFallback;
  EXPECT_EQ(KernelFilterStateOf(kf), mydev::v1::KERNEL_FILTER_STATE_FALLBACK);
}

}  // namespace
}  // namespace mydev::daemon
