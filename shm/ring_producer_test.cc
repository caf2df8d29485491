// ring_producer_test.cc — the ring end to end: RingProducer writes, the
// ring_abi.h reader (through ring_consumer.h) reads, in one and two threads.
#include "shm/ring_producer.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shm/ring_consumer.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

namespace mydev::shm {
namespace {

constexpr uint64_t kRing = RingProducer::kMinDataBytes;  // 1 MiB
constexpr uint64_t kHdr = sizeof(mydev_ring_record);

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Payload of packet `seq`: its sequence number, then a pattern derived from it.
uint32_t CaplenFor(uint64_t seq) { return 8 + static_cast<uint32_t>((seq * 7919) % 193); }
std::vector<uint8_t> PayloadFor(uint64_t seq, uint32_t caplen) {
  std::vector<uint8_t> p(caplen);
  std::memcpy(p.data(), &seq, 8);
  for (uint32_t i = 8; i < caplen; ++i) p[i] = static_cast<uint8_t>(seq * 31 + i);
  return p;
}
bool Write(RingProducer& ring, uint64_t seq) {
  const uint32_t caplen = CaplenFor(seq);
  std::vector<uint8_t> p = PayloadFor(seq, caplen);
  return ring.Write(/*ts_ns=*/1000 + seq, caplen + 4, MYDEV_REC_DIR_IN, p.data(), caplen);
}
// Checks a record written by Write(ring, seq) and returns its seq.
uint64_t CheckRecord(const mydev_ring_record* r) {
  uint64_t seq;
  EXPECT_GE(r->caplen, 8u);
  std::memcpy(&seq, mydev_ring_record_data(r), 8);
  EXPECT_EQ(r->caplen, CaplenFor(seq));
  EXPECT_EQ(r->len, r->caplen + 4);
  EXPECT_EQ(r->ts_ns, 1000 + seq);
  EXPECT_EQ(r->flags, MYDEV_REC_DIR_IN);
  EXPECT_EQ(0, std::memcmp(mydev_ring_record_data(r), PayloadFor(seq, r->caplen).data(), r->caplen))
      << "seq " << seq;
  return seq;
}

struct Fixture {
  std::unique_ptr<RingProducer> producer;
  MappedRing reader;
  mydev_ring_view* v() { return reader.view(); }
};

Fixture Make(uint64_t data_bytes = kRing) {
  Fixture f;
  auto p = RingProducer::Create({.data_bytes = data_bytes, .dlt = 1});
  EXPECT_TRUE(p.ok()) << p.status();
  f.producer = std::move(*p);
  auto m = MapRingForReading(f.producer->ring_fd(), f.producer->ctl_fd());
  EXPECT_TRUE(m.ok()) << m.status();
  f.reader = std::move(*m);
  return f;
}

// Reads every published record, checking each; returns their seqs.
std::vector<uint64_t> Drain(mydev_ring_view* v) {
  std::vector<uint64_t> seqs;
  while (const mydev_ring_record* r = mydev_ring_next(v)) seqs.push_back(CheckRecord(r));
  EXPECT_EQ(v->corrupt, 0);
  mydev_ring_release(v);
  return seqs;
}

// Writes filler records (content irrelevant) until the write position is `target`.
void FillTo(RingProducer& ring, mydev_ring_view* v, uint64_t target) {
  static const uint8_t zeros[2048] = {};
  uint64_t pos = v->hdr->producer_pos;
  while (pos < target) {
    uint64_t left = target - pos;
    uint64_t rec = left <= 2048 ? left : 1024;
    ASSERT_GE(rec, kHdr);
    ASSERT_TRUE(ring.Write(1, 1, 0, zeros, static_cast<uint32_t>(rec - kHdr)));
    pos += rec;
  }
  ring.Publish(0);
  ASSERT_EQ(v->hdr->producer_pos, target);
}

bool Readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

TEST(RingProducer, RejectsBadSizes) {
  for (uint64_t bad : {uint64_t{0}, uint64_t{4096}, kRing / 2, 3 * kRing, kRing + 8,
                       RingProducer::kMaxDataBytes * 2}) {
    auto p = RingProducer::Create({.data_bytes = bad});
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RingProducer, FdsAreCloexecAndEventfdNonblocking) {
  Fixture f = Make();
  for (int fd : {f.producer->ring_fd(), f.producer->ctl_fd(), f.producer->event_fd()})
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(fcntl(f.producer->event_fd(), F_GETFL) & O_NONBLOCK);
  EXPECT_EQ(f.reader.header()->data_bytes, kRing);
  EXPECT_EQ(f.reader.header()->dlt, 1u);
}

TEST(RingProducer, RoundTripKeepsTimestampsFlagsAndBytes) {
  Fixture f = Make();
  const uint8_t pkt[60] = {1, 2, 3, 4, 5};
  EXPECT_TRUE(f.producer->Write(1700000000123456789ull, 1514, MYDEV_REC_DIR_OUT | MYDEV_REC_PAD,
                                pkt, sizeof pkt));
  EXPECT_TRUE(f.producer->Write(42, 0, MYDEV_REC_DIR_IN, nullptr, 0));
  EXPECT_EQ(mydev_ring_next(f.v()), nullptr) << "visible before Publish";
  f.producer->Publish(0);
  const mydev_ring_record* r = mydev_ring_next(f.v());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->ts_ns, 1700000000123456789ull);
  EXPECT_EQ(r->len, 1514u);
  EXPECT_EQ(r->caplen, 60u);
  EXPECT_EQ(r->flags, MYDEV_REC_DIR_OUT) << "the writer never lets a caller set PAD";
  EXPECT_EQ(r->record_bytes, MYDEV_ALIGN8(kHdr + 60));
  EXPECT_EQ(0, std::memcmp(mydev_ring_record_data(r), pkt, sizeof pkt));
  r = mydev_ring_next(f.v());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->caplen, 0u);
  EXPECT_EQ(r->ts_ns, 42u);
  EXPECT_EQ(mydev_ring_next(f.v()), nullptr);
  mydev_ring_release(f.v());
  EXPECT_EQ(f.reader.header()->members[0].packets_received, 2u);
  EXPECT_EQ(f.reader.header()->members[0].bytes_received, 60u);
  EXPECT_EQ(f.producer->packets_received(), 2u);
}

TEST(RingProducer, MaximalRecordFitsAndOversizeIsDropped) {
  Fixture f = Make();
  std::vector<uint8_t> big(RingProducer::kMaxCaplen, 0xab);
  EXPECT_TRUE(f.producer->Write(1, RingProducer::kMaxCaplen, 0, big.data(), big.size()));
  EXPECT_FALSE(f.producer->Write(1, 0, 0, big.data(), RingProducer::kMaxCaplen + 1));
  f.producer->Publish(0);
  EXPECT_EQ(f.producer->packets_dropped(), 1u);
  const mydev_ring_record* r = mydev_ring_next(f.v());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->caplen, RingProducer::kMaxCaplen);
  EXPECT_EQ(mydev_ring_record_data(r)[RingProducer::kMaxCaplen - 1], 0xab);
}

TEST(RingProducer, WrapWritesPaddingRecord) {
  Fixture f = Make();
  FillTo(*f.producer, f.v(), kRing - 40);  // 40 bytes left: room for a padding header
  while (mydev_ring_next(f.v()) != nullptr) {
  }
  mydev_ring_release(f.v());
  ASSERT_TRUE(Write(*f.producer, 7));  // needs more than 40 bytes
  f.producer->Publish(0);
  const auto* pad = reinterpret_cast<const mydev_ring_record*>(f.v()->data + kRing - 40);
  EXPECT_EQ(pad->flags, MYDEV_REC_PAD);
  EXPECT_EQ(pad->record_bytes, 40u);
  EXPECT_EQ(f.reader.header()->producer_pos, kRing + MYDEV_ALIGN8(kHdr + CaplenFor(7)));
  EXPECT_EQ(Drain(f.v()), std::vector<uint64_t>{7});
  EXPECT_EQ(f.v()->consumer_pos, f.reader.header()->producer_pos);
}

TEST(RingProducer, WrapSkipsTailShorterThanAHeader) {
  for (uint64_t tail : {8, 16}) {
    Fixture f = Make();
    FillTo(*f.producer, f.v(), kRing - tail);
    while (mydev_ring_next(f.v()) != nullptr) {
    }
    mydev_ring_release(f.v());
    ASSERT_TRUE(Write(*f.producer, 9));
    ASSERT_TRUE(Write(*f.producer, 10));
    f.producer->Publish(0);
    // The tail bytes were never written (fresh memfd pages are zero).
    for (uint64_t i = kRing - tail; i < kRing; ++i) EXPECT_EQ(f.v()->data[i], 0) << i;
    EXPECT_EQ(Drain(f.v()), (std::vector<uint64_t>{9, 10})) << "tail " << tail;
    EXPECT_EQ(f.v()->consumer_pos,
              kRing + MYDEV_ALIGN8(kHdr + CaplenFor(9)) + MYDEV_ALIGN8(kHdr + CaplenFor(10)));
  }
}

TEST(RingProducer, ExactFitAtTheEndNeedsNoPadding) {
  Fixture f = Make();
  const uint64_t rec = MYDEV_ALIGN8(kHdr + CaplenFor(3));
  FillTo(*f.producer, f.v(), kRing - rec);
  while (mydev_ring_next(f.v()) != nullptr) {
  }
  mydev_ring_release(f.v());
  ASSERT_TRUE(Write(*f.producer, 3));
  f.producer->Publish(0);
  EXPECT_EQ(f.reader.header()->producer_pos, kRing);
  EXPECT_EQ(Drain(f.v()), std::vector<uint64_t>{3});
}

TEST(RingProducer, RandomSizesOverManyLapsStayIntact) {
  Fixture f = Make();
  std::mt19937_64 rng(1234);
  uint64_t next_seq = 0, expect_seq = 0;
  std::vector<uint8_t> buf(4096);
  int pads = 0, skips = 0;
  while (f.reader.header()->producer_pos < 300 * kRing) {
    const int burst = 1 + rng() % 4000;
    for (int i = 0; i < burst; ++i) {
      // Sizes in 8-byte steps so every tail length (8, 16, 24, ...) occurs.
      const uint32_t caplen = 8 + 8 * (rng() % 30);
      std::memcpy(buf.data(), &next_seq, 8);
      for (uint32_t k = 8; k < caplen; ++k) buf[k] = static_cast<uint8_t>(next_seq + k);
      if (f.producer->Write(next_seq, caplen, 0, buf.data(), caplen)) ++next_seq;
    }
    f.producer->Publish(0);
    const int take = rng() % 5000;
    for (int i = 0; i < take; ++i) {
      const uint64_t before = f.v()->consumer_pos;
      const mydev_ring_record* r = mydev_ring_next(f.v());
      if (r == nullptr) break;
      const uint64_t start = f.v()->consumer_pos - r->record_bytes;
      if (start != before) {
        const uint64_t gap = start - before;
        if (gap < kHdr) {
          ++skips;
        } else {
          ++pads;
        }
      }
      uint64_t seq;
      std::memcpy(&seq, mydev_ring_record_data(r), 8);
      ASSERT_EQ(seq, expect_seq);
      ASSERT_EQ(r->ts_ns, seq);
      for (uint32_t k = 8; k < r->caplen; ++k)
        ASSERT_EQ(mydev_ring_record_data(r)[k], static_cast<uint8_t>(seq + k));
      ++expect_seq;
    }
    ASSERT_EQ(f.v()->corrupt, 0);
    mydev_ring_release(f.v());
  }
  EXPECT_GT(pads, 0);
  EXPECT_GT(skips, 0);
  EXPECT_EQ(f.producer->packets_received(), next_seq);
}

TEST(RingProducer, FullRingDropsCountsAndKeepsWhatItHas) {
  Fixture f = Make();
  uint64_t seq = 0;
  while (Write(*f.producer, seq)) ++seq;
  const uint64_t kept = seq;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(Write(*f.producer, kept + 1 + i));
  f.producer->Publish(0);
  EXPECT_EQ(f.producer->packets_dropped(), 101u);
  EXPECT_EQ(f.reader.header()->members[0].packets_dropped, 101u);
  EXPECT_EQ(f.reader.header()->members[0].packets_received, kept);
  EXPECT_GT(f.reader.header()->producer_pos, kRing - 256);
  EXPECT_LE(f.reader.header()->producer_pos, kRing);
  std::vector<uint64_t> got = Drain(f.v());
  ASSERT_EQ(got.size(), kept);
  for (uint64_t i = 0; i < kept; ++i) ASSERT_EQ(got[i], i);
  // Room again once the reader released.
  EXPECT_TRUE(Write(*f.producer, 5000));
  f.producer->Publish(0);
  EXPECT_EQ(Drain(f.v()), std::vector<uint64_t>{5000});
}

TEST(RingProducer, LaggingReaderFreesExactlyWhatItReleased) {
  Fixture f = Make();
  uint64_t seq = 0;
  while (Write(*f.producer, seq)) ++seq;
  f.producer->Publish(0);
  // Read half, release; the writer may reuse exactly that space.
  uint64_t read = 0;
  const uint64_t half = seq / 2;
  while (read < half) {
    const mydev_ring_record* r = mydev_ring_next(f.v());
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(CheckRecord(r), read++);
  }
  mydev_ring_release(f.v());
  const uint64_t freed = f.v()->consumer_pos;
  uint64_t more = seq;
  while (Write(*f.producer, more)) ++more;
  f.producer->Publish(0);
  const uint64_t written = f.reader.header()->producer_pos;
  EXPECT_LE(written - f.v()->consumer_pos, kRing);
  EXPECT_GT(written, freed + kRing - 2 * 256 - 256) << "freed room was reused";
  // Everything still reads in order and intact.
  for (uint64_t s : Drain(f.v())) ASSERT_EQ(s, read++);
  EXPECT_EQ(read, more);
}

TEST(RingProducer, GarbageConsumerPositionDoesNotBreakTheWriter) {
  Fixture f = Make();
  auto* ctl = static_cast<mydev_ring_control*>(f.reader.ctl_map());
  uint64_t seq = 0;
  for (uint64_t garbage :
       {~uint64_t{0}, uint64_t{1} << 63, uint64_t{3}, uint64_t{0}, ~uint64_t{0} - 5}) {
    // A hostile or broken client: the writer clamps and goes on, never
    // writing outside the data area nor misaligning records.
    for (int round = 0; round < 50; ++round) {
      __atomic_store_n(&ctl->consumer_pos, garbage, __ATOMIC_RELEASE);
      for (int i = 0; i < 1000; ++i) Write(*f.producer, seq++);
      f.producer->Publish(0);
      const uint64_t prod = f.reader.header()->producer_pos;
      ASSERT_EQ(prod % 8, 0u);
    }
  }
  EXPECT_GT(f.producer->packets_received(), 0u);
  // An honest reader that resynchronises reads intact records again.
  uint64_t prod = f.reader.header()->producer_pos;
  __atomic_store_n(&ctl->consumer_pos, prod, __ATOMIC_RELEASE);
  f.v()->consumer_pos = f.v()->producer_pos = prod;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Write(*f.producer, 100000000 + i));
  f.producer->Publish(0);
  EXPECT_EQ(Drain(f.v()), (std::vector<uint64_t>{100000000, 100000001, 100000002}));
}

TEST(RingProducer, ConsumerBehindTheWindowMeansFullNotOverwrite) {
  Fixture f = Make();
  auto* ctl = static_cast<mydev_ring_control*>(f.reader.ctl_map());
  uint64_t seq = 0;
  // Run the positions past a few laps with an honest reader.
  while (f.reader.header()->producer_pos < 3 * kRing) {
    for (int i = 0; i < 100; ++i) Write(*f.producer, seq++);
    f.producer->Publish(0);
    Drain(f.v());
  }
  // Fill the ring without reading, to the last 24 bytes.
  while (Write(*f.producer, seq)) ++seq;
  while (f.producer->Write(0, 0, 0, nullptr, 0)) {
  }
  f.producer->Publish(0);
  const uint64_t full_at = f.reader.header()->producer_pos;
  const uint64_t dropped = f.producer->packets_dropped();
  for (uint64_t garbage : {uint64_t{0}, full_at - kRing - 12345, full_at - 2 * kRing}) {
    __atomic_store_n(&ctl->consumer_pos, garbage, __ATOMIC_RELEASE);
    for (int i = 0; i < 10; ++i) {
      EXPECT_FALSE(Write(*f.producer, seq + i));
      f.producer->Publish(0);
    }
    EXPECT_EQ(f.reader.header()->producer_pos, full_at) << "garbage " << garbage;
  }
  EXPECT_EQ(f.producer->packets_dropped(), dropped + 30);
  // The honest reader reads every unread record intact, then writing resumes.
  f.v()->consumer_pos = full_at - kRing;
  while (f.v()->consumer_pos < full_at && mydev_ring_next(f.v()) != nullptr) {
  }
  EXPECT_EQ(f.v()->corrupt, 0);
  mydev_ring_release(f.v());
  EXPECT_TRUE(Write(*f.producer, seq));
}

TEST(RingProducer, RingCannotBeMappedWritableByTheReader) {
  Fixture f = Make();
  const int seals = fcntl(f.producer->ring_fd(), F_GET_SEALS);
  ASSERT_GE(seals, 0);
  EXPECT_TRUE(seals & F_SEAL_SHRINK);
  EXPECT_TRUE(seals & F_SEAL_GROW);
  EXPECT_TRUE(seals & F_SEAL_SEAL);
  EXPECT_EQ(ftruncate(f.producer->ring_fd(), 4096), -1);
  EXPECT_EQ(errno, EPERM);
  const int ctl_seals = fcntl(f.producer->ctl_fd(), F_GET_SEALS);
  EXPECT_TRUE(ctl_seals & F_SEAL_SHRINK);
  EXPECT_FALSE(ctl_seals & F_SEAL_FUTURE_WRITE) << "the client writes the ctl page";
  if (!(seals & F_SEAL_FUTURE_WRITE)) GTEST_SKIP() << "kernel lacks F_SEAL_FUTURE_WRITE (< 5.1)";

  const size_t bytes = MYDEV_RING_HEADER_BYTES + kRing;
  void* w = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f.producer->ring_fd(), 0);
  EXPECT_EQ(w, MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  uint8_t byte = 1;
  EXPECT_EQ(pwrite(f.producer->ring_fd(), &byte, 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  // The read-only mapping cannot be upgraded either.
  EXPECT_NE(mprotect(const_cast<void*>(f.reader.ring_map()), 4096, PROT_READ | PROT_WRITE), 0);
  // A private (copy-on-write) mapping is harmless and allowed.
  void* priv = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.producer->ring_fd(), 0);
  EXPECT_NE(priv, MAP_FAILED);
  if (priv != MAP_FAILED) munmap(priv, bytes);
  // The writer still writes through its own mapping.
  EXPECT_TRUE(Write(*f.producer, 1));
  f.producer->Publish(0);
  EXPECT_EQ(Drain(f.v()), std::vector<uint64_t>{1});
}

// ---------------------------------------------------------------- waking

TEST(RingWake, ImmediateWakesOnFirstRecord) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = true});
  ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
  f.producer->Publish(1);  // nothing waiting: no wake
  EXPECT_FALSE(Readable(f.producer->event_fd()));
  ASSERT_TRUE(Write(*f.producer, 0));
  f.producer->Publish(2);
  EXPECT_TRUE(Readable(f.producer->event_fd()));
  EXPECT_EQ(f.v()->ctl->reader_sleeping, MYDEV_RING_READER_AWAKE)
      << "the writer clears the flag it acted on";
}

TEST(RingWake, NoSyscallWhileTheReaderIsAwake) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = true});
  for (uint64_t i = 0; i < 1000; ++i) {
    Write(*f.producer, i);
    f.producer->Publish(i);
  }
  EXPECT_FALSE(Readable(f.producer->event_fd()));
}

TEST(RingWake, WakeBytesWaitsForEnoughData) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = false, .wake_bytes = 4096});
  ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
  uint64_t seq = 0;
  while (f.reader.header()->producer_pos + 256 < 4096) {
    Write(*f.producer, seq++);
    f.producer->Publish(0);
    ASSERT_FALSE(Readable(f.producer->event_fd())) << f.reader.header()->producer_pos;
  }
  while (f.reader.header()->producer_pos < 4096) {
    Write(*f.producer, seq++);
    f.producer->Publish(0);
  }
  EXPECT_TRUE(Readable(f.producer->event_fd()));
}

TEST(RingWake, TimeoutCountsFromTheFirstWaitingPublish) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = false, .wake_bytes = kRing, .timeout_ns = 1000000});
  ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
  ASSERT_TRUE(Write(*f.producer, 0));
  f.producer->Publish(5000000);
  f.producer->Publish(5999999);
  EXPECT_FALSE(Readable(f.producer->event_fd()));
  f.producer->Publish(6000000);
  EXPECT_TRUE(Readable(f.producer->event_fd()));
}

TEST(RingWake, DataSeenByAnAwakeReaderDoesNotStartTheTimeout) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = false, .wake_bytes = kRing, .timeout_ns = 1000});
  ASSERT_TRUE(Write(*f.producer, 0));
  f.producer->Publish(0);  // reader awake
  Drain(f.v());
  ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
  ASSERT_TRUE(Write(*f.producer, 1));
  f.producer->Publish(1000000);  // fresh data: the timeout starts now
  EXPECT_FALSE(Readable(f.producer->event_fd()));
  f.producer->Publish(1000999);
  EXPECT_FALSE(Readable(f.producer->event_fd()));
  f.producer->Publish(1001000);
  EXPECT_TRUE(Readable(f.producer->event_fd()));
}

TEST(RingWake, PrepareSleepRefusesWhenDataIsWaiting) {
  Fixture f = Make();
  ASSERT_TRUE(Write(*f.producer, 0));
  f.producer->Publish(0);
  EXPECT_EQ(mydev_ring_prepare_sleep(f.v()), 0);
  EXPECT_EQ(f.v()->ctl->reader_sleeping, MYDEV_RING_READER_AWAKE);
}

TEST(RingWake, CloseWakesAndIsSeen) {
  Fixture f = Make();
  ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
  ASSERT_TRUE(Write(*f.producer, 0));
  f.producer->Close(MYDEV_RING_CLOSE_SHUTDOWN);
  EXPECT_TRUE(Readable(f.producer->event_fd()));
  EXPECT_TRUE(mydev_ring_closed(f.v()));
  EXPECT_EQ(f.reader.header()->close_reason, MYDEV_RING_CLOSE_SHUTDOWN);
  EXPECT_EQ(Drain(f.v()), std::vector<uint64_t>{0}) << "records before Close are published";
  EXPECT_FALSE(Write(*f.producer, 1));
}

TEST(RingWake, BlockedReaderThreadIsWoken) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = true});
  std::atomic<bool> done{false};
  int64_t woke_after_ns = 0;
  std::thread reader([&] {
    const int64_t t0 = NowNs();
    auto r = WaitForData(f.reader, f.producer->event_fd(), 10000);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(*r);
    woke_after_ns = NowNs() - t0;
    done = true;
  });
  // Let the reader block, then write.
  while (__atomic_load_n(&f.v()->ctl->reader_sleeping, __ATOMIC_ACQUIRE) == MYDEV_RING_READER_AWAKE)
    usleep(100);
  usleep(20000);
  EXPECT_FALSE(done.load());
  ASSERT_TRUE(Write(*f.producer, 0));
  f.producer->Publish(NowNs());
  reader.join();
  EXPECT_LT(woke_after_ns, 5'000'000'000);
  EXPECT_EQ(Drain(f.v()), std::vector<uint64_t>{0});
}

TEST(RingWake, WaitForDataTimesOut) {
  Fixture f = Make();
  auto r = WaitForData(f.reader, f.producer->event_fd(), 20);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(f.v()->ctl->reader_sleeping, MYDEV_RING_READER_AWAKE);
}

void IgnoreSignal(int) {}

// ring_abi.h: a signal ends the wait early, like a wake-up (not retried), so
// a signal handler's flag (pcap_breakloop's break_loop) is seen at once.
TEST(RingWake, ASignalEndsTheWait) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = IgnoreSignal;  // no SA_RESTART (poll() is never restarted anyway)
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  Fixture f = Make();
  std::atomic<bool> done{false};
  int result = -2;
  int64_t waited_ns = 0;
  std::thread reader([&] {
    const int64_t t0 = NowNs();
    result = mydev_ring_wait(f.v(), f.producer->event_fd(), -1, 10000);
    waited_ns = NowNs() - t0;
    done = true;
  });
  while (__atomic_load_n(&f.v()->ctl->reader_sleeping, __ATOMIC_ACQUIRE) == MYDEV_RING_READER_AWAKE)
    usleep(100);
  // The reader may be between announcing the sleep and poll(): signal until it returns.
  for (int i = 0; i < 1000 && !done.load(); ++i) {
    pthread_kill(reader.native_handle(), SIGUSR1);
    usleep(1000);
  }
  reader.join();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(result, MYDEV_RING_WAIT_SIGNAL);
  EXPECT_LT(waited_ns, 5'000'000'000);
  EXPECT_EQ(f.v()->ctl->reader_sleeping, MYDEV_RING_READER_AWAKE);
}

TEST(RingWake, WaitResults) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = true});
  EXPECT_EQ(mydev_ring_wait(f.v(), f.producer->event_fd(), -1, 0), MYDEV_RING_WAIT_TIMEOUT);

  // Data published before the reader announced its sleep: no poll().
  ASSERT_TRUE(Write(*f.producer, 0));
  f.producer->Publish(0);
  EXPECT_EQ(mydev_ring_wait(f.v(), f.producer->event_fd(), -1, 10000), MYDEV_RING_WAIT_READY);
  EXPECT_EQ(Drain(f.v()), std::vector<uint64_t>{0});

  // The eventfd written (a wake the reader missed): woken and drained.
  const uint64_t one = 1;
  ASSERT_EQ(write(f.producer->event_fd(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  EXPECT_EQ(mydev_ring_wait(f.v(), f.producer->event_fd(), -1, 10000), MYDEV_RING_WAIT_WOKEN);
  EXPECT_FALSE(Readable(f.producer->event_fd()));

  // The liveness fd hung up.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  close(sv[1]);
  EXPECT_EQ(mydev_ring_wait(f.v(), f.producer->event_fd(), sv[0], 10000), MYDEV_RING_WAIT_LIVENESS);
  close(sv[0]);

  // Closed: never sleeps, even once the close's eventfd write is drained.
  f.producer->Close(MYDEV_RING_CLOSE_SHUTDOWN);
  EXPECT_EQ(mydev_ring_wait(f.v(), f.producer->event_fd(), -1, 10000), MYDEV_RING_WAIT_READY);
  EXPECT_TRUE(Readable(f.producer->event_fd()));
  EXPECT_EQ(f.v()->ctl->reader_sleeping, MYDEV_RING_READER_AWAKE);

  // A bad event fd is an error with errno, not a wake-up.
  Fixture g = Make();
  errno = 0;
  EXPECT_EQ(mydev_ring_wait(g.v(), -1, -1, 0), MYDEV_RING_WAIT_TIMEOUT) << "fd -1 is ignored";
  int closed_fd = dup(g.producer->event_fd());
  close(closed_fd);
  EXPECT_EQ(mydev_ring_wait(g.v(), closed_fd, -1, 10000), MYDEV_RING_WAIT_ERROR);
  EXPECT_EQ(errno, EBADF);
}

// ---------------------------------------------------------------- gauges

// Bytes published and not released: what fill_bytes() must say.
uint64_t Waiting(Fixture& f) {
  return f.reader.header()->producer_pos -
         __atomic_load_n(&f.v()->ctl->consumer_pos, __ATOMIC_RELAXED);
}

TEST(RingGauges, FillFollowsPublishAndRelease) {
  Fixture f = Make();
  EXPECT_EQ(f.producer->fill_bytes(), 0u);
  EXPECT_EQ(f.producer->high_water_bytes(), 0u);
  for (uint64_t seq = 0; seq < 10; ++seq) ASSERT_TRUE(Write(*f.producer, seq));
  EXPECT_EQ(f.producer->fill_bytes(), 0u) << "written but not published";
  f.producer->Publish(0);
  const uint64_t ten = f.reader.header()->producer_pos;
  ASSERT_GT(ten, 0u);
  EXPECT_EQ(f.producer->fill_bytes(), ten);
  EXPECT_EQ(f.producer->high_water_bytes(), ten);
  // The reader takes 4 and releases them: the fill drops, the mark stays.
  for (int i = 0; i < 4; ++i) ASSERT_NE(mydev_ring_next(f.v()), nullptr);
  mydev_ring_release(f.v());
  EXPECT_EQ(f.producer->fill_bytes(), Waiting(f));
  EXPECT_EQ(f.producer->fill_bytes(), ten - f.v()->consumer_pos);
  EXPECT_EQ(f.producer->high_water_bytes(), ten);
  Drain(f.v());
  EXPECT_EQ(f.producer->fill_bytes(), 0u);
  EXPECT_EQ(f.producer->high_water_bytes(), ten);
  // Fewer bytes than the mark waiting again: the mark does not move.
  for (uint64_t seq = 10; seq < 15; ++seq) ASSERT_TRUE(Write(*f.producer, seq));
  f.producer->Publish(0);
  EXPECT_EQ(f.producer->fill_bytes(), Waiting(f));
  EXPECT_EQ(f.producer->high_water_bytes(), ten);
  // More than the mark: it is the exact fill, not the bytes written since the
  // writer last read the consumer position.
  for (uint64_t seq = 15; seq < 100; ++seq) ASSERT_TRUE(Write(*f.producer, seq));
  f.producer->Publish(0);
  EXPECT_EQ(f.producer->high_water_bytes(), Waiting(f));
  EXPECT_LT(f.producer->high_water_bytes(), f.reader.header()->producer_pos);
}

TEST(RingGauges, FullRingMarksHighWater) {
  Fixture f = Make();
  uint64_t seq = 0;
  while (Write(*f.producer, seq)) ++seq;
  f.producer->Publish(0);
  EXPECT_EQ(f.producer->fill_bytes(), f.reader.header()->producer_pos);
  EXPECT_GT(f.producer->high_water_bytes(), kRing - 256);
  EXPECT_LE(f.producer->high_water_bytes(), kRing);
  Drain(f.v());
  EXPECT_EQ(f.producer->fill_bytes(), 0u);
  EXPECT_GT(f.producer->high_water_bytes(), kRing - 256);
}

// The mark equals the largest fill seen right after any Publish, whatever the
// mix of writes, publishes, reads and releases, over many laps.
TEST(RingGauges, HighWaterIsExactOverRandomTraffic) {
  Fixture f = Make();
  std::mt19937_64 rng(7);
  uint64_t seq = 0, want = 0;
  for (int step = 0; step < 20000; ++step) {
    const int writes = static_cast<int>(rng() % 64);
    for (int i = 0; i < writes; ++i) Write(*f.producer, seq++);
    f.producer->Publish(0);
    want = std::max(want, Waiting(f));
    ASSERT_EQ(f.producer->high_water_bytes(), want) << "step " << step;
    ASSERT_EQ(f.producer->fill_bytes(), Waiting(f));
    // Stretches of a reader that keeps up and of one that nearly stalls.
    const int reads = static_cast<int>(rng() % ((step / 500) % 2 == 0 ? 80 : 8));
    for (int i = 0; i < reads && mydev_ring_next(f.v()) != nullptr; ++i) {
    }
    if (rng() % 3 != 0) mydev_ring_release(f.v());
    ASSERT_EQ(f.v()->corrupt, 0);
  }
  EXPECT_GT(f.reader.header()->producer_pos, 3 * kRing) << "several laps";
  EXPECT_GT(f.producer->packets_dropped(), 0u) << "the ring was full at times";
  EXPECT_GT(want, kRing - 256);
}

TEST(RingGauges, FillIsClampedWhateverTheClientWrites) {
  Fixture f = Make();
  auto* ctl = static_cast<mydev_ring_control*>(f.reader.ctl_map());
  uint64_t seq = 0;
  while (f.reader.header()->producer_pos < 2 * kRing + 1000) {
    for (int i = 0; i < 100; ++i) Write(*f.producer, seq++);
    f.producer->Publish(0);
    Drain(f.v());
  }
  for (int i = 0; i < 100; ++i) Write(*f.producer, seq++);
  f.producer->Publish(0);
  const uint64_t prod = f.reader.header()->producer_pos;
  const uint64_t mark = f.producer->high_water_bytes();
  struct Case {
    uint64_t consumer, fill;
  } cases[] = {
      {prod + 8, 0},                 // ahead of the writer
      {~uint64_t{0}, kRing},         // as far behind as ahead: read as behind, full
      {prod - kRing - 4096, kRing},  // behind the window: a full ring
      {0, kRing},                    // ditto
      {uint64_t{1} << 63, 0},        // read as ahead: empty
      {prod - 800, 800},             // inside the window: taken as is
  };
  for (const Case& c : cases) {
    __atomic_store_n(&ctl->consumer_pos, c.consumer, __ATOMIC_RELAXED);
    EXPECT_EQ(f.producer->fill_bytes(), c.fill) << "consumer " << c.consumer;
  }
  EXPECT_EQ(f.producer->high_water_bytes(), mark) << "reading the gauge changes nothing";
  EXPECT_EQ(f.reader.header()->producer_pos, prod);
}

TEST(RingGauges, WakeupsCountEventfdWrites) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = true});
  uint64_t count = 0;
  for (uint64_t seq = 0; seq < 100; ++seq) {  // the reader stays awake: no write
    ASSERT_TRUE(Write(*f.producer, seq));
    f.producer->Publish(0);
  }
  EXPECT_EQ(f.producer->wakeups(), 0u);
  Drain(f.v());
  for (uint64_t seq = 100; seq < 105; ++seq) {  // asleep each time: one write each
    ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
    ASSERT_TRUE(Write(*f.producer, seq));
    f.producer->Publish(0);
    f.producer->Publish(0);  // already woken: no second write
    ASSERT_TRUE(Readable(f.producer->event_fd()));
    ASSERT_EQ(::read(f.producer->event_fd(), &count, sizeof count),
              static_cast<ssize_t>(sizeof count));
    EXPECT_EQ(count, 1u);
    Drain(f.v());
  }
  EXPECT_EQ(f.producer->wakeups(), 5u);
  ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
  f.producer->Publish(0);  // nothing waiting: no write
  EXPECT_EQ(f.producer->wakeups(), 5u);
  f.producer->Close(MYDEV_RING_CLOSE_SHUTDOWN);
  EXPECT_EQ(f.producer->wakeups(), 6u) << "Close writes the eventfd too";
}

// ---------------------------------------------------------------- shared rings

// A reader of member `m` of f's ring.
MappedRing MapMember(RingProducer& ring, int m) {
  auto mapped = MapRingForReading(ring.ring_fd(), ring.ctl_fd(m));
  EXPECT_TRUE(mapped.ok()) << mapped.status();
  return std::move(*mapped);
}

bool WriteSeqFor(RingProducer& ring, uint32_t members, uint64_t seq) {
  const uint32_t caplen = CaplenFor(seq);
  std::vector<uint8_t> p = PayloadFor(seq, caplen);
  return ring.WriteFor(members, 1000 + seq, caplen + 4, MYDEV_REC_DIR_IN, p.data(), caplen);
}

TEST(SharedRing, EachMemberReadsItsRecordsInOrderAndASharedOneIsWrittenOnce) {
  Fixture f = Make();
  absl::StatusOr<int> b = f.producer->AddMember({});
  absl::StatusOr<int> c = f.producer->AddMember({});
  ASSERT_TRUE(b.ok() && c.ok());
  EXPECT_EQ(*b, 1);
  EXPECT_EQ(*c, 2);
  EXPECT_EQ(f.producer->member_count(), 3);
  MappedRing rb = MapMember(*f.producer, *b), rc = MapMember(*f.producer, *c);
  EXPECT_EQ(rb.view()->member, 1u);
  // seq 0: members 0 and 1; seq 1: member 2 only; seq 2: all three.
  ASSERT_TRUE(WriteSeqFor(*f.producer, 1u << 0 | 1u << *b, 0));
  ASSERT_TRUE(WriteSeqFor(*f.producer, 1u << *c, 1));
  const uint64_t used_before = f.producer->write_pos();
  ASSERT_TRUE(WriteSeqFor(*f.producer, 1u << 0 | 1u << *b | 1u << *c, 2));
  EXPECT_EQ(f.producer->write_pos() - used_before, MYDEV_ALIGN8(kHdr + CaplenFor(2)))
      << "one record for three members";
  f.producer->Publish(0);
  EXPECT_EQ(Drain(f.v()), (std::vector<uint64_t>{0, 2}));
  EXPECT_EQ(Drain(rb.view()), (std::vector<uint64_t>{0, 2}));
  EXPECT_EQ(Drain(rc.view()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(f.producer->packets_received(0), 2u);
  EXPECT_EQ(f.producer->packets_received(*b), 2u);
  EXPECT_EQ(f.producer->packets_received(*c), 2u);
  EXPECT_EQ(f.producer->bytes_received(*c), CaplenFor(1) + CaplenFor(2));
  EXPECT_EQ(mydev_ring_counters(rc.view())->packets_received, 2u) << "its own slot";
  EXPECT_EQ(mydev_ring_counters(rc.view())->bytes_received, CaplenFor(1) + CaplenFor(2));
}

TEST(SharedRing, TheSlowestMemberHoldsTheRoomAndLeavingFreesIt) {
  Fixture f = Make();
  absl::StatusOr<int> b = f.producer->AddMember({});
  ASSERT_TRUE(b.ok());
  MappedRing rb = MapMember(*f.producer, *b);
  uint64_t seq = 0, written = 0;
  while (WriteSeqFor(*f.producer, 0b11, seq)) ++seq, ++written;
  f.producer->Publish(0);
  EXPECT_EQ(f.producer->packets_dropped(0), 1u);
  EXPECT_EQ(f.producer->packets_dropped(*b), 1u);
  EXPECT_EQ(Drain(f.v()).size(), written) << "member 0 reads everything";
  // Member 1 has read nothing: still no room.
  EXPECT_FALSE(WriteSeqFor(*f.producer, 1u, ++seq));
  EXPECT_EQ(f.producer->packets_dropped(0), 2u);
  EXPECT_EQ(f.producer->packets_dropped(*b), 1u) << "not its record";
  f.producer->Publish(0);
  f.producer->RemoveMember(*b);
  EXPECT_EQ(f.producer->member_count(), 1);
  EXPECT_EQ(f.producer->ctl_fd(*b), -1);
  EXPECT_TRUE(WriteSeqFor(*f.producer, 1u, ++seq)) << "the one that held the room left";
  EXPECT_FALSE(WriteSeqFor(*f.producer, 1u << *b, ++seq)) << "a free slot takes nothing";
}

TEST(SharedRing, ANewMemberReadsOnlyWhatIsPublishedAfterItJoined) {
  Fixture f = Make();
  for (uint64_t seq = 0; seq < 10; ++seq) ASSERT_TRUE(Write(*f.producer, seq));
  f.producer->Publish(0);
  ASSERT_TRUE(Write(*f.producer, 10));  // written, not yet published
  absl::StatusOr<int> b = f.producer->AddMember({});
  ASSERT_TRUE(b.ok());
  MappedRing rb = MapMember(*f.producer, *b);
  ASSERT_TRUE(WriteSeqFor(*f.producer, 0b11, 11));
  f.producer->Publish(0);
  EXPECT_EQ(Drain(rb.view()), (std::vector<uint64_t>{11}));
  EXPECT_EQ(Drain(f.v()).size(), 12u);
  EXPECT_EQ(f.producer->fill_bytes(*b), 0u);
}

TEST(SharedRing, SixteenMembersAtMostAndAFreedSlotIsReusedWithZeroedCounters) {
  Fixture f = Make();
  std::vector<int> slots;
  for (int i = 1; i < RingProducer::kMaxMembers; ++i) {
    absl::StatusOr<int> m = f.producer->AddMember({});
    ASSERT_TRUE(m.ok()) << m.status();
    slots.push_back(*m);
  }
  absl::StatusOr<int> extra = f.producer->AddMember({});
  EXPECT_EQ(extra.status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(WriteSeqFor(*f.producer, 1u << 5, 0));
  f.producer->Publish(0);
  EXPECT_EQ(f.v()->hdr->members[5].packets_received, 1u);
  f.producer->RemoveMember(5);
  absl::StatusOr<int> again = f.producer->AddMember({});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 5);
  EXPECT_EQ(f.v()->hdr->members[5].packets_received, 0u);
  EXPECT_EQ(f.producer->packets_received(5), 0u);
}

TEST(SharedRing, EachMemberIsWokenByItsOwnPolicyAndAllByTheClose) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = false});
  absl::StatusOr<int> b = f.producer->AddMember({.immediate = true});
  ASSERT_TRUE(b.ok());
  MappedRing rb = MapMember(*f.producer, *b);
  ASSERT_EQ(mydev_ring_prepare_sleep(f.v()), 1);
  ASSERT_EQ(mydev_ring_prepare_sleep(rb.view()), 1);
  ASSERT_TRUE(WriteSeqFor(*f.producer, 0b11, 0));
  f.producer->Publish(0);
  EXPECT_FALSE(Readable(f.producer->event_fd(0))) << "a quarter of the ring is not waiting";
  EXPECT_TRUE(Readable(f.producer->event_fd(*b))) << "immediate";
  f.producer->Close(MYDEV_RING_CLOSE_SHUTDOWN);
  EXPECT_TRUE(Readable(f.producer->event_fd(0)));
  EXPECT_TRUE(mydev_ring_closed(rb.view()));
}

TEST(SharedRing, AReaderRefusesACtlPageNamingNoSlot) {
  Fixture f = Make();
  auto* ctl = static_cast<mydev_ring_control*>(f.reader.ctl_map());
  ctl->member = RingProducer::kMaxMembers;
  mydev_ring_view v;
  EXPECT_EQ(mydev_ring_view_init(&v, f.reader.ring_map(), f.reader.ring_map_bytes(), ctl), -1);
  ctl->member = 0;
  EXPECT_EQ(mydev_ring_view_init(&v, f.reader.ring_map(), f.reader.ring_map_bytes(), ctl), 0);
}

// ---------------------------------------------------------------- threads

// A producer thread and a consumer thread; the consumer sleeps on the eventfd
// when the ring is empty. Returns the seqs the producer accepted; checks that
// the consumer got exactly those, in order and intact.
void RunThreads(uint64_t packets, bool lossless, int consumer_pause_every) {
  Fixture f = Make();
  f.producer->SetWakePolicy({.immediate = false, .wake_bytes = 64 * 1024, .timeout_ns = 200000});
  std::vector<uint8_t> accepted(packets, 0), received(packets, 0);
  std::thread consumer([&] {
    mydev_ring_view* v = f.v();
    uint64_t last = ~uint64_t{0};
    uint64_t n = 0;
    for (;;) {
      while (const mydev_ring_record* r = mydev_ring_next(v)) {
        const uint64_t seq = CheckRecord(r);
        ASSERT_LT(seq, packets);
        ASSERT_TRUE(last == ~uint64_t{0} || seq > last) << seq << " after " << last;
        received[seq] = 1;
        last = seq;
        if (consumer_pause_every > 0 && ++n % consumer_pause_every == 0) usleep(50);
      }
      ASSERT_EQ(v->corrupt, 0);
      mydev_ring_release(v);
      if (mydev_ring_closed(v)) {
        if (!mydev_ring_has_data(v)) return;
        continue;
      }
      auto woke = WaitForData(f.reader, f.producer->event_fd(), 1000);
      ASSERT_TRUE(woke.ok()) << woke.status();
    }
  });
  for (uint64_t seq = 0; seq < packets; ++seq) {
    if (lossless) {
      while (!f.producer->HasRoom(CaplenFor(seq))) {
        f.producer->Publish(NowNs());
        std::this_thread::yield();
      }
    }
    accepted[seq] = Write(*f.producer, seq);
    if (seq % 16 == 15) f.producer->Publish(NowNs());
  }
  f.producer->Close(MYDEV_RING_CLOSE_SHUTDOWN);
  consumer.join();
  uint64_t dropped = 0;
  for (uint64_t s = 0; s < packets; ++s) {
    ASSERT_EQ(accepted[s], received[s]) << "seq " << s;
    dropped += !accepted[s];
  }
  EXPECT_EQ(dropped, f.producer->packets_dropped());
  EXPECT_EQ(f.reader.header()->members[0].packets_dropped, dropped);
  EXPECT_EQ(f.reader.header()->members[0].packets_received, packets - dropped);
  if (lossless) {
    EXPECT_EQ(dropped, 0u);
  }
  if (consumer_pause_every > 0) {
    EXPECT_GT(dropped, 0u) << "the slow reader should lose some";
    EXPECT_GT(f.producer->high_water_bytes(), kRing - 2 * 256) << "it was full";
  }
  EXPECT_LE(f.producer->high_water_bytes(), kRing);
  EXPECT_EQ(f.producer->fill_bytes(), 0u) << "the reader read everything";
  EXPECT_GE(f.producer->wakeups(), 1u) << "at least the close";
}

TEST(RingThreads, ReaderThatKeepsUpLosesNothing) { RunThreads(3'000'000, true, 0); }

TEST(RingThreads, SlowReaderDropsAreCountedExactly) { RunThreads(1'000'000, false, 100); }

}  // namespace
}  // namespace mydev::shm
