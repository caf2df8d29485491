// afpacket_backend_test.cc — the afpacket backend on a veth pair in a network
// namespace the test creates (needs root). Frames are sent from the far end
// (veth1) with a packet socket and must come out of the backend on veth0
// byte for byte: lengths, direction, VLAN tag put back, SLL2 through a
// session, kernel drops, promiscuous reference counting, the interface going
// away and coming back, and injection.
#include "daemon/backends/afpacket/afpacket_backend.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <pcap/vlan.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/unique_fd.h"
#include "daemon/datapath/bpf_program.h"
#include "daemon/datapath/device_fanout.h"
#include "daemon/datapath/session.h"
#include "daemon/datapath/sll2.h"
#include "daemon/testing/test_util.h"
#include "shm/ring_consumer.h"

namespace mydev::daemon {
namespace {

constexpr uint16_t kTestEthertype = ETH_P_802_EX1;  // IEEE 802.1 local experimental
constexpr char kMarker[8] = {'M', 'Y', 'D', 'E', 'V', 'A', 'F', 'P'};
constexpr char kNear[] = "veth0";  // the backend's interface
constexpr char kFar[] = "veth1";   // where the test sends from

bool Run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
// Run() for TEST_F bodies, where Run names ::testing::Test::Run.
bool Shell(const std::string& cmd) { return Run(cmd); }

// A network namespace for the whole test program; the main thread (and every
// thread started afterwards) lives in it.
class NetnsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (geteuid() != 0) return;
    name_ = "mydev-t-" + std::to_string(getpid());
    original_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(Run("ip netns add " + name_)) << "ip netns add " << name_;
    UniqueFd ns(open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(ns.valid());
    ASSERT_EQ(setns(ns.get(), CLONE_NEWNET), 0) << strerror(errno);
    // No IPv6 chatter (router solicitations, DAD) on the test links.
    Run("sysctl -w net.ipv6.conf.default.disable_ipv6=1");
    Run("sysctl -w net.ipv6.conf.all.disable_ipv6=1");
    ready_ = true;
    std::atexit([] { Cleanup(); });
  }
  void TearDown() override { Cleanup(); }
  static void Cleanup() {
    if (original_ >= 0) {
      setns(original_, CLONE_NEWNET);
      close(original_);
      original_ = -1;
    }
    if (!name_.empty()) Run("ip netns del " + name_);
    name_.clear();
  }
  static bool ready() { return ready_; }

 private:
  static inline std::string name_;
  static inline int original_ = -1;
  static inline bool ready_ = false;
};

[[maybe_unused]] ::testing::Environment* const kNetns =
    ::testing::AddGlobalTestEnvironment(new NetnsEnvironment);

bool MakeVethPair() {
  return Run(std::string("ip link add ") + kNear + " type veth peer name " + kFar) &&
         Run(std::string("ip link set ") + kNear + " up") &&
         Run(std::string("ip link set ") + kFar + " up");
}

std::vector<uint8_t> Mac(const char* ifname) {
  UniqueFd s(socket(AF_UNIX, SOCK_DGRAM, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0) return {};
  return std::vector<uint8_t>(ifr.ifr_hwaddr.sa_data, ifr.ifr_hwaddr.sa_data + 6);
}

// "promiscuity N" from `ip -d link show`: IFF_PROMISC set by packet sockets
// is not visible through SIOCGIFFLAGS, and /sys shows another namespace.
int Promiscuity(const char* ifname) {
  FILE* p = popen((std::string("ip -d link show dev ") + ifname).c_str(), "r");
  if (p == nullptr) return -1;
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  size_t at = out.find("promiscuity ");
  return at == std::string::npos ? -1 : std::atoi(out.c_str() + at + 12);
}

// Packet sockets of this process bound to ifname, from /proc/net/packet
// (its Iface column is the ifindex; Inode matches a socket:[inode] fd).
int OwnPacketSocketsOn(const char* ifname) {
  const unsigned ifindex = if_nametoindex(ifname);
  std::vector<unsigned long> inodes;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      char target[64] = {};
      std::string path = std::string("/proc/self/fd/") + e->d_name;
      unsigned long inode = 0;
      if (readlink(path.c_str(), target, sizeof target - 1) > 0 &&
          std::sscanf(target, "socket:[%lu]", &inode) == 1)
        inodes.push_back(inode);
    }
    closedir(d);
  }
  FILE* f = std::fopen("/proc/net/packet", "r");
  if (f == nullptr) return -1;
  char line[512];
  int n = 0;
  (void)!std::fgets(line, sizeof line, f);  // header
  while (std::fgets(line, sizeof line, f)) {
    // sk RefCnt Type Proto Iface R Rmem User Inode
    char sk[32];
    unsigned refcnt, type, proto, iface, r, user;
    unsigned long rmem, inode;
    if (std::sscanf(line, "%31s %u %u %x %u %u %lu %u %lu", sk, &refcnt, &type, &proto, &iface, &r,
                    &rmem, &user, &inode) != 9)
      continue;
    if (iface == ifindex && std::count(inodes.begin(), inodes.end(), inode) != 0) ++n;
  }
  std::fclose(f);
  return n;
}

// A raw packet socket bound to one interface.
class RawSocket {
 public:
  explicit RawSocket(const char* ifname) : fd_(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))) {
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0) << strerror(errno);
  }
  void Send(const std::vector<uint8_t>& frame) {
    ASSERT_EQ(send(fd_.get(), frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()))
        << strerror(errno);
  }
  // The next frame carrying kMarker, or empty after timeout_ms.
  std::vector<uint8_t> ReceiveMarked(int timeout_ms) {
    int64_t deadline = absl::GetCurrentTimeNanos() / 1'000'000 + timeout_ms;
    std::vector<uint8_t> buf(65536);
    for (;;) {
      int left = static_cast<int>(deadline - absl::GetCurrentTimeNanos() / 1'000'000);
      pollfd p{fd_.get(), POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) return {};
      ssize_t n = recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n >= static_cast<ssize_t>(ETH_HLEN + sizeof kMarker) &&
          std::memcmp(buf.data() + ETH_HLEN, kMarker, sizeof kMarker) == 0)
        return std::vector<uint8_t>(buf.begin(), buf.begin() + n);
    }
  }

 private:
  UniqueFd fd_;
};

// dst, src, [802.1Q tag], kTestEthertype, marker, index, filler up to size.
std::vector<uint8_t> TestFrame(const std::vector<uint8_t>& dst, const std::vector<uint8_t>& src,
                               uint32_t index, size_t size, int vlan_tci = -1) {
  std::vector<uint8_t> f(dst);
  f.insert(f.end(), src.begin(), src.end());
  if (vlan_tci >= 0) {
    const vlan_tag tag{htons(ETH_P_8021Q), htons(static_cast<uint16_t>(vlan_tci))};
    const uint8_t* t = reinterpret_cast<const uint8_t*>(&tag);
    f.insert(f.end(), t, t + sizeof tag);
  }
  f.insert(f.end(), {uint8_t(kTestEthertype >> 8), uint8_t(kTestEthertype & 0xff)});
  f.insert(f.end(), kMarker, kMarker + sizeof kMarker);
  for (int i = 3; i >= 0; --i) f.push_back(static_cast<uint8_t>(index >> (8 * i)));
  while (f.size() < size) f.push_back(static_cast<uint8_t>(f.size() * 7 + index));
  return f;
}

// What a sink saw of one test frame (a copy: the ring slot is gone afterwards).
struct Captured {
  std::vector<uint8_t> bytes;
  uint32_t len;
  uint64_t ts_ns;
  PacketDirection direction;
  LinkLayerInfo link;
  std::vector<uint8_t> sll2;
};

bool IsTestFrame(const uint8_t* d, uint32_t caplen) {
  uint32_t at = 2 * ETH_ALEN;  // the ethertype, or an 802.1Q tag's TPID
  if (caplen >= at + VLAN_TAG_LEN && Get16(d + at) == ETH_P_8021Q) at += VLAN_TAG_LEN;
  return caplen >= at + 2 + sizeof kMarker && Get16(d + at) == kTestEthertype &&
         std::memcmp(d + at + 2, kMarker, sizeof kMarker) == 0;
}

// The SLL2 header at the start of a record.
sll2_header Sll2Header(const std::vector<uint8_t>& record) {
  sll2_header h{};
  if (record.size() >= sizeof h) std::memcpy(&h, record.data(), sizeof h);
  return h;
}

class Collector {
 public:
  PacketSink sink() {
    return [this](absl::Span<const Packet> batch) {
      {
        absl::MutexLock lock(&mu_);
        ++batches_;
        mu_.Await(absl::Condition(
            +[](bool* open) { return *open; }, &open_));
        for (const Packet& p : batch) {
          if (!IsTestFrame(p.data, p.caplen)) continue;
          Captured c{std::vector<uint8_t>(p.data, p.data + p.caplen),
                     p.len,
                     p.ts_ns,
                     p.direction,
                     p.link ? *p.link : LinkLayerInfo{},
                     {}};
          uint32_t len, caplen;
          if (BuildSll2Record(p, &c.sll2, &len, &caplen)) {
            EXPECT_EQ(caplen, c.sll2.size());
          }
          got_.push_back(std::move(c));
        }
      }
    };
  }
  // Waits until n test frames arrived (or `limit`) and returns what is there.
  std::vector<Captured> WaitFor(size_t n, absl::Duration limit = absl::Seconds(5)) {
    absl::MutexLock lock(&mu_);
    want_ = n;
    mu_.AwaitWithTimeout(absl::Condition(this, &Collector::Enough), limit);
    return got_;
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  size_t batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

 private:
  bool Enough() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return got_.size() >= want_; }

  absl::Mutex mu_;
  std::vector<Captured> got_;
  bool open_ = true;
  size_t batches_ = 0;
  size_t want_ = 0;
};

class AfpacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NetnsEnvironment::ready()) GTEST_SKIP() << "needs root (creates a network namespace)";
    if (if_nametoindex(kNear) == 0) {
      ASSERT_TRUE(MakeVethPair());
    }
    near_mac_ = Mac(kNear);
    far_mac_ = Mac(kFar);
    ASSERT_EQ(near_mac_.size(), 6u);
  }

  std::unique_ptr<AfpacketBackend> NewBackend(TpacketV3Geometry ring = {},
                                              uint32_t retire_timeout_ms = 5,
                                              uint64_t max_ring_bytes = 128ull << 20,
                                              bool busy_poll = false) {
    DeviceInfo info;
    info.name = "mydev1";
    AfpacketOptions o;
    o.interface = kNear;
    o.ring = ring;
    o.ring.retire_timeout_ms = retire_timeout_ms;
    o.max_ring_bytes = max_ring_bytes;
    o.busy_poll = busy_poll;
    o.recheck = absl::Milliseconds(100);
    absl::StatusOr<std::unique_ptr<AfpacketBackend>> b = AfpacketBackend::Create(info, o);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : nullptr;
  }

  std::vector<uint8_t> near_mac_, far_mac_;
};

TEST_F(AfpacketTest, DeliversFramesAsSentWithLengthsTimesAndDirection) {
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->info().backend, "afpacket");
  EXPECT_EQ(b->info().dlts, (std::vector<int>{DLT_EN10MB, DLT_LINUX_SLL2}));
  EXPECT_TRUE(b->info().can_inject);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  RawSocket far(kFar);
  const size_t sizes[] = {60, 61, 128, 600, 1000, 1514};
  std::vector<std::vector<uint8_t>> sent;
  const uint64_t before = absl::GetCurrentTimeNanos();
  for (uint32_t i = 0; i < 24; ++i) {
    sent.push_back(TestFrame(near_mac_, far_mac_, i, sizes[i % 6]));
    far.Send(sent.back());
  }
  std::vector<Captured> got = c.WaitFor(sent.size());
  const uint64_t after = absl::GetCurrentTimeNanos();
  b->Stop();
  ASSERT_EQ(got.size(), sent.size());
  const uint32_t ifindex = if_nametoindex(kNear);
  for (size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got[i].bytes, sent[i]);
    EXPECT_EQ(got[i].len, sent[i].size());
    EXPECT_EQ(got[i].direction, PacketDirection::kIn);
    EXPECT_GE(got[i].ts_ns, before);
    EXPECT_LE(got[i].ts_ns, after);
    if (i > 0) {
      EXPECT_GE(got[i].ts_ns, got[i - 1].ts_ns);
    }
    EXPECT_EQ(got[i].link.protocol, kTestEthertype);
    EXPECT_EQ(got[i].link.ifindex, ifindex);
    EXPECT_EQ(got[i].link.pkttype, PACKET_HOST);
    EXPECT_EQ(got[i].link.halen, ETH_ALEN);
    EXPECT_EQ(std::vector<uint8_t>(got[i].link.addr, got[i].link.addr + ETH_ALEN), far_mac_);
    EXPECT_EQ(got[i].link.payload_offset, uint32_t{ETH_HLEN});
  }
}

TEST_F(AfpacketTest, OutgoingFramesAreCapturedAsOut) {
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  RawSocket near(kNear);  // another socket sending out of the captured interface
  std::vector<uint8_t> frame = TestFrame(far_mac_, near_mac_, 7, 100);
  near.Send(frame);
  std::vector<Captured> got = c.WaitFor(1);
  b->Stop();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, frame);
  EXPECT_EQ(got[0].direction, PacketDirection::kOut);
  EXPECT_EQ(got[0].link.pkttype, PACKET_OUTGOING);
}

TEST_F(AfpacketTest, VlanTagIsPutBack) {
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  RawSocket far(kFar);
  const int tci = (5 << 13) | 100;  // priority 5, VLAN 100
  std::vector<uint8_t> frame = TestFrame(near_mac_, far_mac_, 1, 200, tci);
  far.Send(frame);
  std::vector<Captured> got = c.WaitFor(1);
  b->Stop();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, frame);  // the kernel stripped the tag; it is back
  EXPECT_EQ(got[0].len, frame.size());
  const size_t network = ETH_HLEN + VLAN_TAG_LEN;  // where the network layer starts
  EXPECT_EQ(got[0].link.payload_offset, network);
  // SLL2: the network layer (after the tag) behind the SLL2 header.
  ASSERT_EQ(got[0].sll2.size(), SLL2_HDR_LEN + frame.size() - network);
  EXPECT_EQ(ntohs(Sll2Header(got[0].sll2).sll2_protocol), kTestEthertype);
  EXPECT_EQ(std::memcmp(got[0].sll2.data() + SLL2_HDR_LEN, frame.data() + network,
                        frame.size() - network),
            0);
}

// Reads every record in a session's ring.
std::vector<std::vector<uint8_t>> DrainRing(Session& s, std::vector<uint32_t>* lens = nullptr) {
  absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(s.ring_fd(), s.ctl_fd());
  EXPECT_TRUE(ring.ok()) << ring.status();
  std::vector<std::vector<uint8_t>> out;
  if (!ring.ok()) return out;
  while (const mydev_ring_record* r = mydev_ring_next(ring->view())) {
    const uint8_t* d = mydev_ring_record_data(r);
    out.emplace_back(d, d + r->caplen);
    if (lens) lens->push_back(r->len);
  }
  mydev_ring_release(ring->view());
  return out;
}

std::shared_ptr<Session> NewSession(uint64_t id, bool promisc, int dlt = DLT_EN10MB) {
  SessionParams p;
  p.device = "mydev1";
  p.ring_bytes = 1 << 20;
  p.promisc = promisc;
  p.dlt = dlt;
  absl::StatusOr<std::shared_ptr<Session>> s = Session::Create(id, Credentials{0, 0, 1}, p);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

template <typename F>
bool Eventually(F f, absl::Duration limit = absl::Seconds(5)) {
  absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (f()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return f();
}

TEST_F(AfpacketTest, SessionInSll2GetsCookedRecords) {
  DeviceFanout dev(NewBackend(), absl::Milliseconds(5));
  ASSERT_TRUE(dev.Start().ok());
  auto eth = NewSession(1, false);
  auto sll2 = NewSession(2, false, DLT_LINUX_SLL2);
  ASSERT_TRUE(dev.AddSession(eth).ok());
  ASSERT_TRUE(dev.AddSession(sll2).ok());
  RawSocket far(kFar);
  std::vector<uint8_t> frame = TestFrame(near_mac_, far_mac_, 3, 90);
  far.Send(frame);
  std::vector<std::vector<uint8_t>> eth_got, sll2_got;
  std::vector<uint32_t> sll2_lens;
  ASSERT_TRUE(Eventually([&] {
    for (auto& r : DrainRing(*eth)) {
      if (IsTestFrame(r.data(), r.size())) eth_got.push_back(r);
    }
    std::vector<uint32_t> lens;
    auto recs = DrainRing(*sll2, &lens);
    for (size_t i = 0; i < recs.size(); ++i)
      if (recs[i].size() >= SLL2_HDR_LEN + sizeof kMarker &&
          std::memcmp(recs[i].data() + SLL2_HDR_LEN, kMarker, sizeof kMarker) == 0) {
        sll2_got.push_back(recs[i]);
        sll2_lens.push_back(lens[i]);
      }
    return !eth_got.empty() && !sll2_got.empty();
  }));
  dev.Stop();
  EXPECT_EQ(eth_got[0], frame);
  const std::vector<uint8_t>& r = sll2_got[0];
  ASSERT_EQ(r.size(), SLL2_HDR_LEN + frame.size() - ETH_HLEN);
  EXPECT_EQ(sll2_lens[0], r.size());
  const uint32_t ifindex = if_nametoindex(kNear);
  const sll2_header h = Sll2Header(r);
  EXPECT_EQ(ntohs(h.sll2_protocol), kTestEthertype);
  EXPECT_EQ(ntohs(h.sll2_reserved_mbz), 0);
  EXPECT_EQ(ntohl(h.sll2_if_index), ifindex);
  EXPECT_EQ(ntohs(h.sll2_hatype), ARPHRD_ETHER);
  EXPECT_EQ(h.sll2_pkttype, PACKET_HOST);
  EXPECT_EQ(h.sll2_halen, ETH_ALEN);
  EXPECT_EQ(std::vector<uint8_t>(h.sll2_addr, h.sll2_addr + ETH_ALEN), far_mac_);
  EXPECT_EQ(std::vector<uint8_t>(r.begin() + SLL2_HDR_LEN, r.end()),
            std::vector<uint8_t>(frame.begin() + ETH_HLEN, frame.end()));
}

TEST_F(AfpacketTest, KernelDropsAreCountedAsIfdrop) {
  TpacketV3Geometry small;
  small.block_bytes = 64 << 10;
  small.block_count = 2;
  auto b = NewBackend(small);
  ASSERT_NE(b, nullptr);
  Collector c;
  c.Hold();  // the first batch blocks the backend: the kernel ring fills up
  ASSERT_TRUE(b->Start(c.sink()).ok());
  RawSocket far(kFar);
  constexpr uint32_t kSent = 400;  // 400 KB against a 128 KB ring
  for (uint32_t i = 0; i < kSent; ++i) far.Send(TestFrame(near_mac_, far_mac_, i, 1000));
  ASSERT_TRUE(Eventually([&] { return c.batches() > 0; }));
  c.Release();
  ASSERT_TRUE(Eventually([&] { return b->ifdropped() > 0; }));
  // Every frame is either delivered (once the last block retires) or dropped.
  EXPECT_TRUE(Eventually([&] { return c.WaitFor(0).size() + b->ifdropped() >= kSent; }));
  size_t received = c.WaitFor(0).size();
  b->Stop();
  EXPECT_LT(received, kSent);
  EXPECT_EQ(received + b->ifdropped(), kSent);
}

// The index TestFrame wrote into a captured test frame.
uint32_t IndexOf(const Captured& c) {
  const size_t at = c.bytes.size() >= 2 * ETH_ALEN + 2 + sizeof kMarker + 4
                        ? 2 * ETH_ALEN + 2 + sizeof kMarker
                        : 0;
  uint32_t v = 0;
  for (size_t i = 0; i < 4 && at != 0; ++i) v = v << 8 | c.bytes[at + i];
  return v;
}

TEST_F(AfpacketTest, ImmediateModeDeliversEachFrameWithoutWaitingForTheBlock) {
  // Blocks retire after 3 s: a frame seen within a second came per frame.
  auto b = NewBackend({}, /*retire_timeout_ms=*/3000);
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  RawSocket far(kFar);
  // Sent while blocks are read: it sits in the block the kernel is filling,
  // and comes out at the switch (not 3 s later when the block retires).
  far.Send(TestFrame(near_mac_, far_mac_, 0, 100));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(c.WaitFor(0).size(), 0u) << "blocks: the frame waits in the open block";
  ASSERT_TRUE(b->SetImmediate(true).ok());
  b->AwaitImmediate(absl::Seconds(5));
  EXPECT_EQ(c.WaitFor(0).size(), 1u) << "switched: the open block was delivered first";
  std::vector<Captured> got = c.WaitFor(1, absl::Seconds(1));
  ASSERT_EQ(got.size(), 1u) << "the frame in the open block came out at the switch";
  for (uint32_t i = 1; i <= 5; ++i) {
    far.Send(TestFrame(near_mac_, far_mac_, i, 100 + i));
    got = c.WaitFor(i + 1, absl::Seconds(1));
    ASSERT_EQ(got.size(), i + 1) << "frame " << i << " came within a second, not with its block";
    absl::SleepFor(absl::Milliseconds(20));
  }
  for (uint32_t i = 0; i <= 5; ++i) EXPECT_EQ(IndexOf(got[i]), i);
  // Back to blocks: a frame now waits for its block to retire (3 s).
  ASSERT_TRUE(b->SetImmediate(false).ok());
  absl::SleepFor(absl::Milliseconds(200));  // the switch back
  far.Send(TestFrame(near_mac_, far_mac_, 6, 100));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(c.WaitFor(0).size(), 6u) << "batched again: the frame waits for its block";
  got = c.WaitFor(7);
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(IndexOf(got[6]), 6u);
  b->Stop();
  EXPECT_EQ(b->ifdropped(), 0u);
}

// Threads of this process at SCHED_IDLE (the busy poller), from /proc.
int IdlePolicyThreads() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int tid = std::atoi(e->d_name);
    if (sched_getscheduler(tid) == SCHED_IDLE) ++n;
  }
  closedir(d);
  return n;
}

TEST_F(AfpacketTest, BusyPollerDeliversEachFrameAndRunsOnlyWhileFramesAreWanted) {
  auto b = NewBackend({}, /*retire_timeout_ms=*/3000, 128ull << 20, /*busy_poll=*/true);
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  EXPECT_FALSE(b->busy_polling()) << "blocks: no poller";
  EXPECT_EQ(IdlePolicyThreads(), 0);
  ASSERT_TRUE(b->SetImmediate(true).ok());
  b->AwaitImmediate(absl::Seconds(5));
  ASSERT_TRUE(Eventually([&] { return b->busy_polling(); })) << "frames wanted: the poller runs";
  // (A poller that gave way to a busy machine starts again 1 s later.)
  EXPECT_TRUE(Eventually([] { return IdlePolicyThreads() == 1; })) << "one poller, at SCHED_IDLE";
  RawSocket far(kFar);
  std::vector<Captured> got;
  for (uint32_t i = 0; i < 20; ++i) {
    far.Send(TestFrame(near_mac_, far_mac_, i, 60 + i));
    got = c.WaitFor(i + 1, absl::Seconds(1));
    ASSERT_EQ(got.size(), i + 1) << "frame " << i << " came within a second, not with its block";
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (uint32_t i = 0; i < 20; ++i) EXPECT_EQ(IndexOf(got[i]), i);
  ASSERT_TRUE(b->SetImmediate(false).ok());
  EXPECT_TRUE(Eventually([&] { return !b->busy_polling(); })) << "blocks again: the poller ended";
  EXPECT_EQ(IdlePolicyThreads(), 0);
  b->Stop();
  EXPECT_EQ(b->ifdropped(), 0u);
}

// A poller kept off the CPU (every CPU busy with threads of normal priority)
// gives way: the backend thread delivers again, nothing is lost or reordered.
TEST_F(AfpacketTest, StarvedBusyPollerGivesWayAndNothingIsLost) {
  auto b = NewBackend({}, /*retire_timeout_ms=*/3000, 128ull << 20, /*busy_poll=*/true);
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  ASSERT_TRUE(b->SetImmediate(true).ok());
  b->AwaitImmediate(absl::Seconds(5));
  ASSERT_TRUE(Eventually([&] { return b->busy_polling(); }));
  std::atomic<bool> hogging{true};
  std::vector<std::thread> hogs;
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < 2 * cpus; ++i)
    hogs.emplace_back([&] {
      while (hogging.load(std::memory_order_relaxed)) {
      }
    });
  RawSocket far(kFar);
  constexpr uint32_t kSent = 40;
  for (uint32_t i = 0; i < kSent; ++i) {  // ~400 ms, while the hogs run
    far.Send(TestFrame(near_mac_, far_mac_, i, 60 + i));
    absl::SleepFor(absl::Milliseconds(10));
  }
  hogging = false;
  for (std::thread& t : hogs) t.join();
  std::vector<Captured> got = c.WaitFor(kSent);
  ASSERT_EQ(got.size(), kSent);
  for (uint32_t i = 0; i < kSent; ++i) ASSERT_EQ(IndexOf(got[i]), i) << "in the order sent";
  EXPECT_TRUE(Eventually([&] { return b->busy_poll_give_ways() >= 1; }))
      << "the starved poller gave way";
  // After the give-way the backend thread delivers each frame itself.
  far.Send(TestFrame(near_mac_, far_mac_, kSent, 100));
  EXPECT_EQ(c.WaitFor(kSent + 1, absl::Seconds(1)).size(), kSent + 1);
  b->Stop();
  EXPECT_FALSE(b->busy_polling());
  EXPECT_EQ(b->ifdropped(), 0u);
}

class SwitchingTest : public AfpacketTest, public ::testing::WithParamInterface<bool> {};

TEST_P(SwitchingTest, SwitchingBetweenBlocksAndFramesLosesDuplicatesAndReordersNothing) {
  auto b = NewBackend({}, /*retire_timeout_ms=*/50, 128ull << 20, /*busy_poll=*/GetParam());
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  constexpr uint32_t kSent = 3000;
  std::atomic<bool> sending{true};
  std::thread sender([&] {
    RawSocket far(kFar);
    for (uint32_t i = 0; i < kSent; ++i) {
      far.Send(TestFrame(near_mac_, far_mac_, i, 60 + i % 200));
      if (i % 4 == 3) absl::SleepFor(absl::Microseconds(400));  // ~1.5 s in all
    }
    sending = false;
  });
  int switches = 0;
  for (bool on = true; sending || switches < 10; on = !on, ++switches) {
    ASSERT_TRUE(b->SetImmediate(on).ok());
    absl::SleepFor(absl::Milliseconds(15 + switches % 4 * 10));
  }
  sender.join();
  ASSERT_TRUE(b->SetImmediate(false).ok());
  std::vector<Captured> got = c.WaitFor(kSent);
  absl::SleepFor(absl::Milliseconds(200));  // anything delivered twice arrives too
  got = c.WaitFor(kSent);
  b->Stop();
  EXPECT_GE(switches, 10);
  EXPECT_EQ(b->ifdropped(), 0u);
  ASSERT_EQ(got.size(), kSent) << "each frame exactly once";
  for (uint32_t i = 0; i < kSent; ++i) ASSERT_EQ(IndexOf(got[i]), i) << "in the order sent";
}

INSTANTIATE_TEST_SUITE_P(BusyPoll, SwitchingTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "BusyPoller" : "BackendThread";
                         });

// The kernel ring grows to what sessions ask for (SetRingBytesHint), up to
// max_ring_bytes, by swapping in a bigger ring while frames arrive: each
// frame exactly once, in order; promiscuous mode stays on across the swap.
TEST_F(AfpacketTest, GrowingTheKernelRingLosesDuplicatesAndReordersNothing) {
  TpacketV3Geometry g;
  g.block_bytes = 1 << 16;
  g.block_count = 4;
  std::unique_ptr<AfpacketBackend> b = NewBackend(g, 20, 1 << 20);  // 16 blocks at most
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->SetPromiscuous(true).ok());
  const int promisc_before = Promiscuity(kNear);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  EXPECT_EQ(b->ring_blocks(), 4u);
  constexpr uint32_t kSent = 3000;
  std::atomic<bool> sending{true};
  std::thread sender([&] {
    RawSocket far(kFar);
    for (uint32_t i = 0; i < kSent; ++i) {
      far.Send(TestFrame(near_mac_, far_mac_, i, 60 + i % 200));
      if (i % 4 == 3) absl::SleepFor(absl::Microseconds(400));  // ~1.5 s in all
    }
    sending = false;
  });
  absl::SleepFor(absl::Milliseconds(200));
  b->SetRingBytesHint(3 << 17);  // 384 KiB: 6 blocks
  EXPECT_TRUE(Eventually([&] { return b->ring_blocks() == 6; }));
  absl::SleepFor(absl::Milliseconds(200));
  b->SetRingBytesHint(1 << 18);   // smaller: no change
  b->SetRingBytesHint(64 << 20);  // beyond max_ring_bytes: 16 blocks
  EXPECT_TRUE(Eventually([&] { return b->ring_blocks() == 16; }));
  EXPECT_EQ(Promiscuity(kNear), promisc_before) << "the new socket holds promiscuous mode";
  sender.join();
  std::vector<Captured> got = c.WaitFor(kSent);
  absl::SleepFor(absl::Milliseconds(200));  // anything delivered twice arrives too
  got = c.WaitFor(kSent);
  b->Stop();
  EXPECT_EQ(b->ring_blocks(), 16u);
  EXPECT_EQ(b->ifdropped(), 0u);
  ASSERT_EQ(got.size(), kSent) << "each frame exactly once";
  for (uint32_t i = 0; i < kSent; ++i) ASSERT_EQ(IndexOf(got[i]), i) << "in the order sent";
}

TEST_F(AfpacketTest, PromiscuousModeIsReferenceCounted) {
  DeviceFanout dev(NewBackend(), absl::Milliseconds(5));
  ASSERT_TRUE(dev.Start().ok());
  ASSERT_EQ(Promiscuity(kNear), 0);
  ASSERT_TRUE(dev.AddSession(NewSession(1, false)).ok());
  EXPECT_EQ(Promiscuity(kNear), 0);
  ASSERT_TRUE(dev.AddSession(NewSession(2, true)).ok());
  EXPECT_EQ(Promiscuity(kNear), 1);
  ASSERT_TRUE(dev.AddSession(NewSession(3, true)).ok());
  EXPECT_EQ(Promiscuity(kNear), 1);
  dev.RemoveSession(2);
  EXPECT_EQ(Promiscuity(kNear), 1);
  dev.RemoveSession(1);
  EXPECT_EQ(Promiscuity(kNear), 1);
  dev.RemoveSession(3);
  EXPECT_EQ(Promiscuity(kNear), 0);
  ASSERT_TRUE(dev.AddSession(NewSession(4, true)).ok());
  EXPECT_EQ(Promiscuity(kNear), 1);
  dev.Stop();
}

uint32_t CloseReason(Session& s) {
  absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(s.ring_fd(), s.ctl_fd());
  if (!ring.ok() || !mydev_ring_closed(ring->view())) return 0;
  return ring->header()->close_reason;
}

// Goes away (down, or deleted) and comes back; the device serves again.
void GoneAndBack(DeviceFanout& dev, const std::string& away, const std::string& back, uint64_t id) {
  auto s = NewSession(id, true);
  ASSERT_TRUE(dev.AddSession(s).ok());
  ASSERT_TRUE(Run(away)) << away;
  EXPECT_TRUE(Eventually([&] { return CloseReason(*s) == MYDEV_RING_CLOSE_DEVICE_GONE; }));
  EXPECT_TRUE(absl::IsUnavailable(dev.backend().Health())) << dev.backend().Health();
  absl::Status refused = dev.AddSession(NewSession(id + 1, false));
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_FALSE(dev.backend().Inject(std::vector<uint8_t>(60)).ok());
  ASSERT_TRUE(Run(back)) << back;
  ASSERT_TRUE(Eventually([&] { return dev.backend().Health().ok(); }));
  auto again = NewSession(id + 2, false);
  ASSERT_TRUE(dev.AddSession(again).ok());
  EXPECT_EQ(Promiscuity(kNear), 0);  // the gone session's wish went with it
  RawSocket far(kFar);
  std::vector<uint8_t> frame = TestFrame(Mac(kNear), Mac(kFar), 9, 64);
  bool seen = false;
  EXPECT_TRUE(Eventually([&] {
    for (auto& r : DrainRing(*again)) seen |= r == frame;
    if (!seen) far.Send(frame);
    return seen;
  }));
  dev.RemoveSession(s->id());  // the client closing late changes nothing
  EXPECT_EQ(Promiscuity(kNear), 0);
}

TEST_F(AfpacketTest, InterfaceDownThenUpAndDeletedThenRecreated) {
  DeviceFanout dev(NewBackend(), absl::Milliseconds(5));
  ASSERT_TRUE(dev.Start().ok());
  GoneAndBack(dev, std::string("ip link set ") + kNear + " down",
              std::string("ip link set ") + kNear + " up", 10);
  GoneAndBack(dev, std::string("ip link del ") + kNear,
              std::string("ip link add ") + kNear + " type veth peer name " + kFar +
                  " && ip link set " + kNear + " up && ip link set " + kFar + " up",
              20);
  dev.Stop();
}

TEST_F(AfpacketTest, InjectedFrameArrivesAtTheFarEnd) {
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  RawSocket far(kFar);
  std::vector<uint8_t> frame = TestFrame(far_mac_, near_mac_, 42, 333);
  absl::StatusOr<uint32_t> sent = b->Inject(frame);
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, frame.size());
  EXPECT_EQ(far.ReceiveMarked(2000), frame);
  b->Stop();
}

TEST_F(AfpacketTest, BadInterfaceNameIsAClearError) {
  DeviceInfo info;
  info.name = "mydev9";
  AfpacketOptions o;
  o.interface = "averyveryverylongifname";  // >= IFNAMSIZ
  absl::StatusOr<std::unique_ptr<AfpacketBackend>> b = AfpacketBackend::Create(info, o);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(b.status())) << b.status();
  EXPECT_NE(b.status().message().find("averyveryverylongifname"), std::string::npos);
}

// Missing at creation: the device exists, starts gone and refuses sessions
// with the same UNAVAILABLE as when its interface vanishes; the interface
// appearing down keeps it gone; up, it serves.
TEST_F(AfpacketTest, MissingInterfaceStartsGoneAndServesWhenItAppears) {
  constexpr char kLate[] = "late0", kLateFar[] = "late1";
  Shell(std::string("ip link del ") + kLate);
  DeviceInfo info;
  info.name = "mydev9";
  AfpacketOptions o;
  o.interface = kLate;
  o.ring.retire_timeout_ms = 5;
  o.recheck = absl::Milliseconds(50);
  absl::StatusOr<std::unique_ptr<AfpacketBackend>> b = AfpacketBackend::Create(info, o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->info().backend, "afpacket");
  EXPECT_EQ((*b)->info().dlts, (std::vector<int>{DLT_EN10MB, DLT_LINUX_SLL2}));
  EXPECT_EQ((*b)->info().pcap_flags & PCAP_IF_UP, 0u) << "not PCAP_IF_UP";
  const absl::Status health = (*b)->Health();
  EXPECT_TRUE(absl::IsUnavailable(health)) << health;
  EXPECT_EQ(health.message(),
            "interface late0 does not exist; the device serves again when late0 is present and up");
  DeviceFanout dev(std::move(*b), absl::Milliseconds(5));
  ASSERT_TRUE(dev.Start().ok());
  absl::Status refused = dev.AddSession(NewSession(1, false));
  EXPECT_EQ(refused, health);
  EXPECT_FALSE(dev.backend().Inject(std::vector<uint8_t>(60)).ok());

  ASSERT_TRUE(Shell(std::string("ip link add ") + kLate + " type veth peer name " + kLateFar +
                    " && ip link set " + kLateFar + " up"));
  absl::SleepFor(absl::Milliseconds(300));  // several rechecks: still down
  EXPECT_TRUE(absl::IsUnavailable(dev.backend().Health())) << dev.backend().Health();
  EXPECT_TRUE(absl::IsUnavailable(dev.AddSession(NewSession(2, false))));

  ASSERT_TRUE(Shell(std::string("ip link set ") + kLate + " up"));
  ASSERT_TRUE(Eventually([&] { return dev.backend().Health().ok(); }, absl::Seconds(2)));
  auto s = NewSession(3, false);
  ASSERT_TRUE(dev.AddSession(s).ok());
  RawSocket far(kLateFar);
  std::vector<uint8_t> frame = TestFrame(Mac(kLate), Mac(kLateFar), 5, 64);
  bool seen = false;
  EXPECT_TRUE(Eventually([&] {
    for (auto& r : DrainRing(*s)) seen |= r == frame;
    if (!seen) far.Send(frame);
    return seen;
  }));
  dev.Stop();
  Shell(std::string("ip link del ") + kLate);
}

// Present but down at creation: gone too, serving once it is up.
TEST_F(AfpacketTest, DownInterfaceStartsGoneAndServesWhenUp) {
  ASSERT_TRUE(Shell(std::string("ip link set ") + kNear + " down"));
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  const absl::Status health = b->Health();
  EXPECT_TRUE(absl::IsUnavailable(health)) << health;
  EXPECT_NE(health.message().find("veth0 is down"), std::string::npos) << health;
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  ASSERT_TRUE(Shell(std::string("ip link set ") + kNear + " up"));
  ASSERT_TRUE(Eventually([&] { return b->Health().ok(); }, absl::Seconds(2)));
  RawSocket far(kFar);
  std::vector<uint8_t> frame = TestFrame(near_mac_, far_mac_, 11, 80);
  EXPECT_TRUE(Eventually([&] {
    if (c.WaitFor(0).empty()) far.Send(frame);
    return !c.WaitFor(0).empty();
  }));
  b->Stop();
  std::vector<Captured> got = c.WaitFor(0);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].bytes, frame);
}

// A random frame from far to near: mostly IPv4 UDP/TCP/ICMP to and from a few
// addresses and ports, some 802.1Q-tagged (the kernel takes the tag out),
// other ethertypes, and short frames (14..59 bytes) that filters read past.
std::vector<uint8_t> RandomFrame(std::mt19937& rng, const std::vector<uint8_t>& dst,
                                 const std::vector<uint8_t>& src) {
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  auto put16 = [](std::vector<uint8_t>& f, uint32_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  };
  std::vector<uint8_t> f(dst);
  f.insert(f.end(), src.begin(), src.end());
  if (pick(8) == 0) {
    put16(f, ETH_P_8021Q);
    put16(f, pick(2) ? 100 : 1 + pick(4000));
  }
  static const uint32_t kPorts[] = {53, 80, 443, 9, 1234};
  if (pick(10) < 8) {
    put16(f, ETH_P_IP);
    const uint8_t proto = std::vector<uint8_t>{6, 17, 17, 1}[pick(4)];
    const uint8_t addrs[][4] = {{10, 0, 0, 1}, {10, 0, 0, 77}, {10, 0, 0, 2}};
    f.insert(f.end(), {0x45, 0, 0, 0, 0, 0, 0x40, 0, static_cast<uint8_t>(pick(2) ? 64 : pick(256)),
                       proto, 0, 0});
    for (int a = 0; a < 2; ++a) {
      const uint8_t* addr = addrs[pick(3)];
      f.insert(f.end(), addr, addr + 4);
    }
    put16(f, pick(4) ? kPorts[pick(5)] : pick(65536));
    put16(f, pick(4) ? kPorts[pick(5)] : pick(65536));
  } else {
    put16(f, kTestEthertype);
  }
  const size_t size = pick(8) == 0 ? ETH_HLEN + pick(46) : 60 + pick(940);
  while (f.size() < size) f.push_back(static_cast<uint8_t>(rng()));
  f.resize(size);
  return f;
}

// Every record in a session's ring, with its wire length.
std::vector<std::pair<std::vector<uint8_t>, uint32_t>> Records(Session& s) {
  std::vector<uint32_t> lens;
  std::vector<std::vector<uint8_t>> recs = DrainRing(s, &lens);
  std::vector<std::pair<std::vector<uint8_t>, uint32_t>> out;
  for (size_t i = 0; i < recs.size(); ++i) out.emplace_back(std::move(recs[i]), lens[i]);
  return out;
}

std::shared_ptr<Session> FilteredSession(DeviceFanout& dev, uint64_t id, const char* expr,
                                         uint32_t snaplen) {
  SessionParams p;
  p.device = "mydev1";
  p.ring_bytes = 4 << 20;
  p.snaplen = snaplen;
  absl::StatusOr<std::shared_ptr<Session>> s = Session::Create(id, Credentials{0, 0, 1}, p);
  EXPECT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(dev.AddSession(*s).ok());
  if (expr != nullptr) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    bpf_program prog;
    EXPECT_EQ(pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN), 0) << pcap_geterr(dead);
    absl::StatusOr<BpfProgram> b = BpfProgram::FromInsns(
        std::vector<bpf_insn>(prog.bf_insns, prog.bf_insns + prog.bf_len), 4096);
    pcap_freecode(&prog);
    pcap_close(dead);
    EXPECT_TRUE(b.ok()) << b.status();
    dev.SetSessionFilter(**s, *std::move(b));
  }
  return *s;
}

// Sessions with different filters and snaplens on one afpacket device: the
// kernel holds the union of their filters, and each session still gets
// exactly the frames its own filter selects from what was sent (VLAN-tagged
// ones with their tag, short ones that other filters read past), cut to its
// snaplen, with the wire length; the device saw fewer frames than were sent.
TEST_F(AfpacketTest, KernelPreFilterKeepsWhatEachSessionSelects) {
  DeviceFanout dev(NewBackend(), absl::Milliseconds(5));
  ASSERT_TRUE(dev.Start().ok());
  struct Want {
    const char* expr;
    uint32_t snaplen;
  };
  const std::vector<Want> wants = {{"udp port 53", 262144},
                                   {"tcp and dst port 80", 64},
                                   {"ip[8] = 64 and icmp", 96},
                                   {"vlan and udp", 1500},
                                   {"ether[100] = 7 or host 10.0.0.77 and port 9", 80},
                                   {"len > 900 and ip", 60}};
  std::vector<std::shared_ptr<Session>> sessions;
  for (size_t i = 0; i < wants.size(); ++i)
    sessions.push_back(FilteredSession(dev, i + 1, wants[i].expr, wants[i].snaplen));
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kUnion) << dev.kernel_filter().note;
  EXPECT_GT(dev.kernel_filter().insns, 20u);

  std::mt19937 rng(11);
  std::vector<std::vector<uint8_t>> sent;
  RawSocket far(kFar);
  for (int i = 0; i < 1500; ++i) {
    sent.push_back(RandomFrame(rng, near_mac_, far_mac_));
    far.Send(sent.back());
    if (i % 50 == 49) absl::SleepFor(absl::Milliseconds(2));
  }
  std::vector<std::vector<std::pair<std::vector<uint8_t>, uint32_t>>> want(wants.size()),
      got(wants.size());
  size_t wanted_by_some = 0;
  for (const auto& f : sent) {
    bool any = false;
    for (size_t i = 0; i < wants.size(); ++i) {
      const std::vector<bpf_insn> p = CompileFilter(wants[i].expr);
      const u_int n = static_cast<u_int>(f.size());
      if (bpf_filter(p.data(), f.data(), n, n) == 0) continue;
      any = true;
      const size_t keep = std::min<size_t>(f.size(), wants[i].snaplen);
      want[i].emplace_back(std::vector<uint8_t>(f.begin(), f.begin() + keep), f.size());
    }
    wanted_by_some += any;
  }
  EXPECT_TRUE(Eventually([&] {
    bool all = true;
    for (size_t i = 0; i < wants.size(); ++i) {
      for (auto& r : Records(*sessions[i])) got[i].push_back(std::move(r));
      all &= got[i].size() >= want[i].size();
    }
    return all;
  }));
  absl::SleepFor(absl::Milliseconds(50));  // anything extra arrives too
  for (size_t i = 0; i < wants.size(); ++i) {
    for (auto& r : Records(*sessions[i])) got[i].push_back(std::move(r));
    SCOPED_TRACE(wants[i].expr);
    EXPECT_GT(want[i].size(), 0u);
    ASSERT_EQ(got[i].size(), want[i].size());
    for (size_t j = 0; j < want[i].size(); ++j) {
      EXPECT_EQ(got[i][j].first, want[i][j].first) << "frame " << j;
      EXPECT_EQ(got[i][j].second, want[i][j].second) << "frame " << j << ": the wire length";
    }
  }
  const DeviceCounters c = dev.counters();
  EXPECT_EQ(c.packets_ifdropped, 0u);
  EXPECT_GE(c.packets_seen, wanted_by_some);
  EXPECT_LT(c.packets_seen, sent.size()) << "frames nobody wants stayed in the kernel";
  dev.Stop();
}

// With no session the kernel passes nothing to the device (item 5: an idle
// device costs nothing); a session opens the tap, its end closes it again.
TEST_F(AfpacketTest, IdleDeviceGetsNoPacketFromTheKernel) {
  DeviceFanout dev(NewBackend(), absl::Milliseconds(5));
  ASSERT_TRUE(dev.Start().ok());
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kRejectAll);
  EXPECT_EQ(OwnPacketSocketsOn(kNear), 0) << "no session: no packet socket";
  RawSocket far(kFar);
  for (uint32_t i = 0; i < 200; ++i) far.Send(TestFrame(near_mac_, far_mac_, i, 200));
  absl::SleepFor(absl::Milliseconds(100));  // blocks retire every 5 ms
  EXPECT_EQ(dev.counters().packets_seen, 0u);
  auto s = FilteredSession(dev, 1, nullptr, 262144);
  EXPECT_EQ(OwnPacketSocketsOn(kNear), 1) << "bound before AddSession returned";
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kAcceptAll);
  std::vector<uint8_t> frame = TestFrame(near_mac_, far_mac_, 500, 100);
  far.Send(frame);
  EXPECT_TRUE(Eventually([&] { return dev.counters().packets_seen >= 1; }));
  EXPECT_EQ(DrainRing(*s), std::vector<std::vector<uint8_t>>{frame});
  dev.RemoveSession(1);
  EXPECT_EQ(dev.kernel_filter().kind, KernelFilterKind::kRejectAll);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(OwnPacketSocketsOn(kNear), 0);
  const uint64_t seen = dev.counters().packets_seen;
  for (uint32_t i = 0; i < 200; ++i) far.Send(TestFrame(near_mac_, far_mac_, i, 200));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(dev.counters().packets_seen, seen);
  dev.Stop();
}

// Idle (SetActive(false)): no packet socket on the interface at all, so the
// kernel does nothing per packet for the device; health stays OK. Active
// again, the socket is bound when AwaitActive() returns: every frame sent
// after it arrives, also with the per-frame socket of immediate mode; the
// drops counted before closing stay counted.
TEST_F(AfpacketTest, InactiveBackendHasNoPacketSocket) {
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->socket_open()) << "Create() opens (validates) the socket";
  b->SetActive(false);  // before Start(): closed at once
  EXPECT_FALSE(b->socket_open());
  EXPECT_EQ(OwnPacketSocketsOn(kNear), 0);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  EXPECT_EQ(OwnPacketSocketsOn(kNear), 0);
  EXPECT_EQ(b->ring_blocks(), 0u);
  EXPECT_TRUE(b->Health().ok()) << b->Health();
  RawSocket far(kFar);
  for (uint32_t i = 0; i < 100; ++i) far.Send(TestFrame(near_mac_, far_mac_, i, 200));
  absl::SleepFor(absl::Milliseconds(150));  // past a recheck: the interface is still there
  EXPECT_TRUE(c.WaitFor(0).empty());
  EXPECT_TRUE(b->Health().ok()) << b->Health();

  for (int round = 0; round < 3; ++round) {
    const bool immediate = round == 2;
    ASSERT_TRUE(b->SetImmediate(immediate).ok());
    b->SetRingBytesHint(immediate ? 0 : (round + 9) * (1u << 20));  // 9, 10 blocks
    b->SetActive(true);
    b->AwaitActive(absl::Seconds(2));
    if (immediate) b->AwaitImmediate(absl::Seconds(2));
    EXPECT_TRUE(b->socket_open());
    EXPECT_EQ(OwnPacketSocketsOn(kNear), immediate ? 2 : 1) << round;
    EXPECT_EQ(b->ring_blocks(), 9u + (round == 0 ? 0 : 1)) << "grown from -B when reopened";
    const size_t before = c.WaitFor(0).size();
    for (uint32_t i = 0; i < 50; ++i) far.Send(TestFrame(near_mac_, far_mac_, 1000 + i, 100));
    std::vector<Captured> got = c.WaitFor(before + 50);
    ASSERT_EQ(got.size(), before + 50) << round;
    for (uint32_t i = 0; i < 50; ++i) EXPECT_EQ(IndexOf(got[before + i]), 1000 + i);
    b->SetActive(false);
    b->AwaitActive(absl::Seconds(2));
    EXPECT_FALSE(b->socket_open());
    EXPECT_EQ(OwnPacketSocketsOn(kNear), 0) << round;
    EXPECT_TRUE(b->Health().ok()) << b->Health();
    for (uint32_t i = 0; i < 50; ++i) far.Send(TestFrame(near_mac_, far_mac_, i, 100));
    absl::SleepFor(absl::Milliseconds(30));
    EXPECT_EQ(c.WaitFor(0).size(), before + 50) << round;
  }
  b->Stop();
}

// Idle, the interface going away still turns the device gone (the thread
// asks every recheck); back, the device is healthy without opening a socket.
TEST_F(AfpacketTest, InactiveBackendNoticesTheInterfaceGoingAndComing) {
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  std::atomic<int> gone{0};
  b->SetDeviceGoneHandler([&](const absl::Status&) { ++gone; });
  b->SetActive(false);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  ASSERT_TRUE(Shell(std::string("ip link set ") + kNear + " down"));
  EXPECT_TRUE(Eventually([&] { return absl::IsUnavailable(b->Health()); }));
  EXPECT_EQ(gone.load(), 1);
  ASSERT_TRUE(Shell(std::string("ip link set ") + kNear + " up"));
  EXPECT_TRUE(Eventually([&] { return b->Health().ok(); }));
  EXPECT_FALSE(b->socket_open());
  EXPECT_EQ(OwnPacketSocketsOn(kNear), 0);
  b->SetActive(true);
  b->AwaitActive(absl::Seconds(2));
  EXPECT_TRUE(b->socket_open());
  RawSocket far(kFar);
  far.Send(TestFrame(near_mac_, far_mac_, 7, 100));
  EXPECT_EQ(c.WaitFor(1).size(), 1u);
  b->Stop();
}

// The filter reaches the per-frame (immediate) socket too, including one
// opened after the filter was set.
TEST_F(AfpacketTest, ImmediateSocketHasTheKernelPreFilter) {
  DeviceFanout dev(NewBackend({}, /*retire_timeout_ms=*/3000), absl::Milliseconds(5));
  ASSERT_TRUE(dev.Start().ok());
  SessionParams p;
  p.device = "mydev1";
  p.ring_bytes = 1 << 20;
  p.immediate = true;
  absl::StatusOr<std::shared_ptr<Session>> s = Session::Create(1, Credentials{0, 0, 1}, p);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(dev.AddSession(*s).ok());
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  bpf_program prog;
  ASSERT_EQ(pcap_compile(dead, &prog, "ether[22:4] = 7", 1, PCAP_NETMASK_UNKNOWN), 0);
  absl::StatusOr<BpfProgram> b = BpfProgram::FromInsns(
      std::vector<bpf_insn>(prog.bf_insns, prog.bf_insns + prog.bf_len), 4096);
  pcap_freecode(&prog);
  pcap_close(dead);
  ASSERT_TRUE(b.ok());
  dev.SetSessionFilter(**s, *std::move(b));
  RawSocket far(kFar);
  // TestFrame puts the index at bytes 22..25.
  for (uint32_t i = 0; i < 10; ++i) far.Send(TestFrame(near_mac_, far_mac_, i, 100));
  std::vector<std::vector<uint8_t>> got;
  EXPECT_TRUE(Eventually(
      [&] {
        for (auto& r : DrainRing(**s)) got.push_back(r);
        return !got.empty();
      },
      absl::Seconds(2)));
  absl::SleepFor(absl::Milliseconds(100));
  for (auto& r : DrainRing(**s)) got.push_back(r);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], TestFrame(near_mac_, far_mac_, 7, 100));
  EXPECT_EQ(dev.counters().packets_seen, 1u) << "the other nine stayed in the kernel";
  dev.Stop();
}

// A program the kernel refuses (too long) leaves no filter at all: every
// frame passes, none is lost to the last program that was in place.
TEST_F(AfpacketTest, RefusedKernelFilterLetsEveryFramePass) {
  auto b = NewBackend();
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  const bpf_insn reject = BPF_STMT(BPF_RET | BPF_K, 0);
  ASSERT_TRUE(b->SetKernelFilter({reject}).ok());
  RawSocket far(kFar);
  far.Send(TestFrame(near_mac_, far_mac_, 0, 100));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(c.WaitFor(0).size(), 0u) << "ret #0: nothing passes";
  const std::vector<bpf_insn> too_long(BPF_MAXINSNS + 1, reject);
  const absl::Status refused = b->SetKernelFilter(too_long);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  far.Send(TestFrame(near_mac_, far_mac_, 1, 100));
  EXPECT_EQ(c.WaitFor(1).size(), 1u) << "refused: no filter, the frame passes";
  ASSERT_TRUE(b->SetKernelFilter({reject}).ok());
  ASSERT_TRUE(b->SetKernelFilter({}).ok()) << "empty: detached";
  far.Send(TestFrame(near_mac_, far_mac_, 2, 100));
  std::vector<Captured> got = c.WaitFor(2);
  b->Stop();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(IndexOf(got[1]), 2u);
}

// The kernel pre-filter and ring growth together: the grown ring's socket
// gets the filter in force when it takes over, in either order and also when
// the filter changes while the grow is under way (the thread is then handing
// the old ring's last block to the sink, without the lock). TestFrame's index
// (bytes 22..25) is what the filters look at: each phase must deliver exactly
// the frames its filter accepts, each once and in order, none it rejects.
TEST_F(AfpacketTest, KernelFilterFollowsTheGrownRingInEitherOrder) {
  TpacketV3Geometry g;
  g.block_bytes = 1 << 16;
  g.block_count = 4;
  // Long enough that a held frame is still in the open block when the grow
  // reads it (phase 3); phases wait at most this long for their last block.
  constexpr uint32_t kRetireMs = 200;
  std::unique_ptr<AfpacketBackend> b = NewBackend(g, kRetireMs, 1 << 20);  // 16 blocks at most
  ASSERT_NE(b, nullptr);
  Collector c;
  ASSERT_TRUE(b->Start(c.sink()).ok());
  // A failed assertion while the sink is held (phase 3) ends nothing stuck.
  absl::Cleanup stop = [&] {
    c.Release();
    b->Stop();
  };
  ASSERT_EQ(b->ring_blocks(), 4u);
  const std::vector<bpf_insn> even = CompileFilter("ether proto 0x88b5 and ether[25] & 1 = 0");
  const std::vector<bpf_insn> odd = CompileFilter("ether proto 0x88b5 and ether[25] & 1 = 1");
  ASSERT_FALSE(even.empty());
  ASSERT_FALSE(odd.empty());
  RawSocket far(kFar);
  std::vector<uint32_t> want;  // the indexes delivered so far, in order
  auto send = [&](uint32_t from, uint32_t to, bool (*accepted)(uint32_t)) {
    for (uint32_t i = from; i < to; ++i) {
      far.Send(TestFrame(near_mac_, far_mac_, i, 60 + i % 200));
      if (accepted(i)) want.push_back(i);
      if (i % 50 == 49) absl::SleepFor(absl::Milliseconds(2));
    }
  };
  auto all = +[](uint32_t) { return true; };
  auto evens = +[](uint32_t i) { return i % 2 == 0; };
  auto odds = +[](uint32_t i) { return i % 2 == 1; };
  // Exactly want so far: waits for it, then for anything extra (its block).
  auto check = [&](const char* phase) {
    SCOPED_TRACE(phase);
    c.WaitFor(want.size());
    absl::SleepFor(absl::Milliseconds(kRetireMs + 100));
    std::vector<uint32_t> got;
    for (const Captured& f : c.WaitFor(want.size())) got.push_back(IndexOf(f));
    ASSERT_EQ(got.size(), want.size()) << "each accepted frame once, no rejected one";
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "at " << i;
  };

  // 1. No filter; the grown socket's reject-all gives way to none, then the
  //    filter set afterwards applies to the new socket.
  send(0, 100, all);
  b->SetRingBytesHint(3 << 17);  // 384 KiB: 6 blocks
  ASSERT_TRUE(Eventually([&] { return b->ring_blocks() == 6; }));
  send(100, 200, all);
  ASSERT_NO_FATAL_FAILURE(check("grown without a filter"));
  ASSERT_TRUE(b->SetKernelFilter(even).ok());
  send(200, 400, evens);
  ASSERT_NO_FATAL_FAILURE(check("grown, then filtered"));

  // 2. Filtered, then grown while frames arrive: the new socket takes the
  //    filter before it takes packets.
  send(400, 600, evens);
  ASSERT_NO_FATAL_FAILURE(check("filtered, before the grow"));
  std::vector<uint32_t> during;
  std::thread sender([&] {
    RawSocket s(kFar);
    for (uint32_t i = 600; i < 1800; ++i) {
      s.Send(TestFrame(near_mac_, far_mac_, i, 60 + i % 200));
      if (i % 2 == 0) during.push_back(i);
      if (i % 4 == 3) absl::SleepFor(absl::Microseconds(400));
    }
  });
  absl::SleepFor(absl::Milliseconds(100));
  b->SetRingBytesHint(1 << 19);  // 512 KiB: 8 blocks
  EXPECT_TRUE(Eventually([&] { return b->ring_blocks() == 8; }));
  sender.join();
  want.insert(want.end(), during.begin(), during.end());
  send(1800, 2000, evens);
  ASSERT_NO_FATAL_FAILURE(check("filtered, grown under traffic and after"));

  // 3. The filter changes while the grow delivers the old ring's open block:
  //    the sink is held, so the thread waits there (between the new socket
  //    joining and the swap) while SetKernelFilter runs.
  const size_t batches = c.batches();
  c.Hold();
  send(2000, 2001, evens);        // into the open block
  b->SetRingBytesHint(10 << 16);  // 640 KiB: 10 blocks
  ASSERT_TRUE(Eventually([&] { return c.batches() > batches; }));
  ASSERT_TRUE(b->SetKernelFilter(odd).ok());
  c.Release();
  ASSERT_TRUE(Eventually([&] { return b->ring_blocks() == 10; }));
  send(2001, 2201, odds);
  ASSERT_NO_FATAL_FAILURE(check("filter changed during the grow"));

  std::move(stop).Invoke();
  EXPECT_EQ(b->ifdropped(), 0u);
}

}  // namespace
}  // namespace mydev::daemon
