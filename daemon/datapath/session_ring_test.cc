// session_ring_test.cc — a shared ring written packet by packet for its
// members: one record per distinct (link type, caplen), read back by each
// member through the ring_abi.h reader.
#include "daemon/datapath/session_ring.h"

#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "shm/ring_consumer.h"

namespace mydev::daemon {
namespace {

struct Got {
  uint32_t caplen, len;
  uint8_t first;  // the record's first byte
};

SessionRing::MemberSelection Sel(int member, const std::vector<uint32_t>& caplens) {
  SessionRing::MemberSelection s;
  s.member = member;
  s.dlt = DLT_EN10MB;
  s.caplens = caplens.data();
  return s;
}

// A 1 MiB ring of uid 1000 with its first member.
std::shared_ptr<SessionRing> NewRing(bool shareable = true) {
  absl::StatusOr<std::shared_ptr<SessionRing>> ring =
      SessionRing::Create({.data_bytes = 1 << 20, .dlt = DLT_EN10MB}, 1000, shareable);
  EXPECT_TRUE(ring.ok()) << ring.status();
  return *std::move(ring);
}

// A reader of the member's records.
shm::MappedRing MapMember(SessionRing& ring, int member) {
  int ctl;
  {
    absl::MutexLock lock(&ring.mu());
    ctl = ring.producer().ctl_fd(member);
  }
  absl::StatusOr<shm::MappedRing> m = shm::MapRingForReading(ring.ring_fd(), ctl);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

std::vector<Got> Read(SessionRing& ring, int member) {
  shm::MappedRing m = MapMember(ring, member);
  std::vector<Got> out;
  while (const mydev_ring_record* r = mydev_ring_next(m.view()))
    out.push_back({r->caplen, r->len, mydev_ring_record_data(r)[0]});
  mydev_ring_release(m.view());
  return out;
}

TEST(SessionRing, OneRecordPerDistinctFormMarkedForEveryMemberTakingIt) {
  std::shared_ptr<SessionRing> ring = NewRing();
  SessionRing& r = *ring;
  absl::StatusOr<int> b = r.Join({}), c = r.Join({}), d = r.Join({});
  ASSERT_TRUE(b.ok() && c.ok() && d.ok());
  // Three packets of 200, 60 and 300 bytes; each frame's bytes are its index.
  std::vector<std::vector<uint8_t>> frames = {
      std::vector<uint8_t>(200, 0), std::vector<uint8_t>(60, 1), std::vector<uint8_t>(300, 2)};
  std::vector<Packet> batch(3);
  for (size_t k = 0; k < 3; ++k) {
    batch[k].data = frames[k].data();
    batch[k].len = batch[k].caplen = static_cast<uint32_t>(frames[k].size());
    batch[k].direction = PacketDirection::kIn;
  }
  // Members 0 and b take everything whole (separate but equal arrays); c
  // takes 100 bytes of each; d only packet 1.
  const std::vector<uint32_t> whole = {200, 60, 300}, whole2 = whole, snap100 = {100, 60, 100},
                              only1 = {0, 60, 0};
  const SessionRing::MemberSelection sel[] = {Sel(0, whole), Sel(*b, whole2), Sel(*c, snap100),
                                              Sel(*d, only1)};
  uint64_t written;
  {
    absl::MutexLock lock(&r.mu());
    r.WriteBatchLocked(batch, sel);
    written = r.producer().write_pos();
  }
  r.Publish(0, 1);
  // Records: 200 (0, b), 100 of it (c), 60 (all four), 300 (0, b), 100 of it (c).
  auto rec = [](uint32_t caplen) { return MYDEV_ALIGN8(sizeof(mydev_ring_record) + caplen); };
  EXPECT_EQ(written, rec(200) + rec(100) + rec(60) + rec(300) + rec(100));
  const std::vector<Got> want_whole = {{200, 200, 0}, {60, 60, 1}, {300, 300, 2}};
  for (int m : {0, *b}) {
    std::vector<Got> got = Read(r, m);
    ASSERT_EQ(got.size(), 3u) << "member " << m;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(got[i].caplen, want_whole[i].caplen);
      EXPECT_EQ(got[i].len, want_whole[i].len);
      EXPECT_EQ(got[i].first, want_whole[i].first);
    }
  }
  std::vector<Got> got_c = Read(r, *c);
  ASSERT_EQ(got_c.size(), 3u);
  EXPECT_EQ(got_c[0].caplen, 100u);
  EXPECT_EQ(got_c[0].len, 200u);
  EXPECT_EQ(got_c[1].caplen, 60u);
  EXPECT_EQ(got_c[2].caplen, 100u);
  EXPECT_EQ(got_c[2].first, 2);
  std::vector<Got> got_d = Read(r, *d);
  ASSERT_EQ(got_d.size(), 1u);
  EXPECT_EQ(got_d[0].first, 1);
  absl::MutexLock lock(&r.mu());
  EXPECT_EQ(r.producer().packets_received(*d), 1u);
  EXPECT_EQ(r.producer().bytes_received(*c), 260u);
}

TEST(SessionRing, ARingOfItsOwnTakesNoSecondMemberAndAClosedOneNone) {
  EXPECT_EQ(NewRing(/*shareable=*/false)->Join({}).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::shared_ptr<SessionRing> shared = NewRing();
  shared->Close(MYDEV_RING_CLOSE_SHUTDOWN);
  EXPECT_EQ(shared->Join({}).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(SessionRing, PublishOncePerRound) {
  std::shared_ptr<SessionRing> ring = NewRing();
  SessionRing& r = *ring;
  {
    absl::MutexLock lock(&r.mu());
    r.producer().SetWakePolicy(0, {.immediate = true});
  }
  shm::MappedRing m = MapMember(r, 0);
  ASSERT_EQ(mydev_ring_prepare_sleep(m.view()), 1);
  const uint8_t byte = 7;
  {
    absl::MutexLock lock(&r.mu());
    r.producer().Write(1, 1, MYDEV_REC_DIR_IN, &byte, 1);
  }
  r.Publish(0, 5);
  {
    absl::MutexLock lock(&r.mu());
    EXPECT_EQ(r.producer().wakeups(0), 1u);
  }
  ASSERT_EQ(mydev_ring_prepare_sleep(m.view()), 0) << "published";
  while (mydev_ring_next(m.view()) != nullptr) {
  }
  ASSERT_EQ(mydev_ring_prepare_sleep(m.view()), 1);
  {
    absl::MutexLock lock(&r.mu());
    r.producer().Write(2, 1, MYDEV_REC_DIR_IN, &byte, 1);
  }
  r.Publish(0, 5);  // the same round: nothing
  ASSERT_EQ(mydev_ring_prepare_sleep(m.view()), 1) << "not published again in round 5";
  r.Publish(0, 6);
  EXPECT_EQ(mydev_ring_prepare_sleep(m.view()), 0);
}

// Makes the calling thread's Abseil per-thread identity (its wait semaphore,
// allocated on first blocking), then counts the thread in `ready` and waits
// for all `n`. Without it, ThreadSanitizer reports Abseil's own first
// wake-up of a thread blocked on a contended absl::Mutex as a race with the
// mmap that allocated the sleeper's identity (Abseil's annotations hide the
// mutex-internal hand-off from TSan); the same report shows in any test whose
// fresh threads first meet on a contended mutex.
void MakeIdentityThenWaitForAll(std::atomic<int>* ready, int n) {
  absl::Mutex m;
  absl::MutexLock lock(&m);
  m.AwaitWithTimeout(absl::Condition(
                         +[](int*) { return false; }, static_cast<int*>(nullptr)),
                     absl::Microseconds(1));
  ready->fetch_add(1, std::memory_order_release);
  while (ready->load(std::memory_order_acquire) < n) std::this_thread::yield();
}

// The fan-out thread writing and publishing, the ticker publishing, sessions
// joining and leaving and a reader reading, all at once (for TSan): every
// packet written for member 0 is read once, in order.
TEST(SessionRing, WritesTicksJoinsAndReadsAtOnce) {
  std::shared_ptr<SessionRing> ring = NewRing();
  SessionRing& r = *ring;
  shm::MappedRing m = MapMember(r, 0);
  constexpr uint32_t kBatches = 3000, kBatch = 8;
  std::atomic<bool> done{false};
  std::atomic<int> ready{0};
  std::thread writer([&] {
    MakeIdentityThenWaitForAll(&ready, 3);
    std::vector<uint8_t> bytes(kBatches * kBatch);
    std::vector<Packet> batch(kBatch);
    const std::vector<uint32_t> one(kBatch, 1);
    const SessionRing::MemberSelection sel[] = {Sel(0, one)};
    for (uint32_t b = 0; b < kBatches; ++b) {
      for (uint32_t k = 0; k < kBatch; ++k) {
        bytes[b * kBatch + k] = static_cast<uint8_t>(b * kBatch + k);
        batch[k].data = &bytes[b * kBatch + k];
        batch[k].len = batch[k].caplen = 1;
      }
      {
        absl::MutexLock lock(&r.mu());
        r.WriteBatchLocked(batch, sel);
      }
      r.Publish(0, 2 * b + 1);
      if (b % 64 == 63) absl::SleepFor(absl::Microseconds(100));
    }
    done = true;
  });
  std::thread ticker([&] {
    MakeIdentityThenWaitForAll(&ready, 3);
    for (uint64_t round = 2; !done; round += 2) {
      r.Publish(0, round);
      absl::SleepFor(absl::Microseconds(50));  // a fast ticker, not a spinning one
    }
  });
  std::thread joiner([&] {
    MakeIdentityThenWaitForAll(&ready, 3);
    while (!done) {
      absl::StatusOr<int> j = r.Join({});
      if (j.ok()) r.Leave(*j);
      EXPECT_GE(r.member_count(), 1);
      absl::SleepFor(absl::Microseconds(50));
    }
  });
  uint32_t next = 0;
  bool writer_done = false;
  while (!writer_done || mydev_ring_has_data(m.view())) {
    writer_done = done;
    bool any = false;
    while (const mydev_ring_record* rec = mydev_ring_next(m.view())) {
      ASSERT_EQ(mydev_ring_record_data(rec)[0], static_cast<uint8_t>(next));
      ++next;
      any = true;
    }
    mydev_ring_release(m.view());
    // Not spinning: the test runs beside timing-sensitive ones (sanitizer
    // runs share the machine's cores).
    if (!any) absl::SleepFor(absl::Microseconds(20));
  }
  writer.join();
  ticker.join();
  joiner.join();
  absl::MutexLock lock(&r.mu());
  EXPECT_EQ(next + r.producer().packets_dropped(0), kBatches * kBatch);
  EXPECT_EQ(r.producer().member_count(), 1);
}

}  // namespace
}  // namespace mydev::daemon
