// stats_authenticator.h — who is calling the Stats service, and what they
// may see: a StatsAuthenticator turns a call into a StatsCaller (a scope and
// a client identity for per-client limits and logs) or refuses it.
//
//   * LocalStatsAuthenticator (the Unix socket): the caller's uid from the
//     acceptor's SO_PEERCRED table; scope STATS_SCOPE_LOCAL (every row, the
//     owners as AccessPolicy::MaySeeOwner allows). Never refuses: an unknown
//     peer is served with every owner hidden.
//   * RemoteStatsAuthenticator (remote_stats_authenticator.h): TLS client
//     certificates and bearer tokens; scope devices or sessions.
//
//   LocalStatsAuthenticator local(&peers);
//   absl::StatusOr<StatsCaller> who = local.Authenticate(*server_context);
//   // who->client == "uid 1000", who->scope == STATS_SCOPE_LOCAL
#ifndef MYDEV_DAEMON_RPC_STATS_AUTHENTICATOR_H_
#define MYDEV_DAEMON_RPC_STATS_AUTHENTICATOR_H_

#include <grpcpp/server_context.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/control/access_policy.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "proto/mydev.pb.h"

namespace mydev::daemon {

// An authenticated Stats caller.
struct StatsCaller {
  mydev::v1::StatsScope scope = mydev::v1::STATS_SCOPE_LOCAL;
  // Names the caller in logs and keys the per-client WatchStats cap:
  // "uid 1000", "unknown local peer", "token grafana", "cert CN=dash,O=ops".
  std::string client;
  // Not counted against the per-client WatchStats cap (root, locally).
  bool exempt_from_client_cap = false;
  // STATS_SCOPE_LOCAL: the Unix caller, whose rights decide which owners it
  // sees; absent = unknown, every owner hidden.
  std::optional<Caller> local;
};

class StatsAuthenticator {
 public:
  virtual ~StatsAuthenticator() = default;
  // The caller, or the status to refuse the call with (UNAUTHENTICATED).
  virtual absl::StatusOr<StatsCaller> Authenticate(const grpc::ServerContext& ctx) const = 0;
};

// The local Unix socket's callers, by SO_PEERCRED (see the file comment).
class LocalStatsAuthenticator final : public StatsAuthenticator {
 public:
  // peers may be null: every caller is unknown.
  explicit LocalStatsAuthenticator(const PeerCredentialsTable* peers) : peers_(peers) {}
  absl::StatusOr<StatsCaller> Authenticate(const grpc::ServerContext& ctx) const override;

 private:
  const PeerCredentialsTable* const peers_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_STATS_AUTHENTICATOR_H_
