// basic_auth.cc — see basic_auth.h.
#include "tools/dashboard/web/basic_auth.h"

#include <crypt.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace mydev::dashboard {
namespace {

// crypt(3)'s alphabet plus the '$' separators and the ',' / '=' of
// "rounds=N" settings.
bool IsHashChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/' || c == '$' ||
         c == '=' || c == ',';
}

bool HasControlChar(absl::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::optional<BasicCredentials> ParseBasicAuthorization(absl::string_view header) {
  if (header.size() > kMaxAuthorizationLength) return std::nullopt;
  header = absl::StripAsciiWhitespace(header);
  constexpr absl::string_view kScheme = "basic";
  if (header.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme) ||
      (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t')) {
    return std::nullopt;
  }
  absl::string_view token = absl::StripLeadingAsciiWhitespace(header.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  for (char c : token) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
      return std::nullopt;
  }
  std::string decoded;
  if (!absl::Base64Unescape(token, &decoded)) return std::nullopt;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  BasicCredentials c;
  c.user = decoded.substr(0, colon);
  c.password = decoded.substr(colon + 1);
  if (HasControlChar(c.user)) return std::nullopt;
  return c;
}

bool IsSupportedPasswordHash(absl::string_view hash) {
  static constexpr absl::string_view kPrefixes[] = {"$2y$", "$2b$", "$2a$", "$5$", "$6$"};
  bool known = false;
  for (absl::string_view p : kPrefixes) {
    if (absl::StartsWith(hash, p) && hash.size() > p.size()) known = true;
  }
  if (!known) return false;
  for (char c : hash) {
    if (!IsHashChar(c)) return false;
  }
  return true;
}

absl::StatusOr<BasicAuth> BasicAuth::Parse(absl::string_view text, absl::string_view name) {
  BasicAuth auth;
  absl::flat_hash_map<std::string, int> users;  // user -> its line
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const auto where = [&] { return absl::StrCat(name, ":", line_number, ": "); };
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "expected USER:HASH"));
    }
    absl::string_view user = line.substr(0, colon);
    absl::string_view hash = line.substr(colon + 1);
    if (user.empty() || HasControlChar(user)) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "empty or invalid user name"));
    }
    if (!IsSupportedPasswordHash(hash)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(),
          "unsupported password hash (use `htpasswd -B` bcrypt $2y$ or `openssl passwd -6` $6$)"));
    }
    if (auto [it, added] = users.emplace(std::string(user), line_number); !added) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "user already listed on line ", it->second));
    }
    auth.entries_.push_back(Entry{std::string(user), std::string(hash), line_number});
  }
  if (auth.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": no USER:HASH line"));
  }
  return auth;
}

absl::StatusOr<BasicAuth> BasicAuth::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot read basic auth file ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return Parse(text.str(), path);
}

bool BasicAuth::Check(absl::string_view user, absl::string_view password) const {
  const Entry* found = nullptr;
  for (const Entry& e : entries_) {
    // Every entry compared, so the time does not say which user matched.
    if (ConstantTimeEquals(e.user, user)) found = &e;
  }
  // An unknown user still costs one crypt() with a real entry's setting.
  const std::string& hash = found != nullptr ? found->hash : entries_.front().hash;
  const bool password_ok = password.find('\0') == absl::string_view::npos;
  const std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  if (out == nullptr || out[0] == '*') return false;
  const bool match = ConstantTimeEquals(out, hash);
  return found != nullptr && password_ok && match;
}

}  // namespace mydev::dashboard
