// stats_tokens.cc — see stats_tokens.h.
#include "daemon/control/stats_tokens.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/unique_fd.h"

namespace mydev::daemon {
namespace {

constexpr size_t kMaxFileBytes = 1 << 20;

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool IsB64Token(absl::string_view t) {
  size_t i = 0;
  while (i < t.size() && IsTokenChar(t[i])) ++i;
  if (i == 0) return false;
  while (i < t.size() && t[i] == '=') ++i;
  return i == t.size();
}

bool IsPrintableName(absl::string_view name) {
  for (char c : name)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace

absl::StatusOr<mydev::v1::StatsScope> ParseStatsScope(absl::string_view text) {
  if (text == "devices") return mydev::v1::STATS_SCOPE_DEVICES;
  if (text == "sessions") return mydev::v1::STATS_SCOPE_SESSIONS;
  return absl::InvalidArgumentError("the scope must be `devices` or `sessions`");
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Walks a (the presented value) whole, comparing with b repeated: the time
  // depends on a.size() alone. A length difference makes diff non-zero.
  const size_t n = b.size();
  unsigned diff = static_cast<unsigned>(a.size() != n);
  if (n == 0) return a.empty();
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i % n]);
  return diff == 0;
}

absl::StatusOr<StatsTokens> StatsTokens::Parse(absl::string_view text,
                                               absl::string_view file_name) {
  StatsTokens out;
  std::set<std::string> seen;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ":", line_no, ": ", what));
    };
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() < 2 || fields.size() > 3)
      return error(absl::StrCat("expected `TOKEN SCOPE [NAME]`, found ", fields.size(), " field",
                                fields.size() == 1 ? "" : "s"));
    const absl::string_view token = fields[0];
    if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength)
      return error(absl::StrCat("the token has ", token.size(), " characters; use ",
                                kMinTokenLength, " to ", kMaxTokenLength,
                                " (e.g. the output of `openssl rand -hex 32`)"));
    if (!IsB64Token(token))
      return error(
          "the token has a character outside A-Z a-z 0-9 - . _ ~ + / (and = only at its end)");
    absl::StatusOr<mydev::v1::StatsScope> scope = ParseStatsScope(fields[1]);
    if (!scope.ok()) return error("the second field (SCOPE) must be `devices` or `sessions`");
    Entry e;
    e.token = std::string(token);
    e.scope = *scope;
    e.line = line_no;
    if (fields.size() == 3) {
      if (fields[2].size() > kMaxNameLength || !IsPrintableName(fields[2]))
        return error(
            absl::StrCat("the NAME must be at most ", kMaxNameLength, " printable characters"));
      e.name = std::string(fields[2]);
    } else {
      e.name = absl::StrCat("line ", line_no);
    }
    if (!seen.insert(e.token).second) {
      int first = 0;
      for (const Entry& prior : out.entries_)
        if (prior.token == e.token) first = prior.line;
      return error(absl::StrCat("the same token as line ", first, "; each token must be unique"));
    }
    if (out.entries_.size() >= kMaxTokens)
      return error(absl::StrCat("more than ", kMaxTokens, " tokens"));
    out.entries_.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<StatsTokens> StatsTokens::Load(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid())
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read the tokens file ", path));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read the tokens file ", path));
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(
        absl::StrCat("the tokens file ", path, " is not a regular file"));
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("reading the tokens file ", path));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes)
      return absl::InvalidArgumentError(
          absl::StrCat("the tokens file ", path, " is larger than ", kMaxFileBytes, " bytes"));
  }
  return Parse(text, path);
}

const StatsTokens::Entry* StatsTokens::Find(absl::string_view token) const {
  // Every entry is compared, and the match is selected without a branch on
  // the comparison, so the time does not tell which token (if any) matched.
  uintptr_t found = 0;
  for (const Entry& e : entries_) {
    const uintptr_t mask =
        static_cast<uintptr_t>(0) - static_cast<uintptr_t>(ConstantTimeEquals(token, e.token));
    found |= reinterpret_cast<uintptr_t>(&e) & mask;
  }
  return reinterpret_cast<const Entry*>(found);
}

}  // namespace mydev::daemon
