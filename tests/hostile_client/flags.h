// flags.h — hostile_client's command line (absl flags, defined in flags.cc):
// --socket and --attack, and the knobs some attacks read. --n and --seconds
// have no single default: each attack says what it uses when they are
// absent (NOr, SecondsOr).
//
//   hostile_client --socket S --attack churn --n 100
//   hostile_client --socket=S --attack=reader --buffer=8388608 --seconds=3
#ifndef MYDEV_TESTS_HOSTILE_CLIENT_FLAGS_H_
#define MYDEV_TESTS_HOSTILE_CLIENT_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, socket);
ABSL_DECLARE_FLAG(std::string, attack);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(int64_t, buffer);
ABSL_DECLARE_FLAG(int64_t, timeout);
ABSL_DECLARE_FLAG(int64_t, snaplen);
ABSL_DECLARE_FLAG(std::optional<int64_t>, n);
ABSL_DECLARE_FLAG(std::optional<double>, seconds);
ABSL_DECLARE_FLAG(int64_t, session);
ABSL_DECLARE_FLAG(std::string, token);
ABSL_DECLARE_FLAG(int64_t, dlt);
ABSL_DECLARE_FLAG(int64_t, bytes);
ABSL_DECLARE_FLAG(int64_t, wait_ms);
ABSL_DECLARE_FLAG(int64_t, settle_ms);

namespace mydev::hostile {

// --n, or `dflt` when it was not given.
int64_t NOr(int64_t dflt);
// --seconds, or `dflt` when it was not given.
double SecondsOr(double dflt);

// The daemon's gRPC socket (--socket) and its fd hand-off socket beside it.
std::string Socket();
std::string FdSocket();

}  // namespace mydev::hostile

#endif  // MYDEV_TESTS_HOSTILE_CLIENT_FLAGS_H_
