// top_controls.cc — see top_controls.h.
#include "tools/mydevctl/top_controls.h"

namespace mydev::ctl {

TopControls::Result TopControls::HandleKey(int key) {
  if (editing_) {
    if (key == kKeyEnter || key == '\r') {
      filter_ = draft_;
      editing_ = false;
    } else if (key == kKeyEscape) {
      editing_ = false;
    } else if (key == kKeyBackspace || key == '\b') {
      if (draft_.empty()) return Result::kIgnored;
      draft_.pop_back();
    } else if (key == kKeyKillLine) {
      draft_.clear();
    } else if (key > ' ' && key < 0x7f) {
      draft_.push_back(static_cast<char>(key));
    } else {
      return Result::kIgnored;
    }
    return Result::kChanged;
  }
  switch (key) {
    case 'q':
    case 'Q':
      return Result::kQuit;
    case 'r':
      sort_ = SortKey::kRate;
      return Result::kChanged;
    case 'd':
      sort_ = SortKey::kDrops;
      return Result::kChanged;
    case 'f':
      sort_ = SortKey::kFill;
      return Result::kChanged;
    case '/':
    case 'i':
      editing_ = true;
      draft_.clear();
      return Result::kChanged;
    case kKeyEscape:
      if (filter_.empty()) return Result::kIgnored;
      filter_.clear();
      return Result::kChanged;
    default:
      return Result::kIgnored;
  }
}

}  // namespace mydev::ctl
