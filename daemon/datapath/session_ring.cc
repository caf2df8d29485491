// session_ring.cc — see session_ring.h.
#include "daemon/datapath/session_ring.h"

#include <pcap/dlt.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/status/status.h"
#include "daemon/datapath/sll2.h"

namespace mydev::daemon {

absl::StatusOr<std::shared_ptr<SessionRing>> SessionRing::Create(const shm::RingOptions& options,
                                                                 uint32_t uid, bool shareable) {
  absl::StatusOr<std::unique_ptr<shm::RingProducer>> producer = shm::RingProducer::Create(options);
  if (!producer.ok()) return producer.status();
  return std::shared_ptr<SessionRing>(new SessionRing(std::move(*producer), uid, shareable));
}

SessionRing::SessionRing(std::unique_ptr<shm::RingProducer> producer, uint32_t uid, bool shareable)
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

void SessionRing::WriteBatchLocked(absl::Span<const Packet> batch,
                                   absl::Span<const MemberSelection> members) {
  // Members that decided alike (one caplens array, one link type): a class.
  struct Class {
    const uint32_t* caplens;
    int dlt;
    uint32_t mask;
  };
  std::array<Class, shm::RingProducer::kMaxMembers> classes;
  size_t n_classes = 0;
  for (const MemberSelection& m : members) {
    size_t c = 0;
    while (c < n_classes && !(classes[c].caplens == m.caplens && classes[c].dlt == m.dlt)) ++c;
    if (c == n_classes) classes[n_classes++] = Class{m.caplens, m.dlt, 0};
    classes[c].mask |= 1u << m.member;
  }
  // The distinct forms of one packet among the classes that take it.
  struct Form {
    int dlt;
    uint32_t caplen;
    uint32_t mask;
  };
  std::array<Form, shm::RingProducer::kMaxMembers> forms;
  for (size_t k = 0; k < batch.size(); ++k) {
    size_t n = 0;
    for (size_t c = 0; c < n_classes; ++c) {
      const uint32_t caplen = classes[c].caplens[k];
      if (caplen == 0) continue;
      size_t f = 0;
      while (f < n && !(forms[f].dlt == classes[c].dlt && forms[f].caplen == caplen)) ++f;
      if (f == n) forms[n++] = Form{classes[c].dlt, caplen, 0};
      forms[f].mask |= classes[c].mask;
    }
    const Packet& p = batch[k];
    const uint32_t flags = RecordFlags(p);
    for (size_t f = 0; f < n; ++f) {
      const uint8_t* data = p.data;
      uint32_t len = p.len, captured = p.caplen;
      if (forms[f].dlt == DLT_LINUX_SLL2) {  // as Session::Select saw it
        if (!BuildSll2Record(p, &sll2_scratch_, &len, &captured)) continue;
        data = sll2_scratch_.data();
      }
      producer_->WriteFor(forms[f].mask, p.ts_ns, len, flags, data,
                          std::min(forms[f].caplen, captured));
    }
  }
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
