// log.h — mydevd's stderr logger: one line per event, with a level filter.
//
//   mydev::SetLogLevel(LogLevel::kInfo);
//   MYDEV_LOG(kInfo, "session %d opened by uid %d", id, uid);
//   // -> "2024-05-01T12:00:00.123456Z I session 3 opened by uid 1000"
#ifndef MYDEV_BASE_LOG_H_
#define MYDEV_BASE_LOG_H_

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace mydev {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Parses "debug", "info", "warning", "error".
bool ParseLogLevel(absl::string_view text, LogLevel* level);
void LogLine(LogLevel level, const std::string& message);

}  // namespace mydev

#define MYDEV_LOG(level, ...)                                                   \
  do {                                                                          \
    if (::mydev::LogEnabled(::mydev::LogLevel::level))                          \
      ::mydev::LogLine(::mydev::LogLevel::level, absl::StrFormat(__VA_ARGS__)); \
  } while (0)

#endif  // MYDEV_BASE_LOG_H_
