// ring_reader_fuzzer.cc — libFuzzer target for the reader side of the ring
// (ring_abi.h): a client maps a ring the daemon writes, but must survive any
// bytes in it (a daemon bug, a stale mapping). mydev_ring_view_init plus
// mydev_ring_next over a header and data area filled from the fuzz input
// must terminate and never hand out a record that leaves the data area.
//
// Input: [log2 data bytes: 3..16][flags] u64 LE consumer_pos, u64 LE
// producer_pos, then the data area's bytes (repeated to fill it). flags bit0:
// the header's first 64 bytes come from the input too (usually refused by
// view_init). Seeds: testdata/fuzz/ring_reader_fuzzer/ (tools/fuzz.sh).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "shm/ring_abi.h"

namespace {

uint64_t Le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 18) return 0;
  const unsigned shift = 3 + data[0] % 14;  // 8 B .. 64 KiB
  const uint8_t flags = data[1];
  const uint64_t consumer = Le64(data + 2);
  const uint64_t producer = Le64(data + 10);
  data += 18;
  size -= 18;
  const uint64_t data_bytes = uint64_t{1} << shift;

  // Exactly header + data, so ASan flags any read past the data area.
  std::vector<uint8_t> ring(MYDEV_RING_HEADER_BYTES + data_bytes);
  auto* hdr = reinterpret_cast<mydev_ring_header*>(ring.data());
  if ((flags & 1) && size >= 64) {
    std::memcpy(ring.data(), data, 64);
    data += 64;
    size -= 64;
  } else {
    hdr->magic = MYDEV_RING_MAGIC;
    hdr->version = MYDEV_RING_VERSION;
    hdr->header_bytes = MYDEV_RING_HEADER_BYTES;
    hdr->data_bytes = data_bytes;
  }
  hdr->producer_pos = producer;
  uint8_t* area = ring.data() + MYDEV_RING_HEADER_BYTES;
  for (uint64_t i = 0; size != 0 && i < data_bytes; ++i) area[i] = data[i % size];

  mydev_ring_control ctl{};
  ctl.consumer_pos = consumer;
  mydev_ring_view v;
  if (mydev_ring_view_init(&v, ring.data(), ring.size(), &ctl) != 0) return 0;

  // Every step consumes >= 8 bytes of at most data_bytes available: a bound
  // the reader must stay within (it is what makes "must terminate" checkable).
  const uint64_t max_steps = data_bytes / 8 + 1;
  uint64_t steps = 0;
  while (const mydev_ring_record* r = mydev_ring_next(&v)) {
    const uint8_t* begin = reinterpret_cast<const uint8_t*>(r);
    const uint8_t* payload = mydev_ring_record_data(r);
    if (begin < area || payload + r->caplen > area + data_bytes) std::abort();
    if (r->caplen > r->record_bytes - sizeof(mydev_ring_record)) std::abort();
    static volatile uint8_t sink;
    for (uint32_t i = 0; i < r->caplen; ++i) sink = sink ^ payload[i];  // touch every byte
    if (++steps > max_steps) std::abort();
  }
  if (v.consumer_pos - consumer > data_bytes) std::abort();  // never past the producer
  // Records start 8-byte aligned: a misaligned position (a corrupt ctl page)
  // must be reported, not read through (crash-5ce0c712…: consumer_pos 0x6f).
  if ((consumer & 7) != 0 && consumer != producer && (steps != 0 || !v.corrupt)) std::abort();
  mydev_ring_release(&v);
  if (ctl.consumer_pos != v.consumer_pos) std::abort();
  return 0;
}
