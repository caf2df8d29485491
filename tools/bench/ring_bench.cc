// ring_bench.cc — throughput of the session ring (one producer thread, one
// consumer thread, as mydevd and a client use it) against a same-run baseline:
// a plain single-thread memcpy of the same packets into a buffer of the same
// size. The ring must stay within a small factor of memcpy per packet.
//
//   bazel run -c opt //tools/bench:ring_bench -- --packets=5000000 --ring_mb=4
//
// The producer never drops: it waits for room (RingProducer::HasRoom), so the
// figure is the ring's sustained rate. The consumer reads every record's
// sequence number (checked) and releases after each drained batch.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shm/ring_consumer.h"
#include "shm/ring_producer.h"

ABSL_FLAG(uint64_t, packets, 5'000'000, "packets per run");
ABSL_FLAG(uint64_t, ring_mb, 4, "ring data area in MiB (power of two, >= 1)");
ABSL_FLAG(int, batch, 32, "records per Publish");
ABSL_FLAG(int, repeat, 3, "runs per size; the best is reported");
ABSL_FLAG(std::vector<std::string>, sizes, std::vector<std::string>({"64", "1514"}),
          "packet sizes in bytes");

namespace mydev::shm {
namespace {

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

struct Result {
  double seconds = 0;
  uint64_t dropped = 0;
  bool ok = true;
};

Result RunRing(uint64_t packets, uint32_t size, uint64_t ring_bytes, int batch) {
  Result res;
  auto ring = RingProducer::Create({.data_bytes = ring_bytes, .dlt = 1});
  if (!ring.ok()) {
    std::fprintf(stderr, "ring: %s\n", std::string(ring.status().message()).c_str());
    res.ok = false;
    return res;
  }
  auto mapped = MapRingForReading((*ring)->ring_fd(), (*ring)->ctl_fd());
  if (!mapped.ok()) {
    std::fprintf(stderr, "map: %s\n", std::string(mapped.status().message()).c_str());
    res.ok = false;
    return res;
  }
  std::atomic<bool> go{false};
  std::atomic<bool> in_order{true};
  std::thread consumer([&] {
    mydev_ring_view* v = mapped->view();
    while (!go.load(std::memory_order_acquire)) {
    }
    uint64_t expect = 0;
    while (expect < packets) {
      while (const mydev_ring_record* r = mydev_ring_next(v)) {
        uint64_t seq;
        std::memcpy(&seq, mydev_ring_record_data(r), sizeof seq);
        if (seq != expect || r->caplen != size) in_order.store(false, std::memory_order_relaxed);
        ++expect;
      }
      mydev_ring_release(v);
      if (v->corrupt) {
        in_order = false;
        return;
      }
    }
  });
  std::vector<uint8_t> pkt(size, 0x5a);
  RingProducer& p = **ring;
  go.store(true, std::memory_order_release);
  const int64_t t0 = NowNs();
  for (uint64_t seq = 0; seq < packets; ++seq) {
    std::memcpy(pkt.data(), &seq, sizeof seq);
    while (!p.HasRoom(size)) p.Publish(0);
    p.Write(seq, size, MYDEV_REC_DIR_IN, pkt.data(), size);
    if (static_cast<int>(seq % batch) == batch - 1) p.Publish(0);
  }
  p.Publish(0);
  consumer.join();
  res.seconds = (NowNs() - t0) / 1e9;
  res.dropped = p.packets_dropped();
  res.ok = in_order.load();
  return res;
}

// The baseline: the same bytes copied once into a buffer of the ring's size,
// at the offsets the ring would use.
Result RunMemcpy(uint64_t packets, uint32_t size, uint64_t ring_bytes) {
  Result res;
  std::unique_ptr<uint8_t[]> buf(new uint8_t[ring_bytes]);
  std::memset(buf.get(), 0, ring_bytes);
  std::vector<uint8_t> pkt(size, 0x5a);
  const uint64_t step = MYDEV_ALIGN8(sizeof(mydev_ring_record) + size);
  uint64_t off = 0;
  const int64_t t0 = NowNs();
  for (uint64_t seq = 0; seq < packets; ++seq) {
    std::memcpy(pkt.data(), &seq, sizeof seq);
    if (off + step > ring_bytes) off = 0;
    std::memcpy(buf.get() + off, pkt.data(), size);
    asm volatile("" : : "r"(buf.get() + off) : "memory");  // keep every copy
    off += step;
  }
  res.seconds = (NowNs() - t0) / 1e9;
  return res;
}

}  // namespace
}  // namespace mydev::shm

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace mydev::shm;
  const uint64_t packets = absl::GetFlag(FLAGS_packets);
  const uint64_t ring_bytes = absl::GetFlag(FLAGS_ring_mb) << 20;
  const int batch = std::max(1, absl::GetFlag(FLAGS_batch));
  const int repeat = std::max(1, absl::GetFlag(FLAGS_repeat));
  std::printf("ring %llu MiB, %llu packets per run, publish every %d, best of %d, %u CPUs\n\n",
              static_cast<unsigned long long>(ring_bytes >> 20),
              static_cast<unsigned long long>(packets), batch, repeat,
              std::thread::hardware_concurrency());
  std::printf("%6s | %9s %8s %9s | %9s %8s %9s | %10s\n", "bytes", "ring Mpps", "GB/s", "ns/pkt",
              "copy Mpps", "GB/s", "ns/pkt", "ring/copy");
  std::printf(
      "-------+------------------------------+------------------------------+-----------\n");
  int rc = 0;
  for (const std::string& s : absl::GetFlag(FLAGS_sizes)) {
    const uint32_t size = static_cast<uint32_t>(std::strtoul(s.c_str(), nullptr, 10));
    if (size < 8 || size > RingProducer::kMaxCaplen) {
      std::fprintf(stderr, "packet size %s must be 8..%u\n", s.c_str(), RingProducer::kMaxCaplen);
      return 2;
    }
    Result best_ring, best_copy;
    best_ring.seconds = best_copy.seconds = 1e30;
    for (int i = 0; i < repeat; ++i) {
      Result r = RunRing(packets, size, ring_bytes, batch);
      if (!r.ok || r.dropped != 0) {
        std::fprintf(stderr, "ring run failed (out of order or corrupt: %d, dropped %llu)\n", !r.ok,
                     static_cast<unsigned long long>(r.dropped));
        return 1;
      }
      if (r.seconds < best_ring.seconds) best_ring = r;
      Result c = RunMemcpy(packets, size, ring_bytes);
      if (c.seconds < best_copy.seconds) best_copy = c;
    }
    const double ring_ns = best_ring.seconds * 1e9 / packets;
    const double copy_ns = best_copy.seconds * 1e9 / packets;
    std::printf("%6u | %9.2f %8.2f %9.1f | %9.2f %8.2f %9.1f | %9.2fx\n", size,
                packets / best_ring.seconds / 1e6, packets * size / best_ring.seconds / 1e9,
                ring_ns, packets / best_copy.seconds / 1e6,
                packets * size / best_copy.seconds / 1e9, copy_ns, ring_ns / copy_ns);
  }
  return rc;
}
