// top_controls.h — `mydevctl top`'s keys and what they set: the sort key,
// the device filter (typed on the bottom line), quitting. Plain state, no
// terminal: the ncurses view maps its key codes onto these and reads the
// result back when it draws.
//
//   r  sort by rate (packets/s)       /  or  i   filter by device: type a
//   d  sort by drops in the interval             name, Enter applies, Esc
//   f  sort by ring fill                         cancels, an empty name shows all
//   Esc  clear the filter             q  quit
//
//   TopControls c(SortKey::kRate, "");
//   c.HandleKey('d');                          // sort() == SortKey::kDrops
//   for (int k : {'/', 'm', 'y', kKeyEnter}) c.HandleKey(k);   // filter() == "my"
//   if (c.HandleKey('q') == TopControls::Result::kQuit) ...
#ifndef MYDEV_TOOLS_MYDEVCTL_TOP_CONTROLS_H_
#define MYDEV_TOOLS_MYDEVCTL_TOP_CONTROLS_H_

#include <string>
#include <utility>

#include "tools/mydevctl/top_model.h"

namespace mydev::ctl {

// Key codes besides printable ASCII.
inline constexpr int kKeyEnter = '\n';
inline constexpr int kKeyEscape = 27;
inline constexpr int kKeyBackspace = 127;
inline constexpr int kKeyKillLine = 'U' - '@';  // ^U: clear what was typed

// The keys' state.
class TopControls {
 public:
  // What a key did.
  enum class Result {
    kIgnored,  // not a key of ours: nothing changed
    kChanged,  // redraw
    kQuit,     // leave top
  };

  TopControls(SortKey sort, std::string filter) : sort_(sort), filter_(std::move(filter)) {}

  // Applies one key.
  Result HandleKey(int key);

  // The session table's order.
  SortKey sort() const { return sort_; }
  // The device whose rows are shown ("" = every device).
  const std::string& filter() const { return filter_; }
  // True while a device name is being typed.
  bool editing() const { return editing_; }
  // What has been typed so far.
  const std::string& draft() const { return draft_; }

 private:
  SortKey sort_;
  std::string filter_;
  bool editing_ = false;
  std::string draft_;
};

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_TOP_CONTROLS_H_
