// session_manager.h — opens, finds, closes and frees capture sessions, and
// enforces the limits: valid fields, ring sizes, who may capture on a device
// (access rules), sessions and ring memory per uid, who may touch a session
// (its token and its owner uid), and the attach deadline (a session whose fds
// were not fetched within attach_timeout is freed).
//
//   SessionManager m(limits, {&mydev0_runtime});   // no access rules: open to all
//   SessionManager m(limits, {&mydev0_runtime}, *BuildAccessPolicy(config));
//   m.StartReaper();                         // frees unattached sessions
//   absl::StatusOr<std::shared_ptr<Session>> s = m.Open(request, creds);
//   absl::StatusOr<std::shared_ptr<Session>> same = m.Lookup(id, token, creds.uid);
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
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/control/access_policy.h"
#include "daemon/control/config.h"
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
  absl::StatusOr<std::shared_ptr<Session>> Open(const mydev::v1::OpenSessionRequest& request,
                                                const Credentials& peer);

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
  std::shared_ptr<Session> Remove(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives back one session and its ring bytes reserved by Open().
  void ReleaseQuota(uint32_t uid, uint64_t ring_bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reaper_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_SESSION_MANAGER_H_
