// basic_auth.h — HTTP Basic authentication for mydev-dashboard's web server:
// the `Authorization: Basic ...` header decoded, an htpasswd file parsed, and
// a presented user/password checked against its crypt(3) hash.
//
// The file: one `USER:HASH` a line, as written by `htpasswd -B` (bcrypt,
// `$2y$`/`$2b$`/`$2a$`) or `openssl passwd -6` (SHA-512 crypt, `$6$`; `$5$`
// also accepted); `#` starts a comment line; blank lines are skipped. Other
// schemes (plain text, `$apr1$`, `{SHA}`) are refused, naming the line.
//
//   absl::StatusOr<BasicAuth> auth = BasicAuth::Load("/etc/mydev/dashboard.htpasswd");
//   std::optional<BasicCredentials> c = ParseBasicAuthorization(header_value);
//   if (!c || !auth->Check(c->user, c->password)) Reply401();
//
// Error messages name the file and line, never a hash or a password.
#ifndef MYDEV_TOOLS_DASHBOARD_WEB_BASIC_AUTH_H_
#define MYDEV_TOOLS_DASHBOARD_WEB_BASIC_AUTH_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mydev::dashboard {

// A user name and password from an `Authorization: Basic` header.
struct BasicCredentials {
  std::string user;
  std::string password;
};

// Longest Authorization header value accepted (anything longer is refused
// without decoding).
inline constexpr size_t kMaxAuthorizationLength = 4096;

// Decodes an Authorization header value `Basic BASE64(user:password)` (the
// scheme is case-insensitive, spaces around the token are allowed). nullopt
// when it is another scheme, not base64, too long, has no ':', or the user
// name is empty or contains a control character.
std::optional<BasicCredentials> ParseBasicAuthorization(absl::string_view header);

// True when a == b, in time that depends only on the lengths (never on where
// the first difference is).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// The users of an htpasswd file and a check of their passwords.
class BasicAuth {
 public:
  // One line of the file.
  struct Entry {
    std::string user;
    std::string hash;  // a crypt(3) setting+hash: "$2y$05$...", "$6$salt$..."
    int line = 0;
  };

  // Parses the text of an htpasswd file; `name` prefixes error messages
  // ("NAME:LINE: ..."). INVALID_ARGUMENT for a malformed line, an unsupported
  // hash scheme, a duplicate user, or no user at all.
  static absl::StatusOr<BasicAuth> Parse(absl::string_view text, absl::string_view name);

  // Reads and parses the file at `path` (NOT_FOUND / PERMISSION_DENIED etc.
  // when it cannot be read).
  static absl::StatusOr<BasicAuth> Load(const std::string& path);

  // True when `user` is in the file and crypt(password, its hash) equals its
  // hash. An unknown user costs about as much as a known one (a dummy hash is
  // computed), and hashes are compared in constant time. Thread-safe.
  bool Check(absl::string_view user, absl::string_view password) const;

  // The parsed lines, in file order.
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// True when `hash` starts with a scheme BasicAuth accepts ($2y$, $2b$, $2a$,
// $5$, $6$) and consists only of crypt(3)'s characters.
bool IsSupportedPasswordHash(absl::string_view hash);

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_WEB_BASIC_AUTH_H_
