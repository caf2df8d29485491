// stats_tokens_test.cc — the tokens file: parsing, errors that never quote a
// token, constant-time lookup, and re-reading when the file changes.
#include "daemon/control/stats_tokens.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "daemon/control/stats_tokens_file.h"
#include "proto/enum_names.h"

namespace mydev::daemon {
namespace {

constexpr char kTokA[] = "0123456789abcdef0123456789abcdef";
constexpr char kTokB[] = "ZmFrZS10b2tlbi1mb3ItdGVzdHM=";  // with b64 padding

TEST(StatsTokensTest, ParsesTokensScopesNamesAndComments) {
  absl::StatusOr<StatsTokens> t = StatsTokens::Parse(
      absl::StrCat("# dashboards\n\n", kTokA, " sessions grafana   # the main one\n", "\t", kTokB,
                   "\tdevices\r\n"),
      "tokens");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ(t->entries()[0].scope, mydev::v1::STATS_SCOPE_SESSIONS);
  EXPECT_EQ(t->entries()[0].name, "grafana");
  EXPECT_EQ(t->entries()[0].line, 3);
  EXPECT_EQ(t->entries()[1].scope, mydev::v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(t->entries()[1].name, "line 4");  // no NAME: its line
  const StatsTokens::Entry* e = t->Find(kTokB);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->line, 4);
  EXPECT_EQ(t->Find(kTokA)->name, "grafana");
}

TEST(StatsTokensTest, EmptyFileHasNoTokens) {
  absl::StatusOr<StatsTokens> t = StatsTokens::Parse("# nobody yet\n", "tokens");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 0u);
  EXPECT_EQ(t->Find(kTokA), nullptr);
  EXPECT_EQ(t->Find(""), nullptr);
}

TEST(StatsTokensTest, FindRejectsNearMisses) {
  absl::StatusOr<StatsTokens> t = StatsTokens::Parse(absl::StrCat(kTokA, " devices\n"), "tokens");
  ASSERT_TRUE(t.ok());
  std::string a = kTokA;
  EXPECT_NE(t->Find(a), nullptr);
  EXPECT_EQ(t->Find(a.substr(0, a.size() - 1)), nullptr);  // a prefix
  EXPECT_EQ(t->Find(a + "0"), nullptr);                    // longer
  EXPECT_EQ(t->Find(a + a), nullptr);                      // repeated
  std::string flipped = a;
  flipped[7] ^= 1;
  EXPECT_EQ(t->Find(flipped), nullptr);
  EXPECT_EQ(t->Find(""), nullptr);
}

TEST(StatsTokensTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcabc"));
  EXPECT_FALSE(ConstantTimeEquals("abcabc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", ""));
}

TEST(StatsTokensTest, ErrorsNameTheLineAndNeverTheToken) {
  const std::string secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t";
  struct Case {
    std::string text;
    std::string expect;  // in the message
  } cases[] = {
      {secret + "\n", "tokens:1: expected `TOKEN SCOPE [NAME]`, found 1 field"},
      {"\n" + secret + " sessions a b\n", "tokens:2: expected `TOKEN SCOPE [NAME]`, found 4"},
      {secret + " admin\n", "tokens:1: the second field (SCOPE) must be `devices` or `sessions`"},
      {"sessions " + secret + "\n", "tokens:1: the token has 8 characters; use 16 to 1024"},
      {"short devices\n", "tokens:1: the token has 5 characters"},
      {secret + "! devices\n", "tokens:1: the token has a character outside"},
      {secret + "=x devices\n", "tokens:1: the token has a character outside"},
      {secret + " devices " + std::string(65, 'n') + "\n", "tokens:1: the NAME must be at most"},
      {secret + " devices a\n" + secret + " sessions b\n", "tokens:2: the same token as line 1"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<StatsTokens> t = StatsTokens::Parse(c.text, "tokens");
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.expect), std::string::npos) << t.status();
    EXPECT_EQ(t.status().message().find("s3cr3t"), std::string::npos) << t.status();
  }
}

TEST(StatsTokensTest, LoadRefusesWhatIsNotARegularFile) {
  absl::StatusOr<StatsTokens> t = StatsTokens::Load("/dev/null");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("is not a regular file"), std::string::npos) << t.status();
  EXPECT_EQ(StatsTokens::Load("/nonexistent/tokens").status().code(), absl::StatusCode::kNotFound);
}

TEST(StatsTokensTest, ScopeNames) {
  EXPECT_EQ(*ParseStatsScope("devices"), mydev::v1::STATS_SCOPE_DEVICES);
  EXPECT_EQ(*ParseStatsScope("sessions"), mydev::v1::STATS_SCOPE_SESSIONS);
  EXPECT_FALSE(ParseStatsScope("local").ok());
  EXPECT_FALSE(ParseStatsScope("Sessions").ok());
  EXPECT_EQ(StatsScopeName(mydev::v1::STATS_SCOPE_LOCAL), "local");
}

class StatsTokensFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    path_ = std::string(tmp ? tmp : "/tmp") + "/tokens." + std::to_string(getpid());
  }
  void TearDown() override { unlink(path_.c_str()); }
  void Write(const std::string& text) {
    // A new inode each time, as editors and config tools write files.
    std::string tmp = path_ + ".new";
    std::ofstream(tmp) << text;
    ASSERT_EQ(rename(tmp.c_str(), path_.c_str()), 0);
  }
  std::string path_;
};

TEST_F(StatsTokensFileTest, ReloadsWhenChangedKeepsOldOnError) {
  EXPECT_EQ(StatsTokensFile::Open(path_).status().code(), absl::StatusCode::kNotFound);
  Write(absl::StrCat(kTokA, " devices one\n"));
  absl::StatusOr<std::unique_ptr<StatsTokensFile>> f = StatsTokensFile::Open(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  StatsTokensFile& file = **f;
  EXPECT_NE(file.Current()->Find(kTokA), nullptr);
  EXPECT_FALSE(*file.ReloadIfChanged());  // unchanged

  Write(absl::StrCat(kTokB, " sessions two\n"));
  EXPECT_TRUE(*file.ReloadIfChanged());
  EXPECT_EQ(file.Current()->Find(kTokA), nullptr);
  EXPECT_EQ(file.Current()->Find(kTokB)->name, "two");

  // A broken file: an error once, the tokens in force stay.
  Write("broken\n");
  absl::StatusOr<bool> r = file.ReloadIfChanged();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(*file.ReloadIfChanged());
  EXPECT_NE(file.Current()->Find(kTokB), nullptr);

  // Gone: an error once, the tokens stay; back: loaded.
  unlink(path_.c_str());
  EXPECT_EQ(file.ReloadIfChanged().status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(*file.ReloadIfChanged());
  EXPECT_NE(file.Current()->Find(kTokB), nullptr);
  Write(absl::StrCat(kTokA, " sessions three\n"));
  EXPECT_TRUE(*file.ReloadIfChanged());
  EXPECT_EQ(file.Current()->Find(kTokA)->name, "three");

  // Reload() re-reads even when nothing changed.
  EXPECT_TRUE(*file.Reload());
  EXPECT_EQ(file.Current()->Find(kTokA)->name, "three");
}

}  // namespace
}  // namespace mydev::daemon
