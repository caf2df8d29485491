// remote_stats_authenticator.h — who calls the remote Stats listener:
// a bearer token (`authorization: Bearer TOKEN` metadata) from the tokens
// file, or a client certificate that the TLS handshake verified against
// stats_listener.tls.client_ca_file.
//
// Rules, in order:
//   1. An `authorization` header decides alone: it must be exactly one
//      `Bearer TOKEN` naming a token of the file (compared in constant time,
//      StatsTokens::Find); identity "token NAME", the token's scope. A wrong
//      or unknown token is refused even if a good certificate came with it.
//   2. Else a verified client certificate: identity "cert SUBJECT" (its
//      RFC 2253 subject; the peer identity — SAN or CN — if there is none),
//      scope stats_listener.client_cert_scope (default sessions).
//   3. Else UNAUTHENTICATED, saying what to present.
// Tokens are never logged or echoed; refusals are logged at most every 10 s
// (with a count), and each identity's first success once.
//
//   RemoteStatsAuthenticator auth(tokens_file.get(), /*client_certs=*/true,
//                                 mydev::v1::STATS_SCOPE_SESSIONS);
//   absl::StatusOr<StatsCaller> who = auth.Authenticate(*server_context);
//   // or, without gRPC (tests):
//   who = auth.Check(PresentedCredentials{{"Bearer 0123..."}, std::nullopt});
#ifndef MYDEV_DAEMON_RPC_REMOTE_STATS_AUTHENTICATOR_H_
#define MYDEV_DAEMON_RPC_REMOTE_STATS_AUTHENTICATOR_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/control/stats_tokens_file.h"
#include "daemon/rpc/stats_authenticator.h"

namespace mydev::daemon {

// What a remote call brought, taken out of its ServerContext.
struct PresentedCredentials {
  std::vector<std::string> authorization;  // every `authorization` metadata value
  std::optional<std::string> certificate;  // a verified client certificate's identity
};

class RemoteStatsAuthenticator final : public StatsAuthenticator {
 public:
  // tokens: null = no tokens file. client_certs: the listener verifies
  // client certificates (tls.client_ca_file), who then get cert_scope.
  RemoteStatsAuthenticator(const StatsTokensFile* tokens, bool client_certs,
                           mydev::v1::StatsScope cert_scope)
      : tokens_(tokens), client_certs_(client_certs), cert_scope_(cert_scope) {}

  absl::StatusOr<StatsCaller> Authenticate(const grpc::ServerContext& ctx) const override;
  // The decision alone (the rules above); logs like Authenticate.
  absl::StatusOr<StatsCaller> Check(const PresentedCredentials& presented) const;

  // Calls refused so far.
  uint64_t refused() const;

 private:
  absl::StatusOr<StatsCaller> Decide(const PresentedCredentials& presented) const;
  void NoteRefusal(const absl::Status& why) const;
  void NoteSuccess(const StatsCaller& caller) const;

  const StatsTokensFile* const tokens_;
  const bool client_certs_;
  const mydev::v1::StatsScope cert_scope_;
  mutable absl::Mutex mu_;
  mutable uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  mutable uint64_t refused_unlogged_ ABSL_GUARDED_BY(mu_) = 0;
  mutable absl::Time refusal_logged_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable std::set<std::string> seen_ ABSL_GUARDED_BY(mu_);  // identities logged once
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_REMOTE_STATS_AUTHENTICATOR_H_
