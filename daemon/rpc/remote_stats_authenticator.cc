// remote_stats_authenticator.cc — see remote_stats_authenticator.h.
#include "daemon/rpc/remote_stats_authenticator.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "daemon/control/stats_tokens.h"
#include "proto/enum_names.h"

namespace mydev::daemon {
namespace {

constexpr size_t kMaxSeenIdentities = 1024;

// A certificate subject or SAN as it may appear in a log line: printable
// ASCII, at most 200 characters.
std::string Printable(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

absl::StatusOr<StatsCaller> RemoteStatsAuthenticator::Authenticate(
    const grpc::ServerContext& ctx) const {
  PresentedCredentials presented;
  const auto& metadata = ctx.client_metadata();
  for (auto [it, end] = metadata.equal_range("authorization"); it != end; ++it)
    presented.authorization.emplace_back(it->second.data(), it->second.size());
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (client_certs_ && auth != nullptr && auth->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> subject =
        auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
    if (!subject.empty()) {
      presented.certificate = std::string(subject[0].data(), subject[0].size());
    } else {
      std::vector<std::string> ids;
      for (const grpc::string_ref& id : auth->GetPeerIdentity())
        ids.emplace_back(id.data(), id.size());
      presented.certificate = absl::StrJoin(ids, ",");
    }
  }
  return Check(presented);
}

absl::StatusOr<StatsCaller> RemoteStatsAuthenticator::Check(
    const PresentedCredentials& presented) const {
  absl::StatusOr<StatsCaller> caller = Decide(presented);
  if (caller.ok())
    NoteSuccess(*caller);
  else
    NoteRefusal(caller.status());
  return caller;
}

absl::StatusOr<StatsCaller> RemoteStatsAuthenticator::Decide(
    const PresentedCredentials& presented) const {
  StatsCaller caller;
  if (!presented.authorization.empty()) {
    if (presented.authorization.size() > 1)
      return absl::UnauthenticatedError("more than one authorization header: send one");
    absl::string_view value = presented.authorization[0];
    if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer "))
      return absl::UnauthenticatedError(
          "the authorization header is not `Bearer TOKEN` (the only scheme this listener takes)");
    absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
    if (tokens_ == nullptr)
      return absl::UnauthenticatedError(
          "this listener takes no bearer tokens (stats_listener.tokens_file is unset): present "
          "a client certificate");
    std::shared_ptr<const StatsTokens> tokens = tokens_->Current();
    const StatsTokens::Entry* entry = tokens->Find(token);
    if (entry == nullptr) return absl::UnauthenticatedError("unknown bearer token");
    caller.scope = entry->scope;
    caller.client = absl::StrCat("token ", entry->name);
    return caller;
  }
  if (presented.certificate) {
    caller.scope = cert_scope_;
    caller.client = absl::StrCat("cert ", Printable(*presented.certificate));
    return caller;
  }
  std::string how;
  if (client_certs_) how = "a client certificate signed by the listener's client CA";
  if (tokens_ != nullptr)
    absl::StrAppend(&how, how.empty() ? "" : ", or ", "`authorization: Bearer TOKEN` metadata");
  return absl::UnauthenticatedError(absl::StrCat("no credentials: present ", how));
}

uint64_t RemoteStatsAuthenticator::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

void RemoteStatsAuthenticator::NoteRefusal(const absl::Status& why) const {
  uint64_t unlogged = 0;
  {
    absl::MutexLock lock(&mu_);
    ++refused_;
    ++refused_unlogged_;
    const absl::Time now = absl::Now();
    if (now - refusal_logged_ < absl::Seconds(10)) return;
    refusal_logged_ = now;
    unlogged = refused_unlogged_;
    refused_unlogged_ = 0;
  }
  // The message names no token (Decide never quotes one).
  if (unlogged <= 1)
    MYDEV_LOG(kWarning, "remote Stats call refused: %s", why.message());
  else
    MYDEV_LOG(kWarning, "remote Stats calls refused: %d in the last 10 s or so, the latest: %s",
              unlogged, why.message());
}

void RemoteStatsAuthenticator::NoteSuccess(const StatsCaller& caller) const {
  {
    absl::MutexLock lock(&mu_);
    if (seen_.count(caller.client)) return;
    if (seen_.size() >= kMaxSeenIdentities) seen_.clear();
    seen_.insert(caller.client);
  }
  MYDEV_LOG(kInfo, "remote Stats client %s (scope %s)", caller.client,
            StatsScopeName(caller.scope));
}

}  // namespace mydev::daemon
