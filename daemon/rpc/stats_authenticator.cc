// stats_authenticator.cc — see stats_authenticator.h.
#include "daemon/rpc/stats_authenticator.h"

#include "absl/strings/str_cat.h"

namespace mydev::daemon {

absl::StatusOr<StatsCaller> LocalStatsAuthenticator::Authenticate(
    const grpc::ServerContext& ctx) const {
  StatsCaller caller;
  caller.scope = mydev::v1::STATS_SCOPE_LOCAL;
  caller.client = "unknown local peer";  // all unknown peers share one count
  if (peers_ == nullptr) return caller;
  absl::StatusOr<Credentials> who = peers_->ForPeer(ctx.peer());
  if (!who.ok()) return caller;
  caller.client = absl::StrCat("uid ", who->uid);
  caller.exempt_from_client_cap = who->uid == 0;
  caller.local = LookUpCaller(who->uid, who->gid);
  return caller;
}

}  // namespace mydev::daemon
