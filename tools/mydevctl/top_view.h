// top_view.h — `mydevctl top`'s screen (ncurses): draws a TopFrame and reads
// keys. A header line (sort, filter, clock), the targets (one line each:
// UP, DOWN and why, scope), the devices (pps, bit/s, drops and drop % over the
// last interval, state), the sessions sorted by the chosen key with its
// column marked `*` (host, session, device, user, pps, drops, drop %, ring
// fill %, command); rows whose ring is >= 50% full or that dropped in the
// last interval are bold red, as are DOWN targets; the bottom line shows the
// keys, or the device name being typed.
//
//   std::string why;
//   std::unique_ptr<TopView> view = TopView::Open(&why);   // null: no terminal
//   view->Draw(model.Frame(c.sort(), c.filter()), c, {absl::Seconds(1), absl::Now()});
//   int key = view->ReadKey(200);   // -1: none within 200 ms
#ifndef MYDEV_TOOLS_MYDEVCTL_TOP_VIEW_H_
#define MYDEV_TOOLS_MYDEVCTL_TOP_VIEW_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "tools/mydevctl/top_controls.h"
#include "tools/mydevctl/top_model.h"

namespace mydev::ctl {

// What the header line says besides the frame.
struct TopHeader {
  absl::Duration interval;  // --interval_ms
  absl::Time now;           // the clock shown
};

// The terminal, in curses mode from Open until destruction.
class TopView {
 public:
  // Takes over the terminal (stdin/stdout); null with *error set when it
  // cannot (not a terminal, unknown $TERM).
  static std::unique_ptr<TopView> Open(std::string* error);

  // Gives the terminal back as it was.
  ~TopView();

  TopView(const TopView&) = delete;
  TopView& operator=(const TopView&) = delete;

  // Redraws the whole screen.
  void Draw(const TopFrame& frame, const TopControls& controls, const TopHeader& header);

  // The next key within timeout_ms, mapped onto TopControls' codes (Enter,
  // Backspace, Escape); -1 when none came (or the terminal was resized).
  int ReadKey(int timeout_ms);

 private:
  TopView() = default;

  // The user column for a uid (cached: the password database is read once per uid).
  const std::string& User(uint32_t uid, bool local);

  void* screen_ = nullptr;  // SCREEN*, kept opaque so curses' macros stay out of headers
  absl::flat_hash_map<uint64_t, std::string> users_;
};

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_TOP_VIEW_H_
