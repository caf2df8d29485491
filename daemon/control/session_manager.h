// session_manager.h — opens, finds, changes, closes and frees capture
// sessions, and enforces the limits: valid fields, ring sizes, who may
// capture on or inject into a device (access rules), sessions and ring memory
// per uid, who may touch a session (its token and its owner uid), and the
// attach deadline (a session whose fds were not fetched within
// attach_timeout is freed). Every check of a request's values is here; the
// gRPC services only translate (daemon/rpc/capture_service.h).
//
//   SessionManager m(limits, {&mydev0_runtime});   // no access rules: open to all
//   SessionManager m(limits, {&mydev0_runtime}, *BuildAccessPolicy(config));
//   m.StartReaper();                         // frees unattached sessions
//   absl::StatusOr<std::shared_ptr<Session>> s =
//       m.Open(request, creds, PeerProcess::Read(creds.pid));
//   absl::StatusOr<std::shared_ptr<Session>> same = m.Lookup(id, token, creds.uid);
//   m.SetDirection(**same, mydev::v1::DIRECTION_IN);   // INVALID_ARGUMENT if not a Direction
//   m.Close(id, token, creds.uid);           // or m.Free(id, "client went away")
#ifndef MYDEV_DAEMON_CONTROL_SESSION_MANAGER_H_
#define MYDEV_DAEMON_CONTROL_SESSION_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "daemon/control/access_policy.h"
#include "daemon/control/config.h"
#include "daemon/control/peer_process.h"
#include "daemon/datapath/device_fanout.h"
#include "daemon/datapath/session.h"
#include "proto/mydev.pb.h"

namespace mydev::daemon {

inline constexpr uint32_t kMaxSnaplen = 262144;

class SessionManager {
 public:
  // devices are not owned and must outlive the manager.
  // No access rules: capture open to all, limits.max_*_per_uid for everyone.
  SessionManager(const Limits& limits, std::vector<DeviceFanout*> devices);
  SessionManager(const Limits& limits, std::vector<DeviceFanout*> devices, AccessPolicy access);
  ~SessionManager();  // stops the reaper; frees nothing itself

  // Frees sessions not attached within attach_timeout, checking every
  // attach_timeout / 4 (at least every 1 ms, at most every 250 ms).
  void StartReaper();

  // Validates every field; NOT_FOUND (device), PERMISSION_DENIED (the
  // device's capture rule), INVALID_ARGUMENT (sizes, direction, dlt),
  // RESOURCE_EXHAUSTED (sessions or ring memory per uid, memory).
  // process (PeerProcess::Read(peer.pid), read once by the caller) is kept
  // with the session for the stats.
  absl::StatusOr<std::shared_ptr<Session>> Open(const mydev::v1::OpenSessionRequest& request,
                                                const Credentials& peer,
                                                const PeerProcess& process = {});

  // Changes to a session found with Lookup (the caller's own), each value
  // checked here; nothing changes on an error.
  // No instructions: no filter. INVALID_ARGUMENT (says why) for a program
  // BpfProgram refuses or one longer than limits().max_bpf_insns.
  absl::Status SetFilter(Session& session,
                         const google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn>& insns);
  // INVALID_ARGUMENT: "direction 7 is not IN, OUT or INOUT".
  absl::Status SetDirection(Session& session, mydev::v1::Direction direction);
  // NOT_FOUND: the session's device is gone; INVALID_ARGUMENT: "link type
  // 105 is not offered by 'mydev0'" (0 too: it means the default only in Open).
  absl::Status SetDataLink(Session& session, int dlt);

  // Sends frame out of the session's device for caller (the session's
  // owner, as the kernel reports it for this call); returns the bytes sent.
  // NOT_FOUND (the device is gone), PERMISSION_DENIED (the device's inject
  // rule), INVALID_ARGUMENT (not 1..kMaxSnaplen bytes), then the backend's
  // answer (UNIMPLEMENTED when it cannot inject).
  absl::StatusOr<uint32_t> Inject(Session& session, const Credentials& caller,
                                  absl::Span<const uint8_t> frame);

  // NOT_FOUND (no such session), PERMISSION_DENIED (token or owner uid).
  absl::StatusOr<std::shared_ptr<Session>> Lookup(uint64_t id, absl::string_view token,
                                                  uint32_t uid) const;

  absl::Status Close(uint64_t id, absl::string_view token, uint32_t uid);

  // Frees a session without checks (its client went away). No-op if gone.
  void Free(uint64_t id, absl::string_view why);

  // Frees the sessions opened before now - attach_timeout and never attached.
  size_t ReapUnattached(absl::Time now);

  // Marks every ring closed with reason (e.g. 1 = daemon shutdown).
  void CloseAllRings(uint32_t reason);

  bool Exists(uint64_t id) const;
  std::vector<std::shared_ptr<Session>> List() const;
  DeviceFanout* FindDevice(absl::string_view name) const;
  const std::vector<DeviceFanout*>& devices() const { return devices_; }
  const Limits& limits() const { return limits_; }
  const AccessPolicy& access() const { return access_; }

 private:
  // What Open has checked and reserved before it creates anything.
  struct Admission {
    DeviceFanout* device = nullptr;
    Caller caller;
    SessionParams params;
    uint64_t id = 0;  // reserved, with one session and ring_bytes_reserved of caller.uid's quota
    // On a device with share_rings: a ring of caller.uid's with the same size
    // to join (DeviceFanout::RingToJoin), else null.
    std::shared_ptr<SessionRing> join;
    // params.ring_bytes, or 0 when the session is to join a ring, whose bytes
    // are already charged; CreateSession settles it against the ring it got.
    uint64_t ring_bytes_reserved = 0;
  };

  // Open's steps, in order. Nothing is reserved until CheckAccessAndLimits
  // returns; CreateSession and AttachToDevice give the reservation back when
  // they fail.
  //   CheckAccessAndLimits: the device (NOT_FOUND), its capture rule
  //     (PERMISSION_DENIED), the request's values (ResolveParams), the
  //     caller's limits (ReserveQuota); reserves the quota and an id.
  //   CreateSession: the session and its ring (RESOURCE_EXHAUSTED); a ring's
  //     bytes are charged once, to its uid, however many sessions share it
  //     (ring_sessions_).
  //   AttachToDevice: onto the device's fan-out (its error, naming the
  //     device), then into the session table.
  absl::StatusOr<Admission> CheckAccessAndLimits(const mydev::v1::OpenSessionRequest& request,
                                                 const Credentials& peer) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::shared_ptr<Session>> CreateSession(const Admission& admission,
                                                         const Credentials& peer)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status AttachToDevice(const Admission& admission, const std::shared_ptr<Session>& session)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The request's fields validated (INVALID_ARGUMENT) and resolved against
  // the limits and the device: snaplen, ring size, direction, link type, ...
  absl::StatusOr<SessionParams> ResolveParams(const mydev::v1::OpenSessionRequest& request,
                                              DeviceFanout& device) const;
  // RESOURCE_EXHAUSTED when one more session, or ring_bytes more ring
  // memory, would take caller over its limits; else reserves both and
  // returns the new session's id.
  absl::StatusOr<uint64_t> ReserveQuota(const Caller& caller, uint64_t ring_bytes)
      ABSL_LOCKS_EXCLUDED(mu_);
  // RESOURCE_EXHAUSTED when ring_bytes more ring memory would take caller, or
  // all users, over the limits (ReserveQuota's ring checks).
  absl::Status CheckRingBytes(const Caller& caller, uint64_t ring_bytes) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddRingBytes(uint32_t uid, uint64_t ring_bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseRingBytes(uint32_t uid, uint64_t ring_bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The value checks Open and the Set* calls share.
  static absl::Status CheckDirection(mydev::v1::Direction direction);
  static absl::Status CheckDataLink(const DeviceFanout& device, int dlt);
  // The session's device; NOT_FOUND if it is gone.
  absl::StatusOr<DeviceFanout*> DeviceOf(const Session& session) const;

  std::shared_ptr<Session> Remove(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives back one of uid's sessions and ring_bytes of its ring memory, as
  // reserved by ReserveQuota (before the session exists).
  void ReleaseQuota(uint32_t uid, uint64_t ring_bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives back what a created session holds: one session, and its ring's
  // bytes when it is the last session of that ring (ring_sessions_).
  void ReleaseSessionQuota(const Session& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Detach(const std::shared_ptr<Session>& s, absl::string_view why);
  void RunReaper();

  const Limits limits_;
  const std::vector<DeviceFanout*> devices_;
  const AccessPolicy access_;

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, uint32_t> sessions_per_uid_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, uint64_t> ring_bytes_per_uid_ ABSL_GUARDED_BY(mu_);
  uint64_t ring_bytes_total_ ABSL_GUARDED_BY(mu_) = 0;     // every uid's, reserved
  uint64_t ring_bytes_non_root_ ABSL_GUARDED_BY(mu_) = 0;  // of it, uids other than 0
  // Per ring, the sessions created on it and not yet released: its bytes
  // are charged while there is one (a shared ring's, once).
  std::map<const SessionRing*, uint32_t> ring_sessions_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reaper_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_SESSION_MANAGER_H_
