// stats_tokens_fuzzer.cc — libFuzzer target for the remote Stats listener's
// tokens file (StatsTokens::Parse): the fuzz bytes are the file.
//
// Invariants checked (abort otherwise):
//   * a parsed file: every entry's token is 16..1024 b64token characters,
//     unique, its scope `devices` or `sessions`, its line within the text,
//     and Find(token) returns that very entry; Find of the token with its
//     last character changed, and of "", returns no entry;
//   * a refused file: INVALID_ARGUMENT "tokens:LINE: ...", and the message
//     contains no field of the input 16 characters or longer (a token, or
//     something that might be one, is never quoted).
// Seeds: testdata/fuzz/stats_tokens_fuzzer/ (tools/fuzz.sh runs it).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/str_split.h"
#include "daemon/control/stats_tokens.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "stats_tokens_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mydev::daemon::StatsTokens;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<StatsTokens> t = StatsTokens::Parse(text, "tokens");
  if (!t.ok()) {
    const std::string message(t.status().message());
    if (t.status().code() != absl::StatusCode::kInvalidArgument)
      Fail("unexpected code", t.status().ToString());
    if (message.rfind("tokens:", 0) != 0) Fail("message does not name the line", message);
    for (absl::string_view field :
         absl::StrSplit(text, absl::ByAnyChar(" \t\r\n\v\f#"), absl::SkipEmpty()))
      if (field.size() >= StatsTokens::kMinTokenLength &&
          message.find(std::string(field)) != std::string::npos)
        Fail("message quotes the input", message);
    return 0;
  }
  std::set<std::string> seen;
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  for (const StatsTokens::Entry& e : t->entries()) {
    if (e.token.size() < StatsTokens::kMinTokenLength ||
        e.token.size() > StatsTokens::kMaxTokenLength)
      Fail("token length", e.token);
    if (!seen.insert(e.token).second) Fail("duplicate token", e.token);
    if (e.scope != mydev::v1::STATS_SCOPE_DEVICES && e.scope != mydev::v1::STATS_SCOPE_SESSIONS)
      Fail("scope", e.token);
    if (e.line < 1 || e.line > lines) Fail("line", e.token);
    if (e.name.empty() || e.name.size() > StatsTokens::kMaxNameLength) Fail("name", e.name);
    if (t->Find(e.token) != &e) Fail("Find(token) is not its entry", e.token);
    std::string other = e.token;
    other.back() = other.back() == 'x' ? 'y' : 'x';
    const StatsTokens::Entry* o = t->Find(other);
    if (o != nullptr && o->token != other) Fail("Find matched another token", other);
  }
  if (t->Find("") != nullptr) Fail("Find(\"\") matched", "");
  return 0;
}
