// top_view.cc — see top_view.h. Only this file includes curses.h (last, and
// with NCURSES_NOMACROS, so its function-like macros such as erase() and
// timeout() cannot clash with C++ names).
#include "tools/mydevctl/top_view.h"

#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/mydevctl/display_text.h"

#define NCURSES_NOMACROS 1
#include <curses.h>

namespace mydev::ctl {
namespace {

// Color pairs.
constexpr short kPairAlert = 1;  // hot sessions, DOWN targets
constexpr short kPairWarn = 2;   // devices waiting for their interface

// The width of the HOST column in the device and session tables.
constexpr int kHostWidth = 16;

// A rate for a column, "-" without one.
std::string Rate(bool has, double v) { return has ? HumanCount(v) : "-"; }

// A percentage for a column: "12.3%", "-" when unknown (< 0).
std::string Pct(double v) { return v < 0 ? "-" : absl::StrFormat("%.1f%%", v); }

// A column title, with `*` when the table is sorted by it.
std::string Title(const char* name, bool sorted) { return sorted ? absl::StrCat(name, "*") : name; }

// Writes text on row y from column 0, cut at the screen's width, with attrs.
void Line(int y, const std::string& text, attr_t attrs = A_NORMAL) {
  if (y >= LINES) return;
  if (attrs != A_NORMAL) attron(attrs);
  mvaddnstr(y, 0, text.c_str(), COLS);
  if (attrs != A_NORMAL) attroff(attrs);
}

// attrs for a pair when the terminal has colors, else plain.
attr_t Pair(short pair) { return has_colors() ? COLOR_PAIR(pair) : A_NORMAL; }

}  // namespace

std::unique_ptr<TopView> TopView::Open(std::string* error) {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    *error = "top needs a terminal (stdin and stdout); for scripts use `stats --watch MS`";
    return nullptr;
  }
  std::setlocale(LC_ALL, "");
  SCREEN* screen = newterm(nullptr, stdout, stdin);
  if (screen == nullptr) {
    const char* term = std::getenv("TERM");
    *error = absl::StrCat("cannot drive the terminal (TERM=", term ? term : "unset", ")");
    return nullptr;
  }
  set_term(screen);
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  set_escdelay(25);
  curs_set(0);
  if (has_colors()) {
    start_color();
    use_default_colors();
    init_pair(kPairAlert, COLOR_RED, -1);
    init_pair(kPairWarn, COLOR_YELLOW, -1);
  }
  std::unique_ptr<TopView> view(new TopView());
  view->screen_ = screen;
  return view;
}

TopView::~TopView() {
  endwin();
  delscreen(static_cast<SCREEN*>(screen_));
}

const std::string& TopView::User(uint32_t uid, bool local) {
  const uint64_t key = (static_cast<uint64_t>(local) << 32) | uid;
  auto it = users_.find(key);
  if (it == users_.end()) it = users_.emplace(key, UserName(uid, local)).first;
  return it->second;
}

void TopView::Draw(const TopFrame& f, const TopControls& c, const TopHeader& h) {
  erase();
  int y = 0;
  size_t up = 0;
  for (const TargetRow& t : f.targets) up += t.state == TargetState::kUp;
  std::string title =
      absl::StrFormat("mydevctl top   targets %d (%d up)   interval %d ms   sort=%s   filter=%s",
                      f.targets.size(), up, absl::ToInt64Milliseconds(h.interval),
                      SortKeyName(c.sort()), c.filter().empty() ? "(all devices)" : c.filter());
  std::string clock = absl::FormatTime("%H:%M:%S", h.now, absl::LocalTimeZone());
  if (static_cast<int>(title.size() + clock.size()) < COLS)
    title.append(COLS - title.size() - clock.size(), ' ');
  Line(y++, title + clock, A_REVERSE);

  ++y;
  Line(y++,
       absl::StrFormat("%-24s %-16s %-10s %-8s %s", "TARGET", "HOST", "STATE", "SCOPE", "DETAIL"),
       A_BOLD);
  for (const TargetRow& t : f.targets) {
    Line(y++,
         absl::StrFormat("%-24s %-16s %-10s %-8s %s", t.label, t.host, TargetStateName(t.state),
                         ScopeShown(t.scope), t.detail),
         t.state == TargetState::kDown ? (A_BOLD | Pair(kPairAlert)) : A_NORMAL);
  }

  ++y;
  Line(y++,
       absl::StrFormat("%-*s %-10s %-8s %8s %8s %8s %7s %8s %s", kHostWidth, "HOST", "DEVICE",
                       "STATE", "PPS", "BIT/S", "DROPS", "DROP%", "SESSIONS", "DETAIL"),
       A_BOLD);
  for (const DeviceRow& d : f.devices) {
    attr_t attrs = d.state == mydev::v1::DEVICE_STATE_WAITING ? Pair(kPairWarn) : A_NORMAL;
    if (d.has_rates && d.drops > 0) attrs = A_BOLD | Pair(kPairAlert);
    Line(y++,
         absl::StrFormat("%-*.*s %-10s %-8s %8s %8s %8s %7s %8d %s", kHostWidth, kHostWidth, d.host,
                         d.name, DeviceStateShown(d.state), Rate(d.has_rates, d.pps),
                         Rate(d.has_rates, d.bps),
                         d.has_rates ? HumanCount(static_cast<double>(d.drops)) : "-",
                         Pct(d.drop_pct), d.sessions, d.state_detail),
         attrs);
  }

  ++y;
  const SortKey sort = c.sort();
  Line(y++,
       absl::StrFormat("%-*s %8s %-10s %-10s %8s %8s %7s %7s %s", kHostWidth, "HOST", "SESSION",
                       "DEVICE", "USER", Title("PPS", sort == SortKey::kRate),
                       Title("DROPS", sort == SortKey::kDrops), "DROP%",
                       Title("FILL%", sort == SortKey::kFill), "COMMAND"),
       A_BOLD);
  const int last_row = LINES - 2;  // the bottom line is the keys'
  size_t shown = 0;
  for (const SessionRow& s : f.sessions) {
    if (y > last_row) break;
    Line(y++,
         absl::StrFormat("%-*.*s %8d %-10.10s %-10.10s %8s %8s %7s %7s %s", kHostWidth, kHostWidth,
                         s.host, s.session_id, s.device, User(s.uid, s.local),
                         Rate(s.has_rates, s.pps),
                         s.has_rates ? HumanCount(static_cast<double>(s.drops)) : "-",
                         Pct(s.drop_pct), Pct(s.fill_pct), s.command),
         s.hot ? (A_BOLD | Pair(kPairAlert)) : A_NORMAL);
    ++shown;
  }

  std::string bottom;
  if (c.editing()) {
    bottom = absl::StrCat("filter by device (Enter applies, empty = all, Esc cancels): ", c.draft(),
                          "_");
  } else {
    bottom = "q quit  r rate  d drops  f ring fill  / or i filter by device  Esc clear filter";
    if (shown < f.sessions.size())
      absl::StrAppend(&bottom, "   (+", f.sessions.size() - shown, " sessions below)");
    if (f.filtered_out > 0) absl::StrAppend(&bottom, "   (", f.filtered_out, " filtered out)");
  }
  Line(LINES - 1, bottom, A_REVERSE);
  refresh();
}

int TopView::ReadKey(int timeout_ms) {
  timeout(timeout_ms);
  int ch = getch();
  switch (ch) {
    case ERR:
    case KEY_RESIZE:
      return -1;
    case KEY_ENTER:
      return kKeyEnter;
    case KEY_BACKSPACE:
    case KEY_DC:
      return kKeyBackspace;
    default:
      return ch;
  }
}

}  // namespace mydev::ctl
