// basic_auth_fuzzer.cc — libFuzzer target for the bytes a client or an
// operator hands the dashboard's basic auth: the fuzz input is used both as
// an `Authorization` header value (ParseBasicAuthorization) and as an
// htpasswd file (BasicAuth::Parse).
//
// Invariants checked (abort otherwise):
//   * a parsed header: a non-empty user without ':' or control characters,
//     and re-encoding "user:password" as Basic gives the same credentials;
//   * a header longer than kMaxAuthorizationLength is refused;
//   * a parsed file: every entry has a non-empty user, a supported hash, a
//     line within the text, and users are unique;
//   * a refused file: INVALID_ARGUMENT starting "htpasswd", and the message
//     quotes no hash-like field of the input (nothing starting with '$').
// crypt() itself is not run (slow, and not ours).
// Seeds: testdata/fuzz/basic_auth_fuzzer/.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "tools/dashboard/web/basic_auth.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "basic_auth_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

void CheckHeader(const std::string& text) {
  using mydev::dashboard::ParseBasicAuthorization;
  std::optional<mydev::dashboard::BasicCredentials> c = ParseBasicAuthorization(text);
  if (!c.has_value()) return;
  if (text.size() > mydev::dashboard::kMaxAuthorizationLength) Fail("long header parsed", "");
  if (c->user.empty()) Fail("empty user", text);
  if (c->user.find(':') != std::string::npos) Fail("user with ':'", c->user);
  for (char ch : c->user) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) Fail("control char in user", text);
  }
  auto again = ParseBasicAuthorization("Basic " + absl::Base64Escape(c->user + ":" + c->password));
  if (!again.has_value() || again->user != c->user || again->password != c->password) {
    Fail("round trip", text);
  }
}

void CheckFile(const std::string& text) {
  auto auth = mydev::dashboard::BasicAuth::Parse(text, "htpasswd");
  if (!auth.ok()) {
    const std::string message(auth.status().message());
    if (auth.status().code() != absl::StatusCode::kInvalidArgument) Fail("code", message);
    if (message.rfind("htpasswd", 0) != 0) Fail("message does not name the file", message);
    for (absl::string_view field : absl::StrSplit(text, absl::ByAnyChar(" \t\r\n:"))) {
      if (field.size() >= 8 && field[0] == '$' &&
          message.find(std::string(field)) != std::string::npos)
        Fail("message quotes a hash", message);
    }
    return;
  }
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  std::set<std::string> users;
  for (const auto& e : auth->entries()) {
    if (e.user.empty()) Fail("empty user", text);
    if (!mydev::dashboard::IsSupportedPasswordHash(e.hash)) Fail("hash", e.hash);
    if (e.line < 1 || e.line > lines) Fail("line", e.user);
    if (!users.insert(e.user).second) Fail("duplicate user", e.user);
  }
  if (auth->entries().empty()) Fail("parsed an empty file", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  CheckHeader(text);
  CheckFile(text);
  return 0;
}
