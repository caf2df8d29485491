// session_manager.cc — see session_manager.h.
#include "daemon/control/session_manager.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "daemon/datapath/bpf_program.h"

namespace mydev::daemon {

SessionManager::SessionManager(const Limits& limits, std::vector<DeviceFanout*> devices)
    : SessionManager(limits, std::move(devices),
                     AccessPolicy(limits.max_sessions_per_uid, limits.max_ring_bytes_per_uid)) {}

SessionManager::SessionManager(const Limits& limits, std::vector<DeviceFanout*> devices,
                               AccessPolicy access)
    : limits_(limits), devices_(std::move(devices)), access_(std::move(access)) {}

SessionManager::~SessionManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (reaper_.joinable()) reaper_.join();
}

void SessionManager::StartReaper() {
  if (!reaper_.joinable()) reaper_ = std::thread([this] { RunReaper(); });
}

DeviceFanout* SessionManager::FindDevice(absl::string_view name) const {
  for (DeviceFanout* d : devices_)
    if (d->info().name == name) return d;
  return nullptr;
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Open(
    const mydev::v1::OpenSessionRequest& req, const Credentials& peer, const PeerProcess& process) {
  absl::StatusOr<Admission> admission = CheckAccessAndLimits(req, peer);
  if (!admission.ok()) return admission.status();
  admission->params.comm = process.comm;
  admission->params.cmdline = process.cmdline;
  absl::StatusOr<std::shared_ptr<Session>> s = CreateSession(*admission, peer);
  if (!s.ok()) return s.status();
  if (absl::Status attached = AttachToDevice(*admission, *s); !attached.ok()) return attached;
  return s;
}

absl::StatusOr<SessionManager::Admission> SessionManager::CheckAccessAndLimits(
    const mydev::v1::OpenSessionRequest& req, const Credentials& peer) {
  Admission a;
  a.device = FindDevice(req.device());
  if (a.device == nullptr)
    return absl::NotFoundError(absl::StrCat("no device named '", req.device(),
                                            "'; ListDevices (tcpdump -D) shows the devices"));
  a.caller = LookUpCaller(peer.uid, peer.gid);
  if (absl::Status allowed = access_.CheckCapture(a.caller, req.device()); !allowed.ok())
    return allowed;
  absl::StatusOr<SessionParams> params = ResolveParams(req, *a.device);
  if (!params.ok()) return params.status();
  a.params = *std::move(params);
  // A session that will share a ring of its uid's adds no ring memory.
  if (a.device->share_rings()) a.join = a.device->RingToJoin(peer.uid, a.params.ring_bytes);
  a.ring_bytes_reserved = a.join != nullptr ? 0 : a.params.ring_bytes;
  absl::StatusOr<uint64_t> id = ReserveQuota(a.caller, a.ring_bytes_reserved);
  if (!id.ok()) return id.status();
  a.id = *id;
  return a;
}

absl::StatusOr<SessionParams> SessionManager::ResolveParams(
    const mydev::v1::OpenSessionRequest& req, DeviceFanout& device) const {
  SessionParams p;
  p.device = req.device();
  p.snaplen = req.snaplen() == 0 ? kMaxSnaplen : std::min(req.snaplen(), kMaxSnaplen);

  uint64_t want = req.buffer_size() == 0 ? limits_.default_ring_bytes : req.buffer_size();
  if (want > limits_.max_ring_bytes)
    return absl::InvalidArgumentError(absl::StrCat("buffer size ", want,
                                                   " is larger than the daemon's limit of ",
                                                   limits_.max_ring_bytes, " bytes"));
  p.ring_bytes = std::max<uint64_t>(absl::bit_ceil(want), shm::RingProducer::kMinDataBytes);
  if (p.ring_bytes > limits_.max_ring_bytes)
    return absl::InvalidArgumentError(absl::StrCat(
        "buffer size ", want, " rounds up to ", p.ring_bytes,
        " bytes, larger than the daemon's limit of ", limits_.max_ring_bytes, " bytes"));

  if (absl::Status s = CheckDirection(req.direction()); !s.ok()) return s;
  p.direction = req.direction();

  const std::vector<int>& dlts = device.info().dlts;
  if (dlts.empty()) return absl::InternalError("device has no link type");
  p.dlt = req.dlt() == 0 ? dlts.front() : req.dlt();
  if (absl::Status s = CheckDataLink(device, p.dlt); !s.ok()) return s;
  p.promisc = req.promisc();
  p.immediate = req.immediate();
  p.timeout_ms = req.timeout_ms();
  p.ifdropped_at_open = device.counters().packets_ifdropped;
  return p;
}

absl::StatusOr<uint64_t> SessionManager::ReserveQuota(const Caller& caller, uint64_t ring_bytes) {
  const UserLimit user_limit = access_.LimitsFor(caller.uid);
  absl::MutexLock lock(&mu_);
  auto open = sessions_per_uid_.find(caller.uid);
  const uint32_t n = open == sessions_per_uid_.end() ? 0 : open->second;
  if (n >= user_limit.max_sessions)
    return absl::ResourceExhaustedError(absl::StrCat(DescribeCaller(caller), " already has ", n,
                                                     " sessions open (the limit is ",
                                                     user_limit.max_sessions, "); close some"));
  if (absl::Status s = CheckRingBytes(caller, ring_bytes); !s.ok()) return s;
  // Reserved; CreateSession or AttachToDevice gives it back on failure.
  ++sessions_per_uid_[caller.uid];
  AddRingBytes(caller.uid, ring_bytes);
  return next_id_++;
}

absl::Status SessionManager::CheckRingBytes(const Caller& caller, uint64_t ring_bytes) const {
  if (ring_bytes == 0) return absl::OkStatus();
  const uint64_t max_bytes = access_.LimitsFor(caller.uid).max_ring_bytes;
  auto held = ring_bytes_per_uid_.find(caller.uid);
  const uint64_t bytes = held == ring_bytes_per_uid_.end() ? 0 : held->second;
  if (bytes + ring_bytes > max_bytes)
    return absl::ResourceExhaustedError(
        absl::StrCat("a ", ring_bytes, "-byte ring would bring ", DescribeCaller(caller),
                     "'s ring memory to ", bytes + ring_bytes, " bytes, above the limit of ",
                     max_bytes, "; close sessions or ask for a smaller buffer"));
  // All users together (max_ring_bytes_total), with room kept for root: the
  // users other than root may hold the total less the reserve between them.
  const uint64_t total = limits_.max_ring_bytes_total;
  const uint64_t users_cap = total - std::min(total, limits_.ring_bytes_reserved_for_root);
  if (caller.uid != 0 && ring_bytes_non_root_ + ring_bytes > users_cap)
    return absl::ResourceExhaustedError(absl::StrCat(
        "a ", ring_bytes, "-byte ring would bring the ring memory of all users to ",
        ring_bytes_non_root_ + ring_bytes, " bytes, above the daemon's limit of ", users_cap,
        " (limits.max_ring_bytes_total ", total, " less ", limits_.ring_bytes_reserved_for_root,
        " kept for root); ask for a smaller buffer or try later"));
  if (ring_bytes_total_ + ring_bytes > total)
    return absl::ResourceExhaustedError(
        absl::StrCat("a ", ring_bytes, "-byte ring would bring the ring memory of all sessions to ",
                     ring_bytes_total_ + ring_bytes, " bytes, above the daemon's limit of ", total,
                     " (limits.max_ring_bytes_total); ask for a smaller buffer or try later"));
  return absl::OkStatus();
}

void SessionManager::AddRingBytes(uint32_t uid, uint64_t ring_bytes) {
  if (ring_bytes == 0) return;
  ring_bytes_per_uid_[uid] += ring_bytes;
  ring_bytes_total_ += ring_bytes;
  if (uid != 0) ring_bytes_non_root_ += ring_bytes;
}

void SessionManager::ReleaseRingBytes(uint32_t uid, uint64_t ring_bytes) {
  ring_bytes_total_ -= std::min(ring_bytes_total_, ring_bytes);
  if (uid != 0) ring_bytes_non_root_ -= std::min(ring_bytes_non_root_, ring_bytes);
  auto b = ring_bytes_per_uid_.find(uid);
  if (b != ring_bytes_per_uid_.end()) {
    b->second -= std::min(b->second, ring_bytes);
    if (b->second == 0) ring_bytes_per_uid_.erase(b);
  }
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::CreateSession(const Admission& a,
                                                                       const Credentials& peer) {
  // A device with share_rings: into the ring found at admission (a.join)
  // when it still has room, else a ring of its own others may join
  // (session_ring.h).
  absl::StatusOr<std::shared_ptr<Session>> s =
      Session::Create(a.id, peer, a.params, a.join, a.device->share_rings());
  absl::MutexLock lock(&mu_);
  if (!s.ok()) {
    ReleaseQuota(a.caller.uid, a.ring_bytes_reserved);
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create the session ring: ", s.status().message()));
  }
  // Settle the ring's bytes: charged once, while any session is on it. The
  // ring to join may have filled or closed since admission (a ring of its
  // own, to charge now), or lost its last session (to charge again).
  const bool charged = ring_sessions_[(*s)->ring().get()]++ > 0;
  if (charged) {
    ReleaseRingBytes(a.caller.uid, a.ring_bytes_reserved);
  } else if (a.ring_bytes_reserved == 0) {
    if (absl::Status room = CheckRingBytes(a.caller, a.params.ring_bytes); !room.ok()) {
      ReleaseSessionQuota(**s);
      return room;
    }
    AddRingBytes(a.caller.uid, a.params.ring_bytes);
  }
  return s;
}

absl::Status SessionManager::AttachToDevice(const Admission& a, const std::shared_ptr<Session>& s) {
  absl::Status added = a.device->AddSession(s);
  absl::MutexLock lock(&mu_);
  if (!added.ok()) {
    ReleaseSessionQuota(*s);
    return absl::Status(added.code(),
                        absl::StrCat("device '", a.params.device, "': ", added.message()));
  }
  sessions_[a.id] = s;
  const Credentials& peer = s->owner();
  MYDEV_LOG(kInfo,
            "session %d opened on %s by uid %d gid %d pid %d (%s) (snaplen %d, ring %d bytes)",
            a.id, a.params.device, peer.uid, peer.gid, peer.pid,
            a.params.comm.empty() ? "?" : a.params.comm, a.params.snaplen, a.params.ring_bytes);
  return absl::OkStatus();
}

absl::Status SessionManager::CheckDirection(mydev::v1::Direction direction) {
  if (!mydev::v1::Direction_IsValid(direction))
    return absl::InvalidArgumentError(
        absl::StrCat("direction ", static_cast<int>(direction), " is not IN, OUT or INOUT"));
  return absl::OkStatus();
}

absl::Status SessionManager::CheckDataLink(const DeviceFanout& device, int dlt) {
  const std::vector<int>& dlts = device.info().dlts;
  if (std::find(dlts.begin(), dlts.end(), dlt) == dlts.end())
    return absl::InvalidArgumentError(
        absl::StrCat("link type ", dlt, " is not offered by '", device.info().name, "'"));
  return absl::OkStatus();
}

absl::StatusOr<DeviceFanout*> SessionManager::DeviceOf(const Session& session) const {
  DeviceFanout* d = FindDevice(session.params().device);
  if (d == nullptr) return absl::NotFoundError("the session's device is gone");
  return d;
}

absl::Status SessionManager::SetFilter(
    Session& session, const google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn>& insns) {
  std::optional<BpfProgram> filter;  // none when insns is empty
  if (!insns.empty()) {
    absl::StatusOr<BpfProgram> program = BpfProgram::FromProto(insns, limits_.max_bpf_insns);
    if (!program.ok()) return program.status();
    filter = *std::move(program);
  }
  // Through the device: its kernel pre-filter takes the new filter in first.
  if (absl::StatusOr<DeviceFanout*> device = DeviceOf(session); device.ok()) {
    (*device)->SetSessionFilter(session, std::move(filter));
  } else {
    session.SetFilter(std::move(filter));
  }
  return absl::OkStatus();
}

absl::Status SessionManager::SetDirection(Session& session, mydev::v1::Direction direction) {
  if (absl::Status s = CheckDirection(direction); !s.ok()) return s;
  session.SetDirection(direction);
  return absl::OkStatus();
}

absl::Status SessionManager::SetDataLink(Session& session, int dlt) {
  absl::StatusOr<DeviceFanout*> device = DeviceOf(session);
  if (!device.ok()) return device.status();
  if (absl::Status s = CheckDataLink(**device, dlt); !s.ok()) return s;
  (*device)->SetSessionDataLink(session, dlt);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> SessionManager::Inject(Session& session, const Credentials& caller,
                                                absl::Span<const uint8_t> frame) {
  absl::StatusOr<DeviceFanout*> device = DeviceOf(session);
  if (!device.ok()) return device.status();
  DeviceFanout& d = **device;
  if (absl::Status allowed =
          access_.CheckInject(LookUpCaller(caller.uid, caller.gid), d.info().name);
      !allowed.ok())
    return allowed;
  if (frame.empty() || frame.size() > kMaxSnaplen)
    return absl::InvalidArgumentError(
        absl::StrCat("packet of ", frame.size(), " bytes; it must be 1..", kMaxSnaplen));
  return d.backend().Inject(frame);
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Lookup(uint64_t id,
                                                                absl::string_view token,
                                                                uint32_t uid) const {
  std::shared_ptr<Session> s;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end())
      return absl::NotFoundError(absl::StrCat("no session ", id, " (closed or never opened)"));
    s = it->second;
  }
  bool token_ok = s->TokenMatches(token);
  if (!token_ok || s->owner().uid != uid)
    return absl::PermissionDeniedError(
        absl::StrCat("session ", id, ": ",
                     token_ok ? "it belongs to another user" : "the token does not match"));
  return s;
}

absl::Status SessionManager::Close(uint64_t id, absl::string_view token, uint32_t uid) {
  absl::StatusOr<std::shared_ptr<Session>> s = Lookup(id, token, uid);
  if (!s.ok()) return s.status();
  std::shared_ptr<Session> removed;
  {
    absl::MutexLock lock(&mu_);
    removed = Remove(id);
  }
  if (removed) Detach(removed, "closed by the client");
  return absl::OkStatus();
}

void SessionManager::Free(uint64_t id, absl::string_view why) {
  std::shared_ptr<Session> removed;
  {
    absl::MutexLock lock(&mu_);
    removed = Remove(id);
  }
  if (removed) Detach(removed, why);
}

std::shared_ptr<Session> SessionManager::Remove(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  std::shared_ptr<Session> s = std::move(it->second);
  sessions_.erase(it);
  ReleaseSessionQuota(*s);
  return s;
}

void SessionManager::ReleaseQuota(uint32_t uid, uint64_t ring_bytes) {
  auto n = sessions_per_uid_.find(uid);
  if (n != sessions_per_uid_.end() && --n->second == 0) sessions_per_uid_.erase(n);
  ReleaseRingBytes(uid, ring_bytes);
}

void SessionManager::ReleaseSessionQuota(const Session& s) {
  auto ring = ring_sessions_.find(s.ring().get());
  const bool last = ring == ring_sessions_.end() || --ring->second == 0;
  if (ring != ring_sessions_.end() && last) ring_sessions_.erase(ring);
  ReleaseQuota(s.owner().uid, last ? s.params().ring_bytes : 0);
}

void SessionManager::Detach(const std::shared_ptr<Session>& s, absl::string_view why) {
  if (DeviceFanout* d = FindDevice(s->params().device)) d->RemoveSession(s->id());
  SessionCounters c = s->counters();
  MYDEV_LOG(kInfo, "session %d closed on %s, uid %d pid %d: %s (received %d, dropped %d)", s->id(),
            s->params().device, s->owner().uid, s->owner().pid, why, c.packets_received,
            c.packets_dropped);
}

size_t SessionManager::ReapUnattached(absl::Time now) {
  std::vector<std::shared_ptr<Session>> expired;
  {
    absl::MutexLock lock(&mu_);
    std::vector<uint64_t> ids;
    for (const auto& [id, s] : sessions_)
      if (!s->attached() && now - s->opened_at() >= limits_.attach_timeout) ids.push_back(id);
    for (uint64_t id : ids) expired.push_back(Remove(id));
  }
  for (const auto& s : expired)
    Detach(s, absl::StrCat("its fds were not fetched within ",
                           absl::FormatDuration(limits_.attach_timeout)));
  return expired.size();
}

void SessionManager::RunReaper() {
  const absl::Duration period =
      std::clamp(limits_.attach_timeout / 4, absl::Milliseconds(1), absl::Milliseconds(250));
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) return;
    }
    ReapUnattached(absl::Now());
  }
}

void SessionManager::CloseAllRings(uint32_t reason) {
  for (const auto& s : List()) s->CloseRing(reason);
}

bool SessionManager::Exists(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  return sessions_.count(id) != 0;
}

std::vector<std::shared_ptr<Session>> SessionManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Session>> out;
  out.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) out.push_back(s);
  return out;
}

}  // namespace mydev::daemon
