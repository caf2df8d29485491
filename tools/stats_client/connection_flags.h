// connection_flags.h — the command-line flags every Stats client takes to
// say where the daemons are and how to reach them (absl flags, defined once
// here for mydevctl and mydev-dashboard), and the ConnectionOptions they make.
//
//   mydevctl stats --target h1:9470 --target h2:9470 --ca ca.crt --token-file t
//   mydev-dashboard --target unix:/run/mydevd/mydevd.sock
//
//   ConnectionOptions c = ConnectionOptionsFromFlags();   // after ParseCommandLine
//   absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(c);
#ifndef MYDEV_TOOLS_STATS_CLIENT_CONNECTION_FLAGS_H_
#define MYDEV_TOOLS_STATS_CLIENT_CONNECTION_FLAGS_H_

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "tools/stats_client/connection.h"

ABSL_DECLARE_FLAG(std::string, socket);
ABSL_DECLARE_FLAG(std::vector<std::string>, target);
ABSL_DECLARE_FLAG(std::string, ca);
ABSL_DECLARE_FLAG(std::string, cert);
ABSL_DECLARE_FLAG(std::string, key);
ABSL_DECLARE_FLAG(std::string, token_file);
ABSL_DECLARE_FLAG(std::string, tls_server_name);
ABSL_DECLARE_FLAG(bool, plaintext);

namespace mydev::stats_client {

// --socket, --target, --ca, --cert, --key, --token_file, --tls_server_name
// and --plaintext as given (ClientSecurity::Load checks the files).
ConnectionOptions ConnectionOptionsFromFlags();

}  // namespace mydev::stats_client

#endif  // MYDEV_TOOLS_STATS_CLIENT_CONNECTION_FLAGS_H_
