// snapshot_sink.h — where a StatsWatcher (stats_watcher.h) delivers one
// target's snapshots and failures; apart from gRPC, so models that implement
// it (`mydevctl top`'s TopModel, mydev-dashboard's FleetState) are tested
// without a network.
//
//   class Model : public SnapshotSink {
//     void OnSnapshot(size_t target, const mydev::v1::StatsSnapshot& s) override { ... }
//     void OnDown(size_t target, std::string reason) override { ... }
//   };
#ifndef MYDEV_TOOLS_STATS_CLIENT_SNAPSHOT_SINK_H_
#define MYDEV_TOOLS_STATS_CLIENT_SNAPSHOT_SINK_H_

#include <cstddef>
#include <string>

#include "proto/mydev.pb.h"

namespace mydev::stats_client {

// Where a StatsWatcher delivers; called from the watcher's thread, never with
// the watcher's lock held, so an implementation may take its own locks. It
// should return quickly: the stream is not read meanwhile.
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;

  // A snapshot arrived from target (the index the watcher was given).
  virtual void OnSnapshot(size_t target, const mydev::v1::StatsSnapshot& snapshot) = 0;

  // target's stream failed, ended or stalled (reason in gRPC's words, e.g.
  // "UNAVAILABLE: failed to connect to all addresses"); it is retried.
  virtual void OnDown(size_t target, std::string reason) = 0;
};

}  // namespace mydev::stats_client

#endif  // MYDEV_TOOLS_STATS_CLIENT_SNAPSHOT_SINK_H_
