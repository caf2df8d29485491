// flags.cc — the definitions of hostile_client's flags (see flags.h).
#include "tests/hostile_client/flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, socket, "", "mydevd's gRPC socket (required)");
ABSL_FLAG(std::string, attack, "", "the attack or role to run (required; see main.cc)");
ABSL_FLAG(std::string, device, "mydev0", "OpenSession: device");
ABSL_FLAG(int64_t, buffer, 0, "OpenSession: buffer_size in bytes (0: the daemon's default)");
ABSL_FLAG(int64_t, timeout, 20, "OpenSession: timeout_ms");
ABSL_FLAG(int64_t, snaplen, 0, "OpenSession: snaplen (0: the daemon's default)");
ABSL_FLAG(std::optional<int64_t>, n, std::nullopt,
          "how many (connections, sessions, streams, tries, BPF instructions); "
          "each attack has its own default");
ABSL_FLAG(std::optional<double>, seconds, std::nullopt,
          "how long a role or attack runs before it reports (also ends on SIGTERM/SIGINT); "
          "each has its own default");
ABSL_FLAG(int64_t, session, 0, "intruder: the owner's session id");
ABSL_FLAG(std::string, token, "", "intruder: the owner's token, in hex");
ABSL_FLAG(int64_t, dlt, 12345, "set-datalink-unknown: the link type asked for");
ABSL_FLAG(int64_t, bytes, 8 << 20, "oversized-message: the size of each request");
ABSL_FLAG(int64_t, wait_ms, 10000, "fd-silent: how long to wait for the daemon to hang up");
ABSL_FLAG(int64_t, settle_ms, 500,
          "conn-flood: how long after connecting to count the connections the daemon closed");

namespace mydev::hostile {

int64_t NOr(int64_t dflt) { return absl::GetFlag(FLAGS_n).value_or(dflt); }

double SecondsOr(double dflt) { return absl::GetFlag(FLAGS_seconds).value_or(dflt); }

std::string Socket() { return absl::GetFlag(FLAGS_socket); }

std::string FdSocket() { return Socket() + ".fds"; }

}  // namespace mydev::hostile
