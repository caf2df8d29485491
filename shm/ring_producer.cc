// ring_producer.cc — the daemon's (writer's) side of one session ring: memfd
// and eventfd creation, sealing, record writing, publishing and waking.
// The protocol itself is documented in ring_abi.h.
#include "shm/ring_producer.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
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
constexpr int kRingMaxMembers = RingProducer::kMaxMembers;
static_assert(kRingMaxMembers <= 16, "mydev_ring_record.members has 16 bits");

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

  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr != MAP_FAILED) ::munmap(addr, bytes);
  }
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

// One reader of the ring: its ctl page, its eventfd, and the writer's view of
// it (consumer position, wake state, counters).
struct RingMember {
  UniqueFd ctl_fd, event_fd;
  Mapping ctl_map;
  mydev_ring_control* ctl = nullptr;
  uint64_t cons = 0;  // its consumer position as last loaded and clamped; only moves forward
  bool dropped_this_batch = false;
  int64_t pending_since_ns = -1;  // first Publish that saw it asleep with data waiting
  uint64_t packets_received = 0, packets_dropped = 0, bytes_received = 0;
  uint64_t high_water = 0;  // the most bytes seen waiting at a Publish
  uint64_t wakeups = 0;     // eventfd writes
  WakePolicy policy;
  uint64_t wake_bytes = 0;  // effective threshold
};

struct RingProducer::Impl {
  UniqueFd ring_fd;
  Mapping ring_map;
  mydev_ring_header* hdr = nullptr;
  uint8_t* data = nullptr;
  uint64_t data_bytes = 0;
  std::array<std::unique_ptr<RingMember>, kMaxMembers> members;
  uint32_t active = 0;  // bit i: slot i holds a member

  // Writer-local state (one writer: no locking).
  uint64_t write_pos = 0;      // next record goes here (unpublished beyond published_pos)
  uint64_t published_pos = 0;  // last value stored to hdr->producer_pos
  uint64_t write_limit = 0;    // = lowest member position + data_bytes; write_pos <= write_limit
  bool consumers_loaded_this_batch = false;
  bool closed = false;

  // A consumer position as a client wrote it (untrusted), clamped to
  // [write_pos - data_bytes, published_pos].
  uint64_t ClampConsumer(uint64_t cons) const {
    const uint64_t lowest = write_pos - data_bytes;  // modular: fine while write_pos < data_bytes
    const uint64_t offset = cons - lowest;
    if (offset > published_pos - lowest)  // outside the window: behind it or ahead of it
      cons = static_cast<int64_t>(offset) < 0 ? lowest : published_pos;
    return cons;
  }

  // The limit the members' positions allow; never moves backwards, since
  // each member's position only moves forward and a new member starts at the
  // published position.
  void UpdateWriteLimit() {
    bool any = false;
    uint64_t lowest = 0;
    for (uint32_t bits = active; bits != 0; bits &= bits - 1) {
      const RingMember& m = *members[absl::countr_zero(bits)];
      if (!any || static_cast<int64_t>(m.cons - lowest) < 0) lowest = m.cons;
      any = true;
    }
    if (!any) lowest = published_pos;
    if (static_cast<int64_t>(lowest + data_bytes - write_limit) > 0)
      write_limit = lowest + data_bytes;
  }

  // Loads one member's consumer position (untrusted) once and clamps it
  // (ClampConsumer); never moves it backwards.
  void LoadConsumer(RingMember& m) {
    // (2): pairs with the store-release in mydev_ring_release().
    const uint64_t cons = ClampConsumer(__atomic_load_n(&m.ctl->consumer_pos, __ATOMIC_ACQUIRE));
    if (static_cast<int64_t>(cons - m.cons) > 0) m.cons = cons;
  }

  void LoadAllConsumers() {
    for (uint32_t bits = active; bits != 0; bits &= bits - 1)
      LoadConsumer(*members[absl::countr_zero(bits)]);
    UpdateWriteLimit();
  }

  // Published bytes beyond the member's last position read: an upper bound
  // of the bytes waiting for it, since the reader only moves forward.
  uint64_t KnownFill(const RingMember& m) const { return published_pos - m.cons; }

  // Keeps high_water >= the bytes waiting right after a Publish, exactly:
  // when the upper bound is not above the mark, nothing can be; otherwise the
  // consumer position is re-read and the exact fill taken.
  void TrackHighWater(RingMember& m) {
    if (KnownFill(m) <= m.high_water) return;
    LoadConsumer(m);
    if (KnownFill(m) > m.high_water) m.high_water = KnownFill(m);
  }

  // Bytes needed at write_pos for a record of rec_bytes (plus the tail skipped
  // or padded when it does not fit before the end of the data area).
  uint64_t BytesNeeded(uint64_t rec_bytes) const {
    const uint64_t to_end = data_bytes - (write_pos & (data_bytes - 1));
    return to_end < rec_bytes ? to_end + rec_bytes : rec_bytes;
  }

  void CountDropFor(uint32_t bits) {
    for (bits &= active; bits != 0; bits &= bits - 1) {
      RingMember& m = *members[absl::countr_zero(bits)];
      ++m.packets_dropped;
      m.dropped_this_batch = true;
    }
  }

  static void WakeReader(RingMember& m) {
    uint32_t was =
        __atomic_exchange_n(&m.ctl->reader_sleeping, MYDEV_RING_READER_AWAKE, __ATOMIC_SEQ_CST);
    if (was != MYDEV_RING_READER_AWAKE) SignalEventfd(m);
    m.pending_since_ns = -1;
  }

  static void SignalEventfd(RingMember& m) {
    const uint64_t one = 1;
    // EAGAIN only when the counter is near overflow: the reader is woken anyway.
    ssize_t n;
    do n = ::write(m.event_fd.get(), &one, sizeof one);
    while (n < 0 && errno == EINTR);
    ++m.wakeups;
  }

  void StoreCounters() {
    for (uint32_t bits = active; bits != 0; bits &= bits - 1) {
      const int i = absl::countr_zero(bits);
      const RingMember& m = *members[i];
      mydev_ring_member_counters& c = hdr->members[i];
      __atomic_store_n(&c.packets_received, m.packets_received, __ATOMIC_RELAXED);
      __atomic_store_n(&c.packets_dropped, m.packets_dropped, __ATOMIC_RELAXED);
      __atomic_store_n(&c.bytes_received, m.bytes_received, __ATOMIC_RELAXED);
    }
  }

  void PublishPosition() {
    if (write_pos != published_pos) {
      // (1): pairs with the load-acquire in mydev_ring_next() / mydev_ring_has_data().
      __atomic_store_n(&hdr->producer_pos, write_pos, __ATOMIC_RELEASE);
      published_pos = write_pos;
    }
    StoreCounters();
  }

  // Wakes the member if it sleeps and a wake is due ((3), after the fence in
  // Publish).
  void MaybeWake(RingMember& m, int64_t now_ns) {
    const bool dropped = m.dropped_this_batch;
    m.dropped_this_batch = false;
    if (__atomic_load_n(&m.ctl->reader_sleeping, __ATOMIC_RELAXED) == MYDEV_RING_READER_AWAKE) {
      // An awake reader sees everything published so far before it sleeps.
      m.pending_since_ns = -1;
      TrackHighWater(m);  // usually a compare; re-reads the consumer position when it must
      return;
    }
    LoadConsumer(m);
    const uint64_t waiting = published_pos - m.cons;
    if (waiting > m.high_water) m.high_water = waiting;  // exact: just loaded
    if (waiting == 0) {
      m.pending_since_ns = -1;
      return;
    }
    if (m.pending_since_ns < 0) m.pending_since_ns = now_ns;
    const bool due =
        m.policy.immediate || dropped || waiting >= m.wake_bytes ||
        (m.policy.timeout_ns > 0 && now_ns - m.pending_since_ns >= m.policy.timeout_ns);
    if (due) WakeReader(m);
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

  impl->hdr = static_cast<mydev_ring_header*>(impl->ring_map.addr);
  impl->data = static_cast<uint8_t*>(impl->ring_map.addr) + MYDEV_RING_HEADER_BYTES;
  // Fresh memfd pages are zero: positions, counters, state (OPEN).
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

  std::unique_ptr<RingProducer> ring(new RingProducer());
  ring->impl_ = std::move(impl);
  absl::StatusOr<int> first = ring->AddMember(WakePolicy{});
  if (!first.ok()) return first.status();
  return ring;
}

RingProducer::~RingProducer() = default;

absl::StatusOr<int> RingProducer::AddMember(const WakePolicy& policy) {
  Impl& r = *impl_;
  const uint32_t free_slots = ~r.active & ((1u << kMaxMembers) - 1);
  if (free_slots == 0)
    return absl::ResourceExhaustedError(
        absl::StrCat("the ring already has its ", kMaxMembers, " members"));
  const int slot = absl::countr_zero(free_slots);
  auto m = std::make_unique<RingMember>();
  absl::Status s =
      CreateMappedMemfd("mydev-ring-ctl", MYDEV_RING_CTL_BYTES, &m->ctl_fd, &m->ctl_map);
  if (!s.ok()) return s;
  // The client writes the ctl page; it only must not resize it under us.
  if (::fcntl(m->ctl_fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return absl::ErrnoToStatus(errno, "sealing the ring control memfd");
  m->event_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!m->event_fd.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  m->ctl = static_cast<mydev_ring_control*>(m->ctl_map.addr);
  // Before the hand-over: plain stores, the client maps the page later.
  m->ctl->member = static_cast<uint32_t>(slot);
  m->ctl->consumer_pos = r.published_pos;
  m->cons = r.published_pos;
  mydev_ring_member_counters& c = r.hdr->members[slot];
  __atomic_store_n(&c.packets_received, uint64_t{0}, __ATOMIC_RELAXED);
  __atomic_store_n(&c.packets_dropped, uint64_t{0}, __ATOMIC_RELAXED);
  __atomic_store_n(&c.bytes_received, uint64_t{0}, __ATOMIC_RELAXED);
  r.members[slot] = std::move(m);
  r.active |= 1u << slot;
  SetWakePolicy(slot, policy);
  return slot;
}

void RingProducer::RemoveMember(int member) {
  Impl& r = *impl_;
  if (member < 0 || member >= kMaxMembers || !(r.active & (1u << member))) return;
  r.active &= ~(1u << member);
  r.members[member].reset();
}

int RingProducer::member_count() const { return absl::popcount(impl_->active); }

void RingProducer::SetWakePolicy(int member, const WakePolicy& policy) {
  Impl& r = *impl_;
  if (member < 0 || member >= kMaxMembers || !(r.active & (1u << member))) return;
  RingMember& m = *r.members[member];
  m.policy = policy;
  // 0 means a quarter of the ring; above half the ring the reader could be
  // left asleep on a ring too full for the next record, so cap it there.
  uint64_t wb = policy.wake_bytes == 0 ? r.data_bytes / 4 : policy.wake_bytes;
  m.wake_bytes = wb > r.data_bytes / 2 ? r.data_bytes / 2 : wb;
}

void RingProducer::CountDrops(int member, uint64_t n) {
  Impl& r = *impl_;
  if (r.closed || n == 0 || member < 0 || member >= kMaxMembers || !(r.active & (1u << member)))
    return;
  r.members[member]->packets_dropped += n;
  r.members[member]->dropped_this_batch = true;
}

bool RingProducer::WriteFor(uint32_t members, uint64_t ts_ns, uint32_t len, uint32_t flags,
                            const uint8_t* data, uint32_t caplen) {
  Impl& r = *impl_;
  members &= r.active;
  if (r.closed || members == 0) return false;
  if (caplen > kMaxCaplen) {
    r.CountDropFor(members);
    return false;
  }
  const uint64_t rec_bytes = MYDEV_ALIGN8(kRecordHeaderBytes + caplen);
  uint64_t needed = r.BytesNeeded(rec_bytes);
  if (needed > r.write_limit - r.write_pos) {
    if (!r.consumers_loaded_this_batch) {
      r.consumers_loaded_this_batch = true;
      r.LoadAllConsumers();
    }
    if (needed > r.write_limit - r.write_pos) {
      r.CountDropFor(members);
      return false;
    }
  }
  const uint64_t mask = r.data_bytes - 1;
  uint64_t off = r.write_pos & mask;
  const uint64_t to_end = r.data_bytes - off;
  if (to_end < rec_bytes) {
    if (to_end >= kRecordHeaderBytes) {
      auto* pad = reinterpret_cast<mydev_ring_record*>(r.data + off);
      pad->record_bytes = static_cast<uint32_t>(to_end);
      pad->caplen = 0;
      pad->len = 0;
      pad->flags = MYDEV_REC_PAD;
      pad->members = 0;
      pad->ts_ns = 0;
    }  // else: fewer than a header's bytes left, skipped silently (ring_abi.h)
    r.write_pos += to_end;
    off = 0;
  }
  auto* rec = reinterpret_cast<mydev_ring_record*>(r.data + off);
  rec->record_bytes = static_cast<uint32_t>(rec_bytes);
  rec->caplen = caplen;
  rec->len = len;
  rec->flags = static_cast<uint16_t>(flags & ~MYDEV_REC_PAD);
  rec->members = static_cast<uint16_t>(members);
  rec->ts_ns = ts_ns;
  if (caplen != 0) std::memcpy(rec + 1, data, caplen);
  r.write_pos += rec_bytes;
  for (uint32_t bits = members; bits != 0; bits &= bits - 1) {
    RingMember& m = *r.members[absl::countr_zero(bits)];
    ++m.packets_received;
    m.bytes_received += caplen;
  }
  return true;
}

uint64_t RingProducer::write_pos() const { return impl_->write_pos; }

bool RingProducer::HasRoom(uint32_t caplen) {
  Impl& r = *impl_;
  if (caplen > kMaxCaplen || r.closed) return false;
  const uint64_t needed = r.BytesNeeded(MYDEV_ALIGN8(kRecordHeaderBytes + caplen));
  if (needed <= r.write_limit - r.write_pos) return true;
  r.LoadAllConsumers();
  return needed <= r.write_limit - r.write_pos;
}

void RingProducer::Publish(int64_t now_ns) {
  Impl& r = *impl_;
  r.PublishPosition();
  r.consumers_loaded_this_batch = false;
  // (3): pairs with the fence in mydev_ring_prepare_sleep() (mydev_ring_wait()).
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  for (uint32_t bits = r.active; bits != 0; bits &= bits - 1)
    r.MaybeWake(*r.members[absl::countr_zero(bits)], now_ns);
}

void RingProducer::Close(uint32_t reason) {
  Impl& r = *impl_;
  if (r.closed) return;
  r.closed = true;
  r.PublishPosition();
  __atomic_store_n(&r.hdr->close_reason, reason, __ATOMIC_RELAXED);
  // (4): pairs with the load-acquire in mydev_ring_closed().
  __atomic_store_n(&r.hdr->state, static_cast<uint32_t>(MYDEV_RING_CLOSED), __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  for (uint32_t bits = r.active; bits != 0; bits &= bits - 1) {
    RingMember& m = *r.members[absl::countr_zero(bits)];
    __atomic_store_n(&m.ctl->reader_sleeping, MYDEV_RING_READER_AWAKE, __ATOMIC_RELAXED);
    // Unconditionally: a reader between its closed-check and its sleep must
    // not miss the close. One syscall per member's life.
    Impl::SignalEventfd(m);
  }
}

namespace {
// The member in slot i, or null for a free or invalid slot.
const RingMember* MemberAt(const std::array<std::unique_ptr<RingMember>, kRingMaxMembers>& ms,
                           int i) {
  return i >= 0 && i < kRingMaxMembers ? ms[i].get() : nullptr;
}
// A counter of the member in slot i; 0 for a free or invalid slot.
uint64_t CounterOf(const std::array<std::unique_ptr<RingMember>, kRingMaxMembers>& ms, int i,
                   uint64_t RingMember::*counter) {
  const RingMember* m = MemberAt(ms, i);
  return m != nullptr ? m->*counter : 0;
}
}  // namespace

int RingProducer::ring_fd() const { return impl_->ring_fd.get(); }
int RingProducer::ctl_fd(int member) const {
  const RingMember* m = MemberAt(impl_->members, member);
  return m != nullptr ? m->ctl_fd.get() : -1;
}
int RingProducer::event_fd(int member) const {
  const RingMember* m = MemberAt(impl_->members, member);
  return m != nullptr ? m->event_fd.get() : -1;
}
uint64_t RingProducer::data_bytes() const { return impl_->data_bytes; }
uint64_t RingProducer::packets_received(int member) const {
  return CounterOf(impl_->members, member, &RingMember::packets_received);
}
uint64_t RingProducer::packets_dropped(int member) const {
  return CounterOf(impl_->members, member, &RingMember::packets_dropped);
}
uint64_t RingProducer::bytes_received(int member) const {
  return CounterOf(impl_->members, member, &RingMember::bytes_received);
}
uint64_t RingProducer::high_water_bytes(int member) const {
  return CounterOf(impl_->members, member, &RingMember::high_water);
}
uint64_t RingProducer::wakeups(int member) const {
  return CounterOf(impl_->members, member, &RingMember::wakeups);
}

uint64_t RingProducer::fill_bytes(int member) const {
  const Impl& r = *impl_;
  const RingMember* m = MemberAt(r.members, member);
  if (m == nullptr) return 0;
  // Relaxed: a gauge; nothing in the ring is read on the strength of it.
  const uint64_t cons = r.ClampConsumer(__atomic_load_n(&m->ctl->consumer_pos, __ATOMIC_RELAXED));
  return r.published_pos - cons;
}

}  // namespace mydev::shm
