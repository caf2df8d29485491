// session_ring.cc — see session_ring.h.
#include "daemon/datapath/session_ring.h"

#include <utility>

#include "absl/status/status.h"

namespace mydev::daemon {

absl::StatusOr<std::shared_ptr<SessionRing>> SessionRing::Create(const shm::RingOptions& options,
                                                                 uint32_t uid, bool shareable) {
  absl::StatusOr<std::unique_ptr<shm::RingProducer>> producer =
      shm::RingProducer::Create(options);
  if (!producer.ok()) return producer.status();
  return std::shared_ptr<SessionRing>(new SessionRing(std::move(*producer), uid, shareable));
}

SessionRing::SessionRing(std::unique_ptr<shm::RingProducer> producer, uint32_t uid,
                         bool shareable)
    : uid_(uid),
      shareable_(shareable),
      data_bytes_(producer->data_bytes()),
      ring_fd_(producer->ring_fd()),
      producer_(std::move(producer)) {}

absl::StatusOr<int> SessionRing::Join(const shm::WakePolicy& policy) {
  if (!shareable_) return absl::ResourceExhaustedError("the ring is not shared");
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::ResourceExhaustedError("the ring is closed");
  return producer_->AddMember(policy);
}

int SessionRing::member_count() const {
  absl::MutexLock lock(&mu_);
  return producer_->member_count();
}

void SessionRing::Leave(int member) {
  absl::MutexLock lock(&mu_);
  producer_->RemoveMember(member);
}

void SessionRing::WriteLocked(int member, uint64_t part, size_t k, int dlt, uint64_t ts_ns,
                              uint32_t len, uint32_t flags, const uint8_t* data, uint32_t caplen,
                              Cursor* cursor) {
  if (cursor->part != part || part == 0) *cursor = Cursor{part};
  if (part != 0 && shareable_ && producer_->member_count() > 1) {
    if (k < written_.size()) {
      const Written& w = written_[k];
      if (w.part == part && w.dlt == dlt && w.caplen == caplen &&
          (!cursor->any || static_cast<int64_t>(w.pos - cursor->last_pos) > 0) &&
          producer_->ShareRecord(w.pos, member)) {
        cursor->last_pos = w.pos;
        cursor->any = true;
        return;
      }
    }
  }
  const uint64_t pos = producer_->WriteFor(1u << member, ts_ns, len, flags, data, caplen);
  if (pos == shm::RingProducer::kNotWritten) return;
  cursor->last_pos = pos;
  cursor->any = true;
  if (part == 0 || !shareable_ || producer_->member_count() < 2) return;
  if (k >= written_.size()) written_.resize(k + 1);
  Written& w = written_[k];
  if (w.part != part) w = Written{part, pos, caplen, dlt};  // the first record of k stays
}

void SessionRing::Publish(int64_t now_ns, uint64_t round) {
  absl::MutexLock lock(&mu_);
  if (round != 0 && round == published_round_) return;
  published_round_ = round;
  producer_->Publish(now_ns);
}

void SessionRing::Close(uint32_t reason) {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  producer_->Close(reason);
}

}  // namespace mydev::daemon
