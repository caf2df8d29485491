// device_fanout.cc — see device_fanout.h.
#include "daemon/datapath/device_fanout.h"

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "base/log.h"
#include "daemon/datapath/sll2.h"
#include "shm/ring_abi.h"

namespace mydev::daemon {

DeviceFanout::DeviceFanout(std::unique_ptr<Backend> backend, absl::Duration tick,
                           double uid_cpu_share)
    : backend_(std::move(backend)),
      tick_(tick),
      cpu_share_(uid_cpu_share, kCpuShareWindow),
      sessions_(std::make_shared<SessionList>()) {
  backend_->SetDeviceGoneHandler([this](const absl::Status& why) { OnDeviceGone(why); });
}

DeviceFanout::~DeviceFanout() { Stop(); }

absl::Status DeviceFanout::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (running_) return absl::FailedPreconditionError("device already started");
    running_ = true;
    stopping_ = false;
  }
  {
    absl::MutexLock lock(&kernel_filter_mu_);
    RecomputeKernelFilter();  // before the socket is bound: no session, no packet
  }
  {
    absl::MutexLock lock(&mu_);
    backend_->SetActive(!sessions_->empty());  // nothing to make for nobody
  }
  absl::Status s = backend_->Start([this](absl::Span<const Packet> batch) { OnBatch(batch); });
  if (!s.ok()) {
    absl::MutexLock lock(&mu_);
    running_ = false;
    return s;
  }
  ticker_ = std::thread([this] { RunTicker(); });
  return absl::OkStatus();
}

void DeviceFanout::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!running_) return;
    stopping_ = true;
  }
  backend_->Stop();
  if (ticker_.joinable()) ticker_.join();
  absl::MutexLock lock(&mu_);
  running_ = false;
}

absl::Status DeviceFanout::AddSession(std::shared_ptr<Session> session) {
  const bool immediate = session->params().immediate;
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status h = backend_->Health(); !h.ok()) return h;
    if (session->params().promisc) {
      if (promisc_sessions_ == 0) {
        if (absl::Status s = backend_->SetPromiscuous(true); !s.ok()) return s;
      }
      ++promisc_sessions_;
    }
    if (immediate && immediate_sessions_++ == 0) {
      // Best effort, as in libpcap: without it the session gets batches.
      if (absl::Status s = backend_->SetImmediate(true); !s.ok())
        MYDEV_LOG(kWarning, "%s: %s", backend_->info().name, s.ToString());
    }
    auto next = std::make_shared<SessionList>(*sessions_);
    next->push_back(std::move(session));
    SetSessionsLocked(std::move(next));
    first = sessions_->size() == 1;
    if (first) backend_->SetActive(true);
    backend_->SetRingBytesHint(RingBytesOfSessionsLocked());
  }
  {
    absl::MutexLock lock(&kernel_filter_mu_);
    RecomputeKernelFilter();  // its filter is in the kernel before the open returns
  }
  // Not under mu_: the backend's thread may need it (OnBatch) to switch.
  if (first) backend_->AwaitActive(kActivateLimit);  // afpacket: socket bound
  if (immediate) backend_->AwaitImmediate(kImmediateSwitchLimit);
  return absl::OkStatus();
}

uint64_t DeviceFanout::RingBytesOfSessionsLocked() const {
  absl::flat_hash_set<const SessionRing*> seen;
  uint64_t bytes = 0;
  for (const auto& s : *sessions_)
    if (seen.insert(s->ring().get()).second) bytes += s->ring_bytes();  // a shared ring once
  return bytes;
}

void DeviceFanout::RemoveSession(uint64_t session_id) {
  // Runs when mu_ is released (declared before the lock): once the session
  // is off the list, its filter leaves the kernel.
  absl::Cleanup narrow = [this] {
    absl::MutexLock lock(&kernel_filter_mu_);
    RecomputeKernelFilter();
  };
  absl::MutexLock lock(&mu_);
  auto next = std::make_shared<SessionList>();
  next->reserve(sessions_->size());
  bool promisc = false, immediate = false;
  for (const auto& s : *sessions_) {
    if (s->id() != session_id) {
      next->push_back(s);
    } else {
      promisc = s->params().promisc;
      immediate = s->params().immediate;
    }
  }
  SetSessionsLocked(std::move(next));
  if (sessions_->empty()) backend_->SetActive(false);
  if (immediate && immediate_sessions_ > 0 && --immediate_sessions_ == 0) {
    if (absl::Status s = backend_->SetImmediate(false); !s.ok())
      MYDEV_LOG(kWarning, "%s: turning per-packet delivery off: %s", backend_->info().name,
                s.ToString());
  }
  if (promisc && promisc_sessions_ > 0 && --promisc_sessions_ == 0) {
    if (absl::Status s = backend_->SetPromiscuous(false); !s.ok())
      MYDEV_LOG(kWarning, "%s: turning promiscuous mode off: %s", backend_->info().name,
                s.ToString());
  }
}

void DeviceFanout::OnDeviceGone(const absl::Status& why) {
  std::shared_ptr<const SessionList> gone;
  {
    absl::MutexLock lock(&mu_);
    gone = sessions_;
    SetSessionsLocked(std::make_shared<SessionList>());
    backend_->SetActive(false);
    if (promisc_sessions_ != 0) {
      promisc_sessions_ = 0;
      (void)backend_->SetPromiscuous(false);  // the socket is gone; just forget the wish
    }
    if (immediate_sessions_ != 0) {
      immediate_sessions_ = 0;
      (void)backend_->SetImmediate(false);
    }
  }
  MYDEV_LOG(kWarning, "%s is gone (%s); closing its %d sessions", backend_->info().name,
            why.ToString(), gone->size());
  for (const auto& s : *gone) s->CloseRing(MYDEV_RING_CLOSE_DEVICE_GONE);
  absl::MutexLock lock(&kernel_filter_mu_);
  RecomputeKernelFilter();  // no session: the socket reopened later passes nothing
}

void DeviceFanout::SetSessionFilter(Session& session, std::optional<BpfProgram> program) {
  absl::MutexLock lock(&kernel_filter_mu_);
  PendingChange change;
  change.session_id = session.id();
  change.filter = program.has_value() ? program->insns() : std::vector<bpf_insn>{};
  RecomputeKernelFilter(&change);
  session.SetFilter(std::move(program));
}

void DeviceFanout::SetSessionDataLink(Session& session, int dlt) {
  absl::MutexLock lock(&kernel_filter_mu_);
  PendingChange change;
  change.session_id = session.id();
  change.dlt = dlt;
  RecomputeKernelFilter(&change);
  session.SetDataLink(dlt);
}

void DeviceFanout::RecomputeKernelFilter(const PendingChange* change) {
  if (!kernel_filter_supported_) return;
  const std::shared_ptr<const SessionList> sessions = Snapshot();
  const DeviceInfo& info = backend_->info();
  const int device_dlt = info.dlts.empty() ? DLT_EN10MB : info.dlts.front();
  std::vector<FilterUnionMember> members;
  members.reserve(sessions->size());
  for (const auto& s : *sessions) {
    const FilterView view = s->filter_view();
    std::vector<bpf_insn> insns = view.program ? view.program->insns() : std::vector<bpf_insn>{};
    int dlt = view.dlt;
    if (change != nullptr && change->session_id == s->id()) {
      if (change->filter.has_value()) insns = *change->filter;
      if (change->dlt.has_value()) dlt = *change->dlt;
    }
    members.push_back({s->id(), std::move(insns), s->params().snaplen, dlt == device_dlt});
  }
  FilterUnionOptions options;
  options.accept_vlan_tagged = true;  // Linux packet sockets: the tag is outside the frame
  KernelFilter f = BuildKernelFilter(members, options);
  const absl::Status attached = backend_->SetKernelFilter(f.insns);
  if (absl::IsUnimplemented(attached)) {
    kernel_filter_supported_ = false;
    return;
  }
  KernelFilterStatus st;
  st.supported = true;
  st.kind = f.kind;
  st.insns = static_cast<uint32_t>(f.insns.size());
  st.note = f.note;
  if (!attached.ok()) {  // the backend passes everything now
    st.kind = KernelFilterKind::kFallback;
    st.insns = 0;
    st.note = std::string(attached.message());
  }
  absl::MutexLock lock(&mu_);
  if (st.kind == KernelFilterKind::kFallback &&
      (kernel_filter_.kind != st.kind || kernel_filter_.note != st.note))
    MYDEV_LOG(kWarning, "%s: the kernel pre-filter passes every packet (%d sessions): %s",
              info.name, sessions->size(), st.note);
  kernel_filter_ = std::move(st);
}

KernelFilterStatus DeviceFanout::kernel_filter() const {
  absl::MutexLock lock(&mu_);
  return kernel_filter_;
}

void DeviceFanout::SetSessionsLocked(std::shared_ptr<const SessionList> next) {
  absl::flat_hash_set<uint32_t> uids;
  for (const auto& s : *next) uids.insert(s->owner().uid);
  distinct_uids_.store(static_cast<uint32_t>(uids.size()), std::memory_order_relaxed);
  sessions_ = std::move(next);
}

std::shared_ptr<const DeviceFanout::SessionList> DeviceFanout::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return sessions_;
}

void DeviceFanout::GroupFilters(const SessionList& sessions) {
  const size_t n = sessions.size();
  filter_views_.resize(n);
  group_of_.assign(n, -1);
  group_count_ = 0;
  for (size_t i = 0; i < n; ++i) {
    filter_views_[i] = sessions[i]->filter_view();
    const BpfProgram* prog = filter_views_[i].program.get();
    if (prog == nullptr || prog->constant()) continue;  // nothing worth sharing
    const int dlt = filter_views_[i].dlt;
    size_t g = 0;
    while (g < group_count_ && !(groups_[g].dlt == dlt && groups_[g].program->SameInsns(*prog)))
      ++g;
    if (g == group_count_) {
      if (groups_.size() == g) groups_.emplace_back();
      groups_[g].program = prog;
      groups_[g].dlt = dlt;
      groups_[g].members = 0;
      ++group_count_;
    }
    ++groups_[g].members;
    group_of_[i] = static_cast<int>(g);
  }
  for (size_t i = 0; i < n; ++i) {  // a group of one runs its own program
    if (group_of_[i] >= 0 && groups_[group_of_[i]].members < 2) group_of_[i] = -1;
  }
}

const SharedVerdicts* DeviceFanout::SharedFor(size_t i, absl::Span<const Packet> part,
                                              SharedVerdicts* out, int64_t* ran_ns) {
  *ran_ns = 0;
  if (group_of_[i] < 0) return nullptr;
  FilterGroup& g = groups_[group_of_[i]];
  if (!g.computed) {
    const int64_t t0 = ClockNs(CLOCK_MONOTONIC);
    g.keep.resize(part.size());
    for (size_t k = 0; k < part.size(); ++k) {
      const Packet& p = part[k];
      const uint8_t* data = p.data;
      uint32_t len = p.len, captured = p.caplen;
      if (g.dlt == DLT_LINUX_SLL2) {  // as Session::Deliver: the SLL2 form
        if (!BuildSll2Record(p, &sll2_scratch_, &len, &captured)) {
          g.keep[k] = 0;  // the sessions skip it too
          continue;
        }
        data = sll2_scratch_.data();
      }
      g.keep[k] = g.program->Run(data, len, captured);
    }
    g.computed = true;
    *ran_ns = ClockNs(CLOCK_MONOTONIC) - t0;
    g.share_ns = *ran_ns / static_cast<int64_t>(g.members);
  }
  *out = SharedVerdicts{filter_views_[i].program.get(), filter_views_[i].dlt, g.keep.data()};
  return out;
}

void DeviceFanout::GroupRings(const SessionList& sessions) {
  const size_t n = sessions.size();
  ring_of_.assign(n, -1);
  if (caplens_.size() < n) caplens_.resize(n);
  ring_group_count_ = 0;
  for (size_t i = 0; i < n; ++i) {
    SessionRing* ring = sessions[i]->ring().get();
    if (!ring->shareable()) continue;  // a ring of its own: Session::Deliver
    size_t g = 0;
    while (g < ring_group_count_ && ring_groups_[g].ring != ring) ++g;
    if (g == ring_group_count_) {
      if (ring_groups_.size() == g) ring_groups_.emplace_back();
      ring_groups_[g].ring = ring;
      ++ring_group_count_;
    }
    ring_of_[i] = static_cast<int>(g);
  }
}

void DeviceFanout::DeliverOrSelect(size_t i, Session& s, absl::Span<const Packet> part,
                                   int64_t now_ns, const SharedVerdicts* verdicts) {
  if (ring_of_[i] < 0) {
    s.Deliver(part, now_ns, false, verdicts);
    return;
  }
  RingGroup& g = ring_groups_[ring_of_[i]];
  g.selected.push_back(s.Select(part, verdicts, g.selected, &caplens_[i]));
}

void DeviceFanout::WriteRing(RingGroup& g, absl::Span<const Packet> part) {
  if (g.selected.empty()) return;
  absl::MutexLock lock(&g.ring->mu());
  g.ring->WriteBatchLocked(part, g.selected);
}

void DeviceFanout::OnBatch(absl::Span<const Packet> batch) {
  uint64_t bytes = 0;
  for (const Packet& p : batch) bytes += p.len;
  packets_seen_.fetch_add(batch.size(), std::memory_order_relaxed);
  bytes_seen_.fetch_add(bytes, std::memory_order_relaxed);
  std::shared_ptr<const SessionList> sessions = Snapshot();
  if (sessions->empty()) return;
  GroupFilters(*sessions);
  GroupRings(*sessions);
  SharedVerdicts shared;
  int64_t ran_ns;
  const uint32_t uids = distinct_uids_.load(std::memory_order_relaxed);
  // Sessions with a ring of their own are written one after another; the
  // members of a shareable ring are selected first and then written
  // together, packet by packet (SessionRing::WriteBatchLocked). No ring is
  // published before all are written; then each once (PublishAll).
  if (uids < 2) {  // one uid: nobody else to protect, so nothing is timed or shed
    for (size_t g = 0; g < group_count_; ++g) groups_[g].computed = false;
    for (size_t g = 0; g < ring_group_count_; ++g) ring_groups_[g].selected.clear();
    const int64_t now = ClockNs(CLOCK_MONOTONIC);
    for (size_t i = 0; i < sessions->size(); ++i)
      DeliverOrSelect(i, *(*sessions)[i], batch, now, SharedFor(i, batch, &shared, &ran_ns));
    for (size_t g = 0; g < ring_group_count_; ++g) WriteRing(ring_groups_[g], batch);
    PublishAll(*sessions, now);
    return;
  }
  // The batch goes out in chunks, so each uid's share is checked every
  // kShareChunk packets (an afpacket block holds thousands: one block
  // through 4,000-instruction filters would take 100+ ms).
  const size_t chunk = kShareChunk;
  int64_t now = 0;
  for (size_t off = 0; off < batch.size(); off += chunk) {
    const absl::Span<const Packet> part = batch.subspan(off, chunk);
    for (size_t g = 0; g < group_count_; ++g) groups_[g].computed = false;
    for (size_t g = 0; g < ring_group_count_; ++g) ring_groups_[g].selected.clear();
    now = ClockNs(CLOCK_MONOTONIC);
    cpu_share_.StartBatch(now, uids);
    int64_t t0 = now;
    for (size_t i = 0; i < sessions->size(); ++i) {
      Session& s = *(*sessions)[i];
      const uint32_t uid = s.owner().uid;
      if (cpu_share_.ShouldShed(uid)) {
        s.Shed(part, now, false);
        t0 = ClockNs(CLOCK_MONOTONIC);  // shedding is not charged
        continue;
      }
      // A shared program's run is charged in equal parts to its members'
      // uids (share_ns each), not all to the first member's.
      const SharedVerdicts* verdicts = SharedFor(i, part, &shared, &ran_ns);
      DeliverOrSelect(i, s, part, now, verdicts);
      const int64_t t1 = ClockNs(CLOCK_MONOTONIC);
      const int64_t group_share = verdicts != nullptr ? groups_[group_of_[i]].share_ns : 0;
      cpu_share_.Charge(uid, t1 - t0 - ran_ns + group_share);
      t0 = t1;
    }
    // A shared ring's members are all of its uid: the write is charged to it.
    for (size_t g = 0; g < ring_group_count_; ++g) {
      WriteRing(ring_groups_[g], part);
      const int64_t t1 = ClockNs(CLOCK_MONOTONIC);
      cpu_share_.Charge(ring_groups_[g].ring->uid(), t1 - t0);
      t0 = t1;
    }
  }
  PublishAll(*sessions, now, &cpu_share_);
}

std::shared_ptr<SessionRing> DeviceFanout::RingToJoin(uint32_t uid, uint64_t ring_bytes) const {
  if (!share_rings_) return nullptr;
  std::shared_ptr<const SessionList> sessions = Snapshot();
  for (const auto& s : *sessions) {
    const std::shared_ptr<SessionRing>& ring = s->ring();
    if (ring->shareable() && ring->uid() == uid && ring->data_bytes() == ring_bytes &&
        ring->member_count() < shm::RingProducer::kMaxMembers)
      return ring;
  }
  return nullptr;
}

void DeviceFanout::PublishAll(const SessionList& sessions, int64_t now_ns, UidCpuShare* charge) {
  const uint64_t round = NextRound();
  for (const auto& s : sessions) {
    if (charge == nullptr) {
      s->PublishRing(now_ns, round);
      continue;
    }
    // Publishing wakes the session's reader (an eventfd write, microseconds
    // on a VM): the owner's time, like the delivery.
    const int64_t t0 = ClockNs(CLOCK_MONOTONIC);
    s->PublishRing(now_ns, round);
    charge->Charge(s->owner().uid, ClockNs(CLOCK_MONOTONIC) - t0);
  }
}

void DeviceFanout::TickAll() {
  std::shared_ptr<const SessionList> sessions = Snapshot();
  PublishAll(*sessions, ClockNs(CLOCK_MONOTONIC));
}

void DeviceFanout::RunTicker() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), tick_)) return;
    }
    TickAll();
  }
}

DeviceCounters DeviceFanout::counters() const {
  DeviceCounters c;
  c.packets_seen = packets_seen_.load(std::memory_order_relaxed);
  c.bytes_seen = bytes_seen_.load(std::memory_order_relaxed);
  c.packets_ifdropped = backend_->ifdropped();
  c.kernel_ring_bytes = backend_->kernel_ring_bytes();
  absl::MutexLock lock(&mu_);
  c.sessions = static_cast<uint32_t>(sessions_->size());
  c.promisc_sessions = promisc_sessions_;
  c.immediate_sessions = immediate_sessions_;
  return c;
}

}  // namespace mydev::daemon
