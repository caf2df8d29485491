// printers.h — one StatsSnapshot as text, in the three forms of
// `mydevctl devices|sessions|stats --format=...`:
//
//   table  columns for people (table_printer.cc)
//   kv     "key=value" lines for scripts and tests, exactly as mydev-stats
//          printed them, new fields appended at each line's end (kv_printer.cc)
//   json   protobuf's own JSON printer, one object on one line (json_printer.cc)
//
//   std::string text = FormatSnapshot(snap, OutputFormat::kKv, Sections::kAll, {});
//   // "device name=mydev0 backend=synthetic packets=12 ... state=up dlt=1 promisc=0 detail=\n"
//   // "session id=1 device=mydev0 uid=0 ... cmdline=tcpdump%20-i%20mydev0\n"
//   // "end time_ns=1700000000000000000 host=box scope=local\n"
#ifndef MYDEV_TOOLS_MYDEVCTL_PRINTERS_H_
#define MYDEV_TOOLS_MYDEVCTL_PRINTERS_H_

#include <string>
#include <string_view>

#include "proto/mydev.pb.h"

namespace mydev::ctl {

// --format's values.
enum class OutputFormat { kTable, kKv, kJson };

// Parses "table", "kv" or "json"; false for anything else.
bool ParseOutputFormat(std::string_view text, OutputFormat* out);

// Which rows a subcommand prints: `devices`, `sessions`, or both (`stats`).
enum class Sections { kDevices, kSessions, kAll };

// What the printers need to know about where a snapshot came from.
struct SnapshotSource {
  std::string target;          // the gRPC target asked ("unix:/run/mydevd/mydevd.sock")
  bool resolve_users = false;  // uids are this machine's: print user names (table only)
};

// The snapshot in the given form; every form ends with a newline.
std::string FormatSnapshot(const mydev::v1::StatsSnapshot& snap, OutputFormat format,
                           Sections sections, const SnapshotSource& source);

// The table form (table_printer.cc).
std::string FormatTable(const mydev::v1::StatsSnapshot& snap, Sections sections,
                        const SnapshotSource& source);

// The kv form (kv_printer.cc).
std::string FormatKv(const mydev::v1::StatsSnapshot& snap, Sections sections);

// A value for the kv form: bytes that would break "key=value" splitting on
// whitespace (space, control and non-ASCII bytes, '%') as %XX, like a URL
// ("tcpdump -i x" -> "tcpdump%20-i%20x"); Python's urllib.parse.unquote undoes it.
std::string KvEscape(std::string_view value);

// The json form (json_printer.cc): the snapshot with only the sections asked
// for, field names as in mydev.proto, zero values included, 64-bit integers
// as strings (protobuf's JSON mapping).
std::string FormatJson(const mydev::v1::StatsSnapshot& snap, Sections sections);

}  // namespace mydev::ctl

#endif  // MYDEV_TOOLS_MYDEVCTL_PRINTERS_H_
