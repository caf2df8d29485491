// stats_tokens.h — the bearer tokens of the remote Stats listener
// (config stats_listener.tokens_file), parsed and looked up in constant time.
//
// The file: one token a line, `TOKEN SCOPE [NAME]`; `#` starts a comment;
// blank lines are skipped. TOKEN is 16 to 1024 characters of RFC 6750's
// b64token set (A-Z a-z 0-9 - . _ ~ + /, then optional trailing =), e.g.
// `openssl rand -hex 32`. SCOPE is `devices` (device counters only) or
// `sessions` (also every session row, with owners and command lines). NAME
// (optional, printable, at most 64 characters; default "line N") is what logs
// and per-client limits call the holder; two tokens may share a name (an old
// and a new token while rotating).
//
//   # tokens for the dashboards
//   3f1c0a...e9   sessions  grafana
//   77b2d4...01   devices   noc-wall
//
//   absl::StatusOr<StatsTokens> t = StatsTokens::Load("/etc/mydevd/stats-tokens");
//   if (const StatsTokens::Entry* e = t->Find(presented)) use(e->scope, e->name);
//
// A token never appears in an error message (only its line number does), so
// errors can be logged. Find() compares against every token, in time that
// depends only on the presented token's length and the number of tokens.
#ifndef MYDEV_DAEMON_CONTROL_STATS_TOKENS_H_
#define MYDEV_DAEMON_CONTROL_STATS_TOKENS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/mydev.pb.h"

namespace mydev::daemon {

// "devices" -> STATS_SCOPE_DEVICES, "sessions" -> STATS_SCOPE_SESSIONS;
// INVALID_ARGUMENT otherwise (the message does not repeat the text).
absl::StatusOr<mydev::v1::StatsScope> ParseStatsScope(absl::string_view text);

// True when a==b, in time that depends on a.size() only (never on b's
// contents or length).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

class StatsTokens {
 public:
  // One line of the file.
  struct Entry {
    std::string token;
    mydev::v1::StatsScope scope = mydev::v1::STATS_SCOPE_DEVICES;
    std::string name;  // given, or "line N"
    int line = 0;      // 1-based
  };

  static constexpr size_t kMinTokenLength = 16;
  static constexpr size_t kMaxTokenLength = 1024;
  static constexpr size_t kMaxNameLength = 64;
  static constexpr size_t kMaxTokens = 4096;

  // Parses the file's text; errors read "FILE:LINE: what is wrong and how
  // to fix it" (INVALID_ARGUMENT), never quoting a token.
  static absl::StatusOr<StatsTokens> Parse(absl::string_view text, absl::string_view file_name);
  // Reads and parses path (NOT_FOUND / PERMISSION_DENIED naming the path if
  // it cannot be read; files over 1 MiB are refused).
  static absl::StatusOr<StatsTokens> Load(const std::string& path);

  // The entry whose token equals `token`, or null; constant time (above).
  const Entry* Find(absl::string_view token) const;

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_STATS_TOKENS_H_
