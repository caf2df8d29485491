// ring_scribble.cc — `ring-scribble`: a client attacking its own session's
// shared memory: every way to get write access to the read-only ring (which
// must all fail), then garbage in every byte of the ctl page it may write.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#include "shm/ring_consumer.h"
#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {

// Writes garbage into every byte of the mappings it can write (the ctl page)
// for --seconds, and tries to get write access to the ring.
int RingScribble(Capture::Stub* stub) {
  auto s = OpenAttached(stub);
  if (!s) return 1;
  auto& [o, a] = *s;
  const size_t ring_bytes = a.ring.ring_map_bytes();
  std::string line = "attack=ring-scribble";
  auto err = [](int rc) {
    return rc == 0 ? std::string("0") : std::string(strerrorname_np(errno));
  };
  // 1. Upgrade the read-only mapping.
  line += " mprotect_write=" +
          err(mprotect(const_cast<void*>(a.ring.ring_map()), ring_bytes, PROT_READ | PROT_WRITE));
  // 2. A new writable shared mapping of the ring memfd.
  void* w = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, a.ring_fd.get(), 0);
  line += " mmap_write=" + (w == MAP_FAILED ? std::string(strerrorname_np(errno)) : "0");
  if (w != MAP_FAILED) munmap(w, ring_bytes);
  // 3. A read-only shared mapping, then mprotect it writable.
  void* r = mmap(nullptr, ring_bytes, PROT_READ, MAP_SHARED, a.ring_fd.get(), 0);
  if (r != MAP_FAILED) {
    line += " mmap_read_then_mprotect=" + err(mprotect(r, ring_bytes, PROT_READ | PROT_WRITE));
    munmap(r, ring_bytes);
  }
  // 4. write(2), ftruncate, reopen via /proc for writing, remove the seals.
  const char junk[64] = {1};
  line += " pwrite=" + std::string(pwrite(a.ring_fd.get(), junk, sizeof junk, 4096) < 0
                                       ? strerrorname_np(errno)
                                       : "0");
  line += " ftruncate_shrink=" + err(ftruncate(a.ring_fd.get(), 4096));
  line += " ftruncate_grow=" + err(ftruncate(a.ring_fd.get(), ring_bytes * 2));
  std::string proc = "/proc/self/fd/" + std::to_string(a.ring_fd.get());
  int rw = open(proc.c_str(), O_RDWR);
  line += " reopen_rdwr=" + std::string(rw < 0 ? strerrorname_np(errno) : "0");
  if (rw >= 0) {
    void* w2 = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    line += " reopen_mmap_write=" + (w2 == MAP_FAILED ? std::string(strerrorname_np(errno)) : "0");
    if (w2 != MAP_FAILED) munmap(w2, ring_bytes);
    line += " reopen_pwrite=" +
            std::string(pwrite(rw, junk, sizeof junk, 4096) < 0 ? strerrorname_np(errno) : "0");
    close(rw);
  }
  // 5. Scribble on the ctl page.
  auto* ctl = static_cast<uint8_t*>(a.ring.ctl_map());
  auto* c = reinterpret_cast<volatile uint64_t*>(ctl);
  const mydev_ring_header* h = a.ring.header();
  std::mt19937_64 rng(std::random_device{}());
  const int64_t end = NowMs() + static_cast<int64_t>(SecondsOr(2) * 1000);
  uint64_t writes = 0;
  const uint64_t eventfd_one = 1;
  while (!StopRequested() && NowMs() < end) {
    const uint64_t prod = __atomic_load_n(&h->producer_pos, __ATOMIC_ACQUIRE);
    const uint64_t values[] = {~0ull,
                               0,
                               rng(),
                               prod + 1,
                               prod + (1ull << 40),
                               prod - 1,
                               prod - h->data_bytes - 8,
                               prod - h->data_bytes * 3,
                               prod,
                               1ull << 63};
    for (uint64_t v : values) {
      c[0] = v;  // consumer_pos
      ++writes;
    }
    for (size_t i = 0; i < MYDEV_RING_CTL_BYTES / 8; ++i) {  // every byte of the page
      c[i] = rng();
      ++writes;
    }
    (void)!write(a.event.get(), &eventfd_one, sizeof eventfd_one);
    if ((writes & 0xfff) < 600) std::this_thread::yield();
  }
  mydev::v1::SessionStats st;
  grpc::Status after = GetStats(stub, Ref(o), &st);
  line += " writes=" + std::to_string(writes) + " after=" + CodeName(after.error_code()) +
          " session_received=" + std::to_string(st.packets_received()) +
          " session_dropped=" + std::to_string(st.packets_dropped());
  Print(line);
  return 0;
}

}  // namespace mydev::hostile
