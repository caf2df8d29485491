// flag_spelling_test.cc — the rewrite before absl parses mydevctl's command
// line (flags.cc's flags are linked in): dashes in names, repeated --target,
// values and unknown flags left alone.
#include "tools/stats_client/flag_spelling.h"

#include <gtest/gtest.h>

namespace mydev::stats_client {
namespace {

using Args = std::vector<std::string>;

TEST(FlagSpellingTest, DashesInNamesBecomeUnderscores) {
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "--token-file", "my-token", "top"}),
            (Args{"mydevctl", "--token_file", "my-token", "top"}));
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "--tls-server-name=a-b.example", "-interval-ms=5"}),
            (Args{"mydevctl", "--tls_server_name=a-b.example", "--interval_ms=5"}));
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "--token_file=t"}),
            (Args{"mydevctl", "--token_file=t"}));
}

TEST(FlagSpellingTest, BooleansTakeNoValue) {
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "--plaintext", "health"}),
            (Args{"mydevctl", "--plaintext", "health"}));
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "--no-plaintext", "--noplaintext"}),
            (Args{"mydevctl", "--noplaintext", "--noplaintext"}));
}

TEST(FlagSpellingTest, RepeatedTargetsAddUp) {
  EXPECT_EQ(
      NormalizeFlagSpelling({"mydevctl", "top", "--target", "a:1", "--socket", "/x-y.sock",
                             "--target=unix:/b-c.sock", "-target", "[::1]:9"}),
      (Args{"mydevctl", "top", "--target=a:1,unix:/b-c.sock,[::1]:9", "--socket", "/x-y.sock"}));
  // No value: left for absl to complain about.
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "stats", "--target"}),
            (Args{"mydevctl", "stats", "--target"}));
}

TEST(FlagSpellingTest, LeavesUnknownFlagsAndEverythingAfterDoubleDash) {
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "--bogus-flag", "--", "--token-file"}),
            (Args{"mydevctl", "--bogus-flag", "--", "--token-file"}));
  EXPECT_EQ(NormalizeFlagSpelling({"mydevctl", "-", "--help"}), (Args{"mydevctl", "-", "--help"}));
}

TEST(FlagSpellingTest, ReportsUnknownFlagsButNotAbslUsageFlags) {
  Args unknown;
  NormalizeFlagSpelling({"mydevctl", "--bogus=1", "--help", "--helpfull", "--helpmatch=tls",
                         "--token-file", "x", "--", "--nope"},
                        &unknown);
  EXPECT_EQ(unknown, (Args{"--bogus=1"}));
}

}  // namespace
}  // namespace mydev::stats_client
