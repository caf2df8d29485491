// basic_auth_test.cc — the Authorization header parser, htpasswd parsing and
// password checks against `openssl passwd -6` and bcrypt hashes.
#include "tools/dashboard/web/basic_auth.h"

#include <crypt.h>

#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace mydev::dashboard {
namespace {

// openssl passwd -6 -salt mydevsalt 'correct horse'
constexpr char kSha512Hash[] =
    "$6$mydevsalt$u8odFK5bwBAvMFX5JR2C2BU1GNOntMrKgtzdbmvYKsmt7NVOmWIs1Ek9U.4X4Ah1kIL8VWx/"
    "214M9T7.uMn2i1";

std::string Header(const std::string& user_colon_password) {
  return "Basic " + absl::Base64Escape(user_colon_password);
}

// A bcrypt hash of `password` at cost 4, made with libcrypt (as htpasswd -B would).
std::string Bcrypt(const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn("$2y$", 4, nullptr, 0, setting, sizeof(setting)), nullptr);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_r(password.c_str(), setting, data.get());
  EXPECT_NE(out, nullptr);
  return out != nullptr ? out : "";
}

TEST(ParseBasicAuthorization, Decodes) {
  auto c = ParseBasicAuthorization(Header("alice:pa:ss word"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "pa:ss word");

  c = ParseBasicAuthorization("  bAsIc   " + absl::Base64Escape("bob:") + "  ");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "bob");
  EXPECT_EQ(c->password, "");
}

TEST(ParseBasicAuthorization, Refuses) {
  EXPECT_FALSE(ParseBasicAuthorization("").has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Basic").has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Basic ").has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Bearer " + absl::Base64Escape("a:b")).has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Basicx" + absl::Base64Escape("a:b")).has_value());
  EXPECT_FALSE(ParseBasicAuthorization("Basic !!!!").has_value());
  EXPECT_FALSE(ParseBasicAuthorization(Header("nocolon")).has_value());
  EXPECT_FALSE(ParseBasicAuthorization(Header(":password")).has_value());
  EXPECT_FALSE(ParseBasicAuthorization(Header("a\nb:c")).has_value());
  EXPECT_FALSE(ParseBasicAuthorization(Header(std::string(4000, 'a') + ":b")).has_value());
}

TEST(ConstantTimeEquals, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", ""));
}

TEST(BasicAuth, ChecksSha512Crypt) {
  auto auth =
      BasicAuth::Parse(std::string("# dashboard users\n\nops:") + kSha512Hash + "\r\n", "users");
  ASSERT_TRUE(auth.ok()) << auth.status();
  ASSERT_EQ(auth->entries().size(), 1u);
  EXPECT_EQ(auth->entries()[0].line, 3);
  EXPECT_TRUE(auth->Check("ops", "correct horse"));
  EXPECT_FALSE(auth->Check("ops", "correct horsE"));
  EXPECT_FALSE(auth->Check("ops", ""));
  EXPECT_FALSE(auth->Check("OPS", "correct horse"));
  EXPECT_FALSE(auth->Check("nobody", "correct horse"));
  EXPECT_FALSE(auth->Check("ops", std::string("correct horse\0x", 15)));
}

TEST(BasicAuth, ChecksBcrypt) {
  const std::string hash = Bcrypt("s3cret");
  ASSERT_EQ(hash.rfind("$2y$04$", 0), 0u) << hash;
  auto auth = BasicAuth::Parse("a:" + std::string(kSha512Hash) + "\nb:" + hash + "\n", "f");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->Check("b", "s3cret"));
  EXPECT_FALSE(auth->Check("b", "s3cre"));
  EXPECT_FALSE(auth->Check("a", "s3cret"));
  EXPECT_TRUE(auth->Check("a", "correct horse"));
}

TEST(BasicAuth, RefusesBadFiles) {
  const auto code = [](const std::string& text) { return BasicAuth::Parse(text, "f").status(); };
  EXPECT_EQ(code("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("# only a comment\n").code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = code(std::string("ok:") + kSha512Hash + "\nplain:secret\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("f:2:"), absl::string_view::npos) << s;
  EXPECT_EQ(s.message().find("secret"), absl::string_view::npos) << s;
  EXPECT_FALSE(code("md5:$apr1$abc$def\n").ok());
  EXPECT_FALSE(code("sha:{SHA}abcdef=\n").ok());
  EXPECT_FALSE(code("nohash\n").ok());
  EXPECT_FALSE(code(std::string(":") + kSha512Hash).ok());
  s = code(std::string("a:") + kSha512Hash + "\na:" + kSha512Hash + "\n");
  EXPECT_NE(s.message().find("f:2:"), absl::string_view::npos) << s;
}

TEST(BasicAuth, LoadNamesTheFile) {
  absl::Status s = BasicAuth::Load("/nonexistent/htpasswd").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("/nonexistent/htpasswd"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace mydev::dashboard
