// synthetic_backend_test.cc — the traffic generator: frame sizes, protocol
// and direction mix, sequence numbers, checksums (recomputed in full, also
// across sequence wraps of the template pool), in-place frame lifetime,
// determinism, pacing, count.
#include "daemon/backends/synthetic/synthetic_backend.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "daemon/testing/test_util.h"

namespace mydev::daemon {
namespace {

constexpr size_t kEth = sizeof(ether_header);

template <typename Header>
Header Get(const uint8_t* at) {
  Header h;
  std::memcpy(&h, at, sizeof h);
  return h;
}

uint16_t Sum(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (; n >= 2; p += 2, n -= 2) s += (p[0] << 8) | p[1];
  if (n) s += p[0] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// Checks the checksums of a frame by recomputing them in full, and that the
// IP lengths match the frame's size.
::testing::AssertionResult ChecksumsValid(const uint8_t* f, size_t size) {
  const uint16_t ethertype = ntohs(Get<ether_header>(f).ether_type);
  if (ethertype == ETHERTYPE_IP) {
    const uint8_t* l3 = f + kEth;
    const struct ip ip = Get<struct ip>(l3);
    if (Sum(l3, sizeof ip) != 0xffff)
      return ::testing::AssertionFailure() << "IPv4 header checksum";
    if (ntohs(ip.ip_len) + kEth != size) return ::testing::AssertionFailure() << "IPv4 length";
    // L4 checksum over pseudo-header (ICMP: none).
    const uint8_t proto = ip.ip_p;
    const uint8_t* l4 = l3 + sizeof ip;
    uint32_t l4_len = size - kEth - sizeof ip;
    uint32_t pseudo = 0;
    if (proto != IPPROTO_ICMP)
      pseudo = Sum(l3 + offsetof(struct ip, ip_src), 2 * sizeof(in_addr)) + proto + l4_len;
    if (Sum(l4, l4_len, pseudo) != 0xffff)
      return ::testing::AssertionFailure() << "IPv4 L4 checksum, proto " << int{proto};
    if (proto == IPPROTO_UDP && Get<udphdr>(l4).uh_sum == 0)
      return ::testing::AssertionFailure() << "UDP checksum 0 (= none)";
  } else if (ethertype == ETHERTYPE_IPV6) {
    const uint8_t* l3 = f + kEth;
    const ip6_hdr ip6 = Get<ip6_hdr>(l3);
    uint32_t l4_len = size - kEth - sizeof ip6;
    if (uint32_t{ntohs(ip6.ip6_plen)} != l4_len)
      return ::testing::AssertionFailure() << "IPv6 length";
    uint32_t pseudo =
        Sum(l3 + offsetof(ip6_hdr, ip6_src), 2 * sizeof(in6_addr)) + ip6.ip6_nxt + l4_len;
    if (Sum(l3 + sizeof ip6, l4_len, pseudo) != 0xffff)
      return ::testing::AssertionFailure() << "IPv6 L4 checksum, next header " << int{ip6.ip6_nxt};
  } else if (ethertype != ETHERTYPE_ARP || size != kSyntheticMinFrame) {
    return ::testing::AssertionFailure() << "not IPv4, IPv6 or a 60-byte ARP frame";
  }
  return ::testing::AssertionSuccess();
}

TEST(SyntheticFrameGeneratorTest, FramesAreWellFormed) {
  SyntheticFrameGenerator gen(1);
  std::map<SyntheticKind, int> kinds;
  int in = 0, out = 0;
  size_t min_size = 100000, max_size = 0;
  std::vector<uint8_t> f;
  for (uint64_t i = 0; i < 5000; ++i) {
    PacketDirection dir;
    SyntheticKind k = gen.Next(&f, &dir);
    ++kinds[k];
    min_size = std::min(min_size, f.size());
    max_size = std::max(max_size, f.size());
    ASSERT_GE(f.size(), kSyntheticMinFrame);
    ASSERT_LE(f.size(), kSyntheticMaxFrame);
    std::optional<uint64_t> seq = FindSequence(f.data(), f.size());
    ASSERT_TRUE(seq.has_value()) << "frame " << i;
    ASSERT_EQ(*seq, i);
    // Direction follows the device MAC.
    if (dir == PacketDirection::kOut) {
      ++out;
      EXPECT_EQ(std::memcmp(Get<ether_header>(f.data()).ether_shost, kDeviceMac, ETH_ALEN), 0);
    } else {
      ++in;
      EXPECT_EQ(std::memcmp(Get<ether_header>(f.data()).ether_dhost, kDeviceMac, ETH_ALEN), 0);
    }
    ASSERT_TRUE(ChecksumsValid(f.data(), f.size())) << "frame " << i;
  }
  EXPECT_EQ(kinds.size(), 7u);  // every kind appears
  for (const auto& [k, n] : kinds) EXPECT_GT(n, 100) << static_cast<int>(k);
  EXPECT_GT(in, 2000);
  EXPECT_GT(out, 2000);
  EXPECT_EQ(min_size, kSyntheticMinFrame);
  EXPECT_EQ(max_size, kSyntheticMaxFrame);
}

// Frame N is template N % pool with sequence N stamped in place, the
// checksums finished from precomputed sums: run a small pool past the 16-bit
// wrap of the IPv4 ID / ICMP sequence (the u64's low words both non-zero),
// recomputing every checksum in full.
TEST(SyntheticFrameGeneratorTest, ChecksumsHoldAcrossSequenceWraps) {
  SyntheticFrameGenerator gen(3, /*pool_size=*/64);
  ASSERT_EQ(gen.pool_size(), 64u);
  std::map<SyntheticKind, int> kinds;
  for (uint64_t i = 0; i < 200000; ++i) {
    SyntheticFrame f = gen.NextInPlace();
    ++kinds[f.kind];
    ASSERT_EQ(FindSequence(f.data, f.size), std::optional<uint64_t>(i));
    ASSERT_TRUE(ChecksumsValid(f.data, f.size)) << "frame " << i;
    if (ntohs(Get<ether_header>(f.data).ether_type) == ETHERTYPE_IP) {
      // The IPv4 ID carries the sequence's low 16 bits.
      ASSERT_EQ(ntohs(Get<struct ip>(f.data + kEth).ip_id), static_cast<uint16_t>(i));
    }
  }
  EXPECT_GE(kinds.size(), 5u);  // several kinds, even in a small pool
  EXPECT_EQ(gen.next_seq(), 200000u);
}

TEST(SyntheticFrameGeneratorTest, InPlaceFramesLastForThePool) {
  SyntheticFrameGenerator gen(4, /*pool_size=*/8);
  for (uint64_t round = 0; round < 3; ++round) {
    std::vector<SyntheticFrame> frames;
    for (int i = 0; i < 8; ++i) frames.push_back(gen.NextInPlace());
    for (int i = 0; i < 8; ++i) {  // all eight are intact after the eighth
      EXPECT_EQ(FindSequence(frames[i].data, frames[i].size),
                std::optional<uint64_t>(round * 8 + i));
      EXPECT_TRUE(ChecksumsValid(frames[i].data, frames[i].size));
      for (int j = 0; j < i; ++j) EXPECT_NE(frames[i].data, frames[j].data);
    }
  }
  // A pool of 0 is a pool of 1.
  SyntheticFrameGenerator one(4, 0);
  EXPECT_EQ(one.pool_size(), 1u);
  EXPECT_EQ(one.NextInPlace().data, one.NextInPlace().data);
}

TEST(SyntheticFrameGeneratorTest, SameSeedSameFrames) {
  SyntheticFrameGenerator a(9), b(9), c(10);
  std::vector<uint8_t> fa, fb, fc;
  PacketDirection d;
  bool all_same_as_c = true;
  for (int i = 0; i < 100; ++i) {
    a.Next(&fa, &d);
    b.Next(&fb, &d);
    c.Next(&fc, &d);
    ASSERT_EQ(fa, fb);
    all_same_as_c = all_same_as_c && fa == fc;
  }
  EXPECT_FALSE(all_same_as_c);
  // Through several turns of the pool, too.
  SyntheticFrameGenerator small_a(9, 16), small_b(9, 16);
  for (int i = 0; i < 100; ++i) {
    small_a.Next(&fa, &d);
    small_b.Next(&fb, &d);
    ASSERT_EQ(fa, fb);
  }
}

TEST(FindSequenceTest, RejectsTruncatedAndForeignFrames) {
  SyntheticFrameGenerator gen(2);
  std::vector<uint8_t> f;
  PacketDirection d;
  gen.Next(&f, &d);
  EXPECT_FALSE(FindSequence(f.data(), 20).has_value());
  EXPECT_FALSE(FindSequence(f.data(), 0).has_value());
  std::vector<uint8_t> junk(100, 0xab);
  EXPECT_FALSE(FindSequence(junk.data(), junk.size()).has_value());
}

TEST(SyntheticBackendTest, RateIsHonoured) {
  SyntheticOptions o;
  o.rate_pps = 2000;
  SyntheticBackend b(TestDeviceInfo(), o);
  std::atomic<uint64_t> got{0};
  std::atomic<uint64_t> next_seq{0};
  std::atomic<bool> in_order{true};
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(b.Start([&](absl::Span<const Packet> batch) {
                 for (const Packet& p : batch) {
                   std::optional<uint64_t> s = FindSequence(p.data, p.caplen);
                   if (!s || *s != next_seq) in_order = false;
                   next_seq = next_seq + 1;
                 }
                 got += batch.size();
               }).ok());
  EXPECT_EQ(b.Start([](absl::Span<const Packet>) {}).code(), absl::StatusCode::kFailedPrecondition);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  b.Stop();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double expected = secs * 2000;
  EXPECT_GT(got.load(), expected * 0.8) << got << " in " << secs << " s";
  EXPECT_LT(got.load(), expected * 1.1 + 2) << got << " in " << secs << " s";
  EXPECT_TRUE(in_order);
}

TEST(SyntheticBackendTest, CountStopsAndUnpacedIsFast) {
  SyntheticOptions o;
  o.rate_pps = 0;
  o.count = 10000;
  SyntheticBackend b(TestDeviceInfo(), o);
  std::atomic<uint64_t> got{0};
  uint64_t last_ts = 0;
  bool ts_ok = true;
  ASSERT_TRUE(b.Start([&](absl::Span<const Packet> batch) {
                 for (const Packet& p : batch) {
                   ts_ok = ts_ok && p.ts_ns >= last_ts && p.len == p.caplen;
                   last_ts = p.ts_ns;
                 }
                 got += batch.size();
               }).ok());
  for (int i = 0; i < 500 && got < 10000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  b.Stop();
  EXPECT_EQ(got.load(), 10000u);
  EXPECT_EQ(b.packets_generated(), 10000u);
  EXPECT_TRUE(ts_ok);
}

// Batches point into the generator's templates, so a batch may not be longer
// than the pool: every frame must still carry its own sequence number when
// the sink sees it.
TEST(SyntheticBackendTest, HugeBatchesStillCarryTheirOwnFrames) {
  SyntheticOptions o;
  o.rate_pps = 0;
  o.count = 3 * SyntheticFrameGenerator::kDefaultPoolSize + 7;
  o.max_batch = 1u << 20;
  SyntheticBackend b(TestDeviceInfo(), o);
  std::atomic<uint64_t> got{0};
  std::atomic<bool> ok{true};
  std::atomic<size_t> largest{0};
  ASSERT_TRUE(b.Start([&](absl::Span<const Packet> batch) {
                 largest = std::max<size_t>(largest, batch.size());
                 for (const Packet& p : batch) {
                   if (FindSequence(p.data, p.caplen) != std::optional<uint64_t>(got) ||
                       !ChecksumsValid(p.data, p.caplen))
                     ok = false;
                   ++got;
                 }
               }).ok());
  for (int i = 0; i < 500 && got < o.count; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  b.Stop();
  EXPECT_EQ(got.load(), o.count);
  EXPECT_TRUE(ok);
  EXPECT_LE(largest.load(), SyntheticFrameGenerator::kDefaultPoolSize);
}

TEST(SyntheticBackendTest, StopIsPromptWhilePacedSlowly) {
  SyntheticOptions o;
  o.rate_pps = 1;  // one packet a second
  SyntheticBackend b(TestDeviceInfo(), o);
  ASSERT_TRUE(b.Start([](absl::Span<const Packet>) {}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto t0 = std::chrono::steady_clock::now();
  b.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
}

// Paused (no session), the generator makes nothing, whatever its rate; on
// resume it goes on with the next sequence number, its timestamps still
// 1/rate apart and later than the pause.
TEST(SyntheticBackendTest, PausesWhileInactiveAndResumesInSequence) {
  for (uint64_t rate : {uint64_t{0}, uint64_t{20000}}) {
    SyntheticOptions o;
    o.rate_pps = rate;
    SyntheticBackend b(TestDeviceInfo(), o);
    b.SetActive(false);
    absl::Mutex mu;
    std::vector<uint64_t> seqs, stamps;
    ASSERT_TRUE(b.Start([&](absl::Span<const Packet> batch) {
                   absl::MutexLock lock(&mu);
                   for (const Packet& p : batch) {
                     seqs.push_back(FindSequence(p.data, p.caplen).value_or(~0ull));
                     stamps.push_back(p.ts_ns);
                   }
                 }).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(b.packets_generated(), 0u) << "rate " << rate << ": made packets while paused";
    b.SetActive(true);
    for (int i = 0; i < 500 && b.packets_generated() < 100; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    b.SetActive(false);
    uint64_t first = ~0ull;  // once the batch being made when paused is done
    while (first != b.packets_generated()) {
      first = b.packets_generated();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GE(first, 100u);
    const uint64_t paused_at = static_cast<uint64_t>(ClockNs(CLOCK_REALTIME));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(b.packets_generated(), first) << "rate " << rate << ": made packets while paused";
    b.SetActive(true);
    for (int i = 0; i < 500 && b.packets_generated() < first + 100; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    b.Stop();
    absl::MutexLock lock(&mu);
    ASSERT_GE(seqs.size(), first + 100);
    for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i) << "rate " << rate;
    EXPECT_GT(stamps[first], paused_at) << "the schedule resumes from the resume";
    if (rate != 0) {
      for (size_t i = 1; i < seqs.size(); ++i) {
        if (i == first) continue;
        ASSERT_EQ(stamps[i] - stamps[i - 1], 50'000u) << "packet " << i;
      }
    }
  }
}

// At a low rate the thread does not wake once per packet: every wake-up
// hands over the packets due by then (each with its own scheduled time). In
// immediate mode it wakes for each one.
TEST(SyntheticBackendTest, LowRatesAreBatchedUnlessImmediate) {
  SyntheticOptions o;
  o.rate_pps = 20000;
  SyntheticBackend b(TestDeviceInfo(), o);
  std::atomic<uint64_t> packets{0}, batches{0};
  ASSERT_TRUE(b.Start([&](absl::Span<const Packet> batch) {
                 packets += batch.size();
                 ++batches;
               }).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  b.Stop();
  // At most one batch per kMinWakeInterval (1 ms: 20 packets), give or take
  // the first; a per-packet thread would make one batch per packet.
  EXPECT_GT(packets.load(), 1000u);
  EXPECT_LE(batches.load() * 10, packets.load()) << batches << " batches for " << packets;
}

}  // namespace
}  // namespace mydev::daemon
