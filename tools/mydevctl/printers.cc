// printers.cc — see printers.h: --format's names and the dispatch to the
// table, kv and json printers.
#include "tools/mydevctl/printers.h"

namespace mydev::ctl {

bool ParseOutputFormat(std::string_view text, OutputFormat* out) {
  if (text == "table") {
    *out = OutputFormat::kTable;
  } else if (text == "kv") {
    *out = OutputFormat::kKv;
  } else if (text == "json") {
    *out = OutputFormat::kJson;
  } else {
    return false;
  }
  return true;
}

std::string FormatSnapshot(const mydev::v1::StatsSnapshot& snap, OutputFormat format,
                           Sections sections, const SnapshotSource& source) {
  switch (format) {
    case OutputFormat::kKv:
      return FormatKv(snap, sections);
    case OutputFormat::kJson:
      return FormatJson(snap, sections);
    case OutputFormat::kTable:
      break;
  }
  return FormatTable(snap, sections, source);
}

}  // namespace mydev::ctl
