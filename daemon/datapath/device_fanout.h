// device_fanout.h — one running device: its backend, the sessions open on it, and
// the fan-out that copies each batch into every session's ring.
//
// The sessions are kept as an immutable snapshot (shared_ptr to a vector)
// replaced on every add/remove, so the backend thread only takes the lock to
// copy one pointer per batch. A ticker thread publishes every ring every
// `tick` so clients' timeouts fire on an idle device.
//
// Promiscuous mode is reference-counted here: the backend is asked to turn it
// on with the first session that wants it and off with the last. When the
// backend reports the device gone, every session is dropped from the device
// and its ring closed with MYDEV_RING_CLOSE_DEVICE_GONE (shm/ring_abi.h).
//
//   DeviceFanout dev(std::make_unique<SyntheticBackend>(info, opts), absl::Milliseconds(10));
//   dev.AddSession(session);          // starts receiving with the next batch
//                                     // (UNAVAILABLE while the device is gone)
//   dev.Start();                      // backend thread + ticker
//   ...
//   dev.RemoveSession(session->id());
//   dev.Stop();
#ifndef MYDEV_DAEMON_DATAPATH_DEVICE_FANOUT_H_
#define MYDEV_DAEMON_DATAPATH_DEVICE_FANOUT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "daemon/backends/backend.h"
#include "daemon/datapath/session.h"

namespace mydev::daemon {

struct DeviceCounters {
  uint64_t packets_seen = 0;
  uint64_t bytes_seen = 0;
  uint64_t packets_ifdropped = 0;
  uint32_t sessions = 0;
  uint32_t promisc_sessions = 0;  // sessions holding promiscuous mode on
};

class DeviceFanout {
 public:
  DeviceFanout(std::unique_ptr<Backend> backend, absl::Duration tick);
  ~DeviceFanout();
  DeviceFanout(const DeviceFanout&) = delete;
  DeviceFanout& operator=(const DeviceFanout&) = delete;

  // Starts the backend (its sink is OnBatch) and the ticker.
  absl::Status Start();
  // Stops both; idempotent.
  void Stop();

  const DeviceInfo& info() const { return backend_->info(); }
  Backend& backend() { return *backend_; }
  // The backend's Health(): OK while the device serves, UNAVAILABLE (saying
  // why) while its interface is missing or down.
  absl::Status health() const { return backend_->Health(); }

  // UNAVAILABLE while the device is gone; the error of turning promiscuous
  // mode on when this is the first session to ask for it.
  absl::Status AddSession(std::shared_ptr<Session> session);
  // No-op for a session not on the device (e.g. dropped when it went away).
  void RemoveSession(uint64_t session_id);

  // The backend's DeviceGoneHandler: drops every session, closing its ring.
  void OnDeviceGone(const absl::Status& why);

  // The sink: per session direction, BPF, snaplen, copy, publish.
  void OnBatch(absl::Span<const Packet> batch);
  // Publishes every session's ring (what the ticker does).
  void TickAll();

  // Counters and the session counts, the two counts read under one lock.
  DeviceCounters counters() const;

 private:
  using SessionList = std::vector<std::shared_ptr<Session>>;
  std::shared_ptr<const SessionList> Snapshot() const;
  void RunTicker();

  std::unique_ptr<Backend> backend_;
  const absl::Duration tick_;
  std::atomic<uint64_t> packets_seen_{0};
  std::atomic<uint64_t> bytes_seen_{0};

  mutable absl::Mutex mu_;
  std::shared_ptr<const SessionList> sessions_ ABSL_GUARDED_BY(mu_);
  uint32_t promisc_sessions_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_DEVICE_FANOUT_H_
