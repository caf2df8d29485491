// session.cc — see session.h.
#include "daemon/datapath/session.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>

#include "absl/time/clock.h"
#include "daemon/datapath/sll2.h"

namespace mydev::daemon {
namespace {

absl::Status FillRandom(uint8_t* out, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "getrandom for a session token");
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

bool DirectionPasses(mydev::v1::Direction want, PacketDirection dir) {
  switch (want) {
    case mydev::v1::DIRECTION_IN:
      return dir == PacketDirection::kIn;
    case mydev::v1::DIRECTION_OUT:
      return dir == PacketDirection::kOut;
    default:
      return true;
  }
}

// Bytes of packet i to keep: its verdict (or its filter's), snaplen and what
// was captured; 0 = rejected.
inline uint32_t KeepBytes(const uint8_t* data, uint32_t len, uint32_t captured,
                          const uint32_t* verdicts, const BpfProgram* filter, size_t i,
                          uint32_t snaplen) {
  uint32_t keep = captured;
  if (verdicts != nullptr) {
    keep = verdicts[i];
  } else if (filter != nullptr) {
    keep = filter->Run(data, len, captured);
  }
  return std::min(std::min(captured, keep), snaplen);
}

// Both null, one object, or the same instructions.
bool SameProgram(const BpfProgram* a, const BpfProgram* b) {
  return a == b || (a != nullptr && b != nullptr && a->SameInsns(*b));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Session>> Session::Create(uint64_t id, const Credentials& owner,
                                                         const SessionParams& params,
                                                         const std::shared_ptr<SessionRing>& share,
                                                         bool shareable) {
  shm::WakePolicy wake;
  wake.immediate = params.immediate;
  wake.wake_bytes = 0;  // a quarter of the ring
  wake.timeout_ns = static_cast<int64_t>(params.timeout_ms) * 1'000'000;
  std::shared_ptr<SessionRing> ring;
  int member = 0;
  if (share != nullptr && share->uid() == owner.uid && share->data_bytes() == params.ring_bytes) {
    if (absl::StatusOr<int> m = share->Join(wake); m.ok()) {
      ring = share;
      member = *m;
    }
  }
  if (ring == nullptr) {
    shm::RingOptions ring_options;
    ring_options.data_bytes = params.ring_bytes;
    ring_options.dlt = static_cast<uint32_t>(params.dlt);
    absl::StatusOr<std::shared_ptr<SessionRing>> created =
        SessionRing::Create(ring_options, owner.uid, shareable);
    if (!created.ok()) return created.status();
    ring = *std::move(created);
    absl::MutexLock lock(&ring->mu());
    ring->producer().SetWakePolicy(0, wake);
  }
  std::shared_ptr<Session> s(new Session(id, owner, params, std::move(ring), member));
  if (absl::Status st = FillRandom(s->token_.data(), s->token_.size()); !st.ok()) return st;
  return s;
}

Session::Session(uint64_t id, const Credentials& owner, const SessionParams& params,
                 std::shared_ptr<SessionRing> ring, int member)
    : id_(id),
      owner_(owner),
      params_(params),
      opened_at_(absl::Now()),
      ring_(std::move(ring)),
      member_(member),
      direction_(params.direction),
      dlt_(params.dlt) {
  absl::MutexLock lock(&ring_->mu());
  ring_fd_ = ring_->ring_fd();
  ctl_fd_ = ring_->producer().ctl_fd(member_);
  event_fd_ = ring_->producer().event_fd(member_);
}

Session::~Session() { ring_->Leave(member_); }

bool Session::TokenMatches(absl::string_view token) const {
  if (token.size() != token_.size()) return false;
  uint8_t diff = 0;
  for (size_t i = 0; i < token_.size(); ++i) diff |= static_cast<uint8_t>(token[i]) ^ token_[i];
  return diff == 0;
}

void Session::Deliver(absl::Span<const Packet> batch, int64_t now_ns, bool publish,
                      const SharedVerdicts* shared) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  const uint32_t* verdicts = VerdictsFor(shared);
  const BpfProgram* filter = filter_.get();
  {
    absl::MutexLock ring_lock(&ring_->mu());
    shm::RingProducer& ring = ring_->producer();
    const uint32_t me = 1u << member_;
    for (size_t i = 0; i < batch.size(); ++i) {
      const uint8_t* data;
      uint32_t len;
      const uint32_t caplen = TakeLocked(batch[i], i, verdicts, filter, &data, &len);
      if (caplen != 0) ring.WriteFor(me, batch[i].ts_ns, len, RecordFlags(batch[i]), data, caplen);
    }
  }
  if (publish) ring_->Publish(now_ns, 0);
}

SessionRing::MemberSelection Session::Select(absl::Span<const Packet> batch,
                                             const SharedVerdicts* shared,
                                             absl::Span<const SessionRing::MemberSelection> earlier,
                                             std::vector<uint32_t>* caplens) {
  absl::MutexLock lock(&mu_);
  SessionRing::MemberSelection sel;
  sel.member = member_;
  sel.dlt = dlt_;
  if (closed_) {  // takes nothing; snaplen 0 matches no other member
    caplens->assign(batch.size(), 0);
    sel.caplens = caplens->data();
    return sel;
  }
  sel.program = filter_;
  sel.direction = direction_;
  sel.snaplen = params_.snaplen;
  // A member that decided with the same program, direction, snaplen and
  // link type took exactly what this session takes.
  for (const SessionRing::MemberSelection& e : earlier) {
    if (e.snaplen == sel.snaplen && e.dlt == sel.dlt && e.direction == sel.direction &&
        SameProgram(e.program.get(), sel.program.get())) {
      sel.caplens = e.caplens;
      return sel;
    }
  }
  caplens->resize(batch.size());
  uint32_t* out = caplens->data();
  const uint32_t* verdicts = VerdictsFor(shared);
  const BpfProgram* filter = filter_.get();
  const uint8_t* data;
  uint32_t len;
  for (size_t i = 0; i < batch.size(); ++i)
    out[i] = TakeLocked(batch[i], i, verdicts, filter, &data, &len);
  sel.caplens = out;
  return sel;
}

uint32_t Session::TakeLocked(const Packet& p, size_t i, const uint32_t* verdicts,
                             const BpfProgram* filter, const uint8_t** data, uint32_t* len) {
  if (!DirectionPasses(direction_, p.direction)) return 0;
  *data = p.data;
  *len = p.len;
  uint32_t captured = p.caplen;
  if (dlt_ == DLT_LINUX_SLL2) {  // the filter sees the SLL2 form too
    if (!BuildSll2Record(p, &sll2_scratch_, len, &captured)) return 0;
    *data = sll2_scratch_.data();
  }
  return KeepBytes(*data, *len, captured, verdicts, filter, i, params_.snaplen);
}

const uint32_t* Session::VerdictsFor(const SharedVerdicts* shared) const {
  // The verdicts were computed from this very program object and link type.
  return shared != nullptr && shared->program == filter_.get() && shared->dlt == dlt_ ? shared->keep
                                                                                      : nullptr;
}

void Session::Shed(absl::Span<const Packet> batch, int64_t now_ns, bool publish) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  uint64_t n = 0;
  for (const Packet& p : batch) n += DirectionPasses(direction_, p.direction) ? 1 : 0;
  {
    absl::MutexLock ring_lock(&ring_->mu());
    ring_->producer().CountDrops(member_, n);
  }
  packets_shed_ += n;
  if (publish) ring_->Publish(now_ns, 0);
}

void Session::PublishRing(int64_t now_ns, uint64_t round) {
  absl::MutexLock lock(&mu_);
  if (!closed_) ring_->Publish(now_ns, round);
}

void Session::CloseRing(uint32_t reason) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  closed_ = true;
  ring_->Close(reason);
}

void Session::SetFilter(std::optional<BpfProgram> program) {
  std::shared_ptr<const BpfProgram> next;
  if (program.has_value()) next = std::make_shared<const BpfProgram>(*std::move(program));
  absl::MutexLock lock(&mu_);
  filter_ = std::move(next);
}

void Session::SetDirection(mydev::v1::Direction direction) {
  absl::MutexLock lock(&mu_);
  direction_ = direction;
}

void Session::SetDataLink(int dlt) {
  absl::MutexLock lock(&mu_);
  dlt_ = dlt;
}

int Session::dlt() const {
  absl::MutexLock lock(&mu_);
  return dlt_;
}

bool Session::filter_set() const {
  absl::MutexLock lock(&mu_);
  return filter_ != nullptr;
}

FilterView Session::filter_view() const {
  absl::MutexLock lock(&mu_);
  return FilterView{filter_, dlt_};
}

SessionCounters Session::counters() const {
  absl::MutexLock lock(&mu_);
  return CountersLocked();
}

SessionCounters Session::CountersLocked() const {
  SessionCounters c;
  const SessionRing& ring = *ring_;
  absl::ReaderMutexLock ring_lock(&ring.mu());
  const shm::RingProducer& r = ring.producer();
  c.packets_received = r.packets_received(member_);
  c.packets_dropped = r.packets_dropped(member_);
  c.bytes_received = r.bytes_received(member_);
  c.ring_fill_bytes = r.fill_bytes(member_);
  // The mark is exact as of the last Publish; a client that moved its
  // consumer position backwards could make the fill read higher.
  c.ring_high_water_bytes = std::max(r.high_water_bytes(member_), c.ring_fill_bytes);
  c.wakeups = r.wakeups(member_);
  c.ring_members = static_cast<uint32_t>(r.member_count());
  c.packets_shed = packets_shed_;
  return c;
}

SessionStatus Session::status() const {
  absl::MutexLock lock(&mu_);
  SessionStatus s;
  s.counters = CountersLocked();
  s.direction = direction_;
  s.dlt = dlt_;
  s.filter_insns = filter_ != nullptr ? static_cast<uint32_t>(filter_->size()) : 0;
  return s;
}

}  // namespace mydev::daemon
