// json_printer.cc — the json form of printers.h, from protobuf's own JSON
// printer (google::protobuf::util::MessageToJsonString).
#include <google/protobuf/util/json_util.h>

#include "tools/mydevctl/printers.h"

namespace mydev::ctl {

std::string FormatJson(const mydev::v1::StatsSnapshot& snap, Sections sections) {
  mydev::v1::StatsSnapshot shown = snap;
  if (sections == Sections::kDevices) shown.clear_sessions();
  if (sections == Sections::kSessions) shown.clear_devices();
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;  // one line per snapshot (JSON Lines for --watch)
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(shown, &out, options).ok()) {
    // Only a message with invalid UTF-8 strings fails; keep the line parseable.
    return "{}\n";
  }
  out.push_back('\n');
  return out;
}

}  // namespace mydev::ctl
