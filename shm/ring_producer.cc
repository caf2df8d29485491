// ring_producer.cc — the daemon's (writer's) side of one session ring: memfd
// and eventfd creation, sealing, record writing, publishing and waking.
// The protocol itself is documented in ring_abi.h.
#include "shm/ring_producer.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/numeric/bits.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

// Older glibc headers may lack these (kernel values are stable ABI).
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

namespace mydev::shm {
namespace {

constexpr uint64_t kRecordHeaderBytes = sizeof(mydev_ring_record);
static_assert(kRecordHeaderBytes == 24, "ring_abi.h record header changed");
static_assert(sizeof(mydev_ring_header) <= MYDEV_RING_HEADER_BYTES, "header too big");
static_assert(sizeof(mydev_ring_control) <= MYDEV_RING_CTL_BYTES, "control too big");

// memfd_create with MFD_NOEXEC_SEAL where the kernel knows it (6.3+, avoids a
// kernel warning), plain otherwise.
int CreateMemfd(const char* name) {
  int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  return fd;
}

struct Mapping {
  void* addr = MAP_FAILED;
  size_t bytes = 0;
};

absl::Status CreateMappedMemfd(const char* name, size_t bytes, UniqueFd* fd, Mapping* map) {
  UniqueFd f(CreateMemfd(name));
  if (!f.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("memfd_create(", name, ")"));
  if (::ftruncate(f.get(), static_cast<off_t>(bytes)) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("ftruncate(", name, ", ", bytes, ")"));
  // Not populated (no MAP_POPULATE): pages are allocated, zeroed and charged
  // to mydevd's memory cgroup as the writer first touches them, so opening a
  // 256 MiB ring costs the caller's RPC microseconds, not the zeroing of 256 MiB.
  void* addr = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f.get(), 0);
  if (addr == MAP_FAILED)
    return absl::ErrnoToStatus(errno, absl::StrCat("mmap(", name, ", ", bytes, " bytes)"));
  *fd = std::move(f);
  map->addr = addr;
  map->bytes = bytes;
  return absl::OkStatus();
}

}  // namespace

struct RingProducer::Impl {
  UniqueFd ring_fd, ctl_fd, event_fd;
  Mapping ring_map, ctl_map;
  mydev_ring_header* hdr = nullptr;
  uint8_t* data = nullptr;
  mydev_ring_control* ctl = nullptr;
  uint64_t data_bytes = 0;

  // Writer-local state (one writer: no locking).
  uint64_t write_pos = 0;      // next record goes here (unpublished beyond published_pos)
  uint64_t published_pos = 0;  // last value stored to hdr->producer_pos
  uint64_t write_limit = 0;    // = clamped consumer_pos + data_bytes; write_pos <= write_limit
  bool consumer_loaded_this_batch = false;
  bool dropped_this_batch = false;
  int64_t pending_since_ns = -1;  // first Publish that saw a sleeping reader with data waiting
  bool closed = false;

  uint64_t packets_received = 0, packets_dropped = 0, bytes_received = 0;
  uint64_t high_water = 0;  // the most bytes seen waiting at a Publish
  uint64_t wakeups = 0;     // eventfd writes

  WakePolicy policy;
  uint64_t wake_bytes = 0;  // effective threshold

  ~Impl() {
    if (ring_map.addr != MAP_FAILED) ::munmap(ring_map.addr, ring_map.bytes);
    if (ctl_map.addr != MAP_FAILED) ::munmap(ctl_map.addr, ctl_map.bytes);
  }

  // A consumer position as the client wrote it (untrusted), clamped to
  // [write_pos - data_bytes, published_pos].
  uint64_t ClampConsumer(uint64_t cons) const {
    const uint64_t lowest = write_pos - data_bytes;  // modular: fine while write_pos < data_bytes
    const uint64_t offset = cons - lowest;
    if (offset > published_pos - lowest)  // outside the window: behind it or ahead of it
      cons = static_cast<int64_t>(offset) < 0 ? lowest : published_pos;
    return cons;
  }

  // Loads the client's consumer position (untrusted) once and clamps it
  // (ClampConsumer); never moves the limit backwards.
  uint64_t LoadConsumer() {
    // (2): pairs with the store-release in mydev_ring_release().
    const uint64_t cons = ClampConsumer(__atomic_load_n(&ctl->consumer_pos, __ATOMIC_ACQUIRE));
    if (static_cast<int64_t>(cons + data_bytes - write_limit) > 0) write_limit = cons + data_bytes;
    return cons;
  }

  // Published bytes beyond the last consumer position read (write_limit -
  // data_bytes, which only moves forward): an upper bound of the bytes
  // waiting, since the reader only moves forward too. 0..data_bytes.
  uint64_t KnownFill() const { return published_pos - (write_limit - data_bytes); }

  // Keeps high_water >= the bytes waiting right after a Publish, exactly:
  // when the upper bound is not above the mark, nothing can be; otherwise the
  // consumer position is re-read (which also refreshes write_limit) and the
  // exact fill taken.
  void TrackHighWater() {
    if (KnownFill() <= high_water) return;
    LoadConsumer();
    if (KnownFill() > high_water) high_water = KnownFill();
  }

  // Bytes needed at write_pos for a record of rec_bytes (plus the tail skipped
  // or padded when it does not fit before the end of the data area).
  uint64_t BytesNeeded(uint64_t rec_bytes) const {
    const uint64_t to_end = data_bytes - (write_pos & (data_bytes - 1));
    return to_end < rec_bytes ? to_end + rec_bytes : rec_bytes;
  }

  void WakeReader() {
    uint32_t was =
        __atomic_exchange_n(&ctl->reader_sleeping, MYDEV_RING_READER_AWAKE, __ATOMIC_SEQ_CST);
    if (was != MYDEV_RING_READER_AWAKE) SignalEventfd();
    pending_since_ns = -1;
  }

  void SignalEventfd() {
    const uint64_t one = 1;
    // EAGAIN only when the counter is near overflow: the reader is woken anyway.
    ssize_t n;
    do n = ::write(event_fd.get(), &one, sizeof one);
    while (n < 0 && errno == EINTR);
    ++wakeups;
  }

  void StoreCounters() {
    __atomic_store_n(&hdr->packets_received, packets_received, __ATOMIC_RELAXED);
    __atomic_store_n(&hdr->packets_dropped, packets_dropped, __ATOMIC_RELAXED);
    __atomic_store_n(&hdr->bytes_received, bytes_received, __ATOMIC_RELAXED);
  }

  void PublishPosition() {
    if (write_pos != published_pos) {
      // (1): pairs with the load-acquire in mydev_ring_next() / mydev_ring_has_data().
      __atomic_store_n(&hdr->producer_pos, write_pos, __ATOMIC_RELEASE);
      published_pos = write_pos;
    }
    StoreCounters();
  }
};

absl::StatusOr<std::unique_ptr<RingProducer>> RingProducer::Create(const RingOptions& options) {
  const uint64_t n = options.data_bytes;
  if (n < kMinDataBytes || n > kMaxDataBytes || !absl::has_single_bit(n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ring data size ", n, " must be a power of two between ", kMinDataBytes,
                     " and ", kMaxDataBytes, " bytes"));
  }
  auto impl = std::make_unique<Impl>();
  impl->data_bytes = n;
  const size_t ring_bytes = MYDEV_RING_HEADER_BYTES + n;
  absl::Status s = CreateMappedMemfd("mydev-ring", ring_bytes, &impl->ring_fd, &impl->ring_map);
  if (!s.ok()) return s;
  s = CreateMappedMemfd("mydev-ring-ctl", MYDEV_RING_CTL_BYTES, &impl->ctl_fd, &impl->ctl_map);
  if (!s.ok()) return s;

  impl->hdr = static_cast<mydev_ring_header*>(impl->ring_map.addr);
  impl->data = static_cast<uint8_t*>(impl->ring_map.addr) + MYDEV_RING_HEADER_BYTES;
  impl->ctl = static_cast<mydev_ring_control*>(impl->ctl_map.addr);
  // Fresh memfd pages are zero: positions, counters, state (OPEN), flag.
  impl->hdr->magic = MYDEV_RING_MAGIC;
  impl->hdr->version = MYDEV_RING_VERSION;
  impl->hdr->header_bytes = MYDEV_RING_HEADER_BYTES;
  impl->hdr->dlt = options.dlt;
  impl->hdr->data_bytes = n;
  impl->write_limit = n;

  // Seal after mapping: our RW mapping stays writable, new ones cannot be.
  if (::fcntl(impl->ring_fd.get(), F_ADD_SEALS,
              F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    // Kernels before 5.1 refuse F_SEAL_FUTURE_WRITE: the ring is then only
    // protected against resizing (the client could map it writable).
    if (errno != EINVAL ||
        ::fcntl(impl->ring_fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
      return absl::ErrnoToStatus(errno, "sealing the ring memfd");
  }
  // The client writes the ctl page; it only must not resize it under us.
  if (::fcntl(impl->ctl_fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return absl::ErrnoToStatus(errno, "sealing the ring control memfd");

  impl->event_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->event_fd.valid()) return absl::ErrnoToStatus(errno, "eventfd");

  std::unique_ptr<RingProducer> ring(new RingProducer());
  ring->impl_ = std::move(impl);
  ring->SetWakePolicy(WakePolicy{});
  return ring;
}

RingProducer::~RingProducer() = default;

void RingProducer::SetWakePolicy(const WakePolicy& policy) {
  Impl& m = *impl_;
  m.policy = policy;
  // 0 means a quarter of the ring; above half the ring the reader could be
  // left asleep on a ring too full for the next record, so cap it there.
  uint64_t wb = policy.wake_bytes == 0 ? m.data_bytes / 4 : policy.wake_bytes;
  m.wake_bytes = wb > m.data_bytes / 2 ? m.data_bytes / 2 : wb;
}

void RingProducer::CountDrops(uint64_t n) {
  Impl& m = *impl_;
  if (m.closed || n == 0) return;
  m.packets_dropped += n;
  m.dropped_this_batch = true;
}

bool RingProducer::Write(uint64_t ts_ns, uint32_t len, uint32_t flags, const uint8_t* data,
                         uint32_t caplen) {
  Impl& m = *impl_;
  if (m.closed) return false;
  if (caplen > kMaxCaplen) {
    ++m.packets_dropped;
    m.dropped_this_batch = true;
    return false;
  }
  const uint64_t rec_bytes = MYDEV_ALIGN8(kRecordHeaderBytes + caplen);
  uint64_t needed = m.BytesNeeded(rec_bytes);
  if (needed > m.write_limit - m.write_pos) {
    if (!m.consumer_loaded_this_batch) {
      m.consumer_loaded_this_batch = true;
      m.LoadConsumer();
    }
    if (needed > m.write_limit - m.write_pos) {
      ++m.packets_dropped;
      m.dropped_this_batch = true;
      return false;
    }
  }
  const uint64_t mask = m.data_bytes - 1;
  uint64_t off = m.write_pos & mask;
  const uint64_t to_end = m.data_bytes - off;
  if (to_end < rec_bytes) {
    if (to_end >= kRecordHeaderBytes) {
      auto* pad = reinterpret_cast<mydev_ring_record*>(m.data + off);
      pad->record_bytes = static_cast<uint32_t>(to_end);
      pad->caplen = 0;
      pad->len = 0;
      pad->flags = MYDEV_REC_PAD;
      pad->ts_ns = 0;
    }  // else: fewer than a header's bytes left, skipped silently (ring_abi.h)
    m.write_pos += to_end;
    off = 0;
  }
  auto* r = reinterpret_cast<mydev_ring_record*>(m.data + off);
  r->record_bytes = static_cast<uint32_t>(rec_bytes);
  r->caplen = caplen;
  r->len = len;
  r->flags = flags & ~MYDEV_REC_PAD;
  r->ts_ns = ts_ns;
  if (caplen != 0) std::memcpy(r + 1, data, caplen);
  m.write_pos += rec_bytes;
  ++m.packets_received;
  m.bytes_received += caplen;
  return true;
}

bool RingProducer::HasRoom(uint32_t caplen) {
  Impl& m = *impl_;
  if (caplen > kMaxCaplen || m.closed) return false;
  const uint64_t needed = m.BytesNeeded(MYDEV_ALIGN8(kRecordHeaderBytes + caplen));
  if (needed <= m.write_limit - m.write_pos) return true;
  m.LoadConsumer();
  return needed <= m.write_limit - m.write_pos;
}

void RingProducer::Publish(int64_t now_ns) {
  Impl& m = *impl_;
  m.PublishPosition();
  const bool dropped = m.dropped_this_batch;
  m.consumer_loaded_this_batch = false;
  m.dropped_this_batch = false;

  // (3): pairs with the fence in mydev_ring_prepare_sleep() (mydev_ring_wait()).
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (__atomic_load_n(&m.ctl->reader_sleeping, __ATOMIC_RELAXED) == MYDEV_RING_READER_AWAKE) {
    // An awake reader sees everything published so far before it sleeps.
    m.pending_since_ns = -1;
    m.TrackHighWater();  // usually a compare; re-reads the consumer position when it must
    return;
  }
  const uint64_t waiting = m.published_pos - m.LoadConsumer();
  if (m.KnownFill() > m.high_water) m.high_water = m.KnownFill();  // exact: just loaded
  if (waiting == 0) {
    m.pending_since_ns = -1;
    return;
  }
  if (m.pending_since_ns < 0) m.pending_since_ns = now_ns;
  const bool due = m.policy.immediate || dropped || waiting >= m.wake_bytes ||
                   (m.policy.timeout_ns > 0 && now_ns - m.pending_since_ns >= m.policy.timeout_ns);
  if (due) m.WakeReader();
}

void RingProducer::Close(uint32_t reason) {
  Impl& m = *impl_;
  if (m.closed) return;
  m.closed = true;
  m.PublishPosition();
  __atomic_store_n(&m.hdr->close_reason, reason, __ATOMIC_RELAXED);
  // (4): pairs with the load-acquire in mydev_ring_closed().
  __atomic_store_n(&m.hdr->state, static_cast<uint32_t>(MYDEV_RING_CLOSED), __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  __atomic_store_n(&m.ctl->reader_sleeping, MYDEV_RING_READER_AWAKE, __ATOMIC_RELAXED);
  // Unconditionally: a reader between its closed-check and its sleep must
  // not miss the close. One syscall per session life.
  m.SignalEventfd();
}

int RingProducer::ring_fd() const { return impl_->ring_fd.get(); }
int RingProducer::ctl_fd() const { return impl_->ctl_fd.get(); }
int RingProducer::event_fd() const { return impl_->event_fd.get(); }
uint64_t RingProducer::data_bytes() const { return impl_->data_bytes; }
uint64_t RingProducer::packets_received() const { return impl_->packets_received; }
uint64_t RingProducer::packets_dropped() const { return impl_->packets_dropped; }
uint64_t RingProducer::bytes_received() const { return impl_->bytes_received; }
uint64_t RingProducer::high_water_bytes() const { return impl_->high_water; }
uint64_t RingProducer::wakeups() const { return impl_->wakeups; }

uint64_t RingProducer::fill_bytes() const {
  const Impl& m = *impl_;
  // Relaxed: a gauge; nothing in the ring is read on the strength of it.
  const uint64_t cons = m.ClampConsumer(__atomic_load_n(&m.ctl->consumer_pos, __ATOMIC_RELAXED));
  return m.published_pos - cons;
}

}  // namespace mydev::shm
