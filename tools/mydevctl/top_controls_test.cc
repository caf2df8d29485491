// top_controls_test.cc — top's keys without a terminal: sorting, typing a
// device filter (Enter, Backspace, Esc, ^U), clearing it, quitting.
#include "tools/mydevctl/top_controls.h"

#include <gtest/gtest.h>

namespace mydev::ctl {
namespace {

using Result = TopControls::Result;

// Feeds each character of keys.
void Type(TopControls* c, const std::string& keys) {
  for (char k : keys) c->HandleKey(k);
}

TEST(TopControlsTest, SortKeys) {
  TopControls c(SortKey::kRate, "");
  EXPECT_EQ(c.HandleKey('d'), Result::kChanged);
  EXPECT_EQ(c.sort(), SortKey::kDrops);
  EXPECT_EQ(c.HandleKey('f'), Result::kChanged);
  EXPECT_EQ(c.sort(), SortKey::kFill);
  EXPECT_EQ(c.HandleKey('r'), Result::kChanged);
  EXPECT_EQ(c.sort(), SortKey::kRate);
  EXPECT_EQ(c.HandleKey('x'), Result::kIgnored);
}

TEST(TopControlsTest, TypingAFilter) {
  TopControls c(SortKey::kRate, "");
  EXPECT_EQ(c.HandleKey('/'), Result::kChanged);
  EXPECT_TRUE(c.editing());
  Type(&c, "mydevq");  // 'q' is text while typing, not quit
  EXPECT_EQ(c.draft(), "mydevq");
  EXPECT_EQ(c.HandleKey(kKeyBackspace), Result::kChanged);
  Type(&c, "1");
  EXPECT_EQ(c.filter(), "");  // not applied before Enter
  EXPECT_EQ(c.HandleKey(kKeyEnter), Result::kChanged);
  EXPECT_FALSE(c.editing());
  EXPECT_EQ(c.filter(), "mydev1");

  c.HandleKey('i');  // the other key for it
  Type(&c, "zzz");
  c.HandleKey(kKeyKillLine);
  EXPECT_EQ(c.draft(), "");
  Type(&c, "other");
  c.HandleKey(kKeyEscape);  // cancels: the filter stays
  EXPECT_FALSE(c.editing());
  EXPECT_EQ(c.filter(), "mydev1");

  c.HandleKey('/');
  c.HandleKey('\r');  // Enter on nothing: every device again
  EXPECT_EQ(c.filter(), "");
}

TEST(TopControlsTest, EscapeClearsTheFilter) {
  TopControls c(SortKey::kFill, "mydev0");
  EXPECT_EQ(c.sort(), SortKey::kFill);
  EXPECT_EQ(c.HandleKey(kKeyEscape), Result::kChanged);
  EXPECT_EQ(c.filter(), "");
  EXPECT_EQ(c.HandleKey(kKeyEscape), Result::kIgnored);
}

TEST(TopControlsTest, Quit) {
  TopControls c(SortKey::kRate, "");
  EXPECT_EQ(c.HandleKey('q'), Result::kQuit);
  EXPECT_EQ(c.HandleKey('Q'), Result::kQuit);
}

}  // namespace
}  // namespace mydev::ctl
