// grpc_log.cc — see grpc_log.h.
#include "daemon/rpc/grpc_log.h"

#include <grpc/support/log.h>

#include <cstring>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/log.h"

namespace mydev::daemon {
namespace {

// One gRPC source line's window.
struct Window {
  absl::Time start;
  int logged = 0;
  int left_out = 0;
};

// Every gRPC thread logs through here.
struct Router {
  absl::Mutex mu;
  std::map<std::string, Window> windows ABSL_GUARDED_BY(mu);  // by "file:line"
};

Router& TheRouter() {
  static Router* router = new Router();
  return *router;
}

void Route(gpr_log_func_args* args) {
  const char* file = args->file ? args->file : "?";
  if (const char* slash = std::strrchr(file, '/')) file = slash + 1;
  const std::string where = absl::StrCat(file, ":", args->line);
  LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kWarning
                   : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                             : LogLevel::kDebug;
  int left_out = 0;
  {
    Router& r = TheRouter();
    absl::MutexLock lock(&r.mu);
    std::map<std::string, Window>& windows = r.windows;
    if (windows.size() > 1024) windows.clear();
    Window& w = windows[where];
    const absl::Time now = absl::Now();
    if (now - w.start >= absl::Seconds(10)) {
      left_out = w.left_out;
      w = Window{now, 0, 0};
    }
    if (w.logged >= kGrpcLogBurst) {
      ++w.left_out;
      return;
    }
    ++w.logged;
  }
  if (left_out > 0)
    LogLine(LogLevel::kWarning,
            absl::StrCat("grpc: ", where, ": ", left_out, " more like the next were left out"));
  if (LogEnabled(level)) LogLine(level, absl::StrCat("grpc: ", where, ": ", args->message));
}

}  // namespace

void RouteGrpcLogs() { gpr_set_log_function(Route); }

}  // namespace mydev::daemon
