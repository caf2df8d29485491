// connection_flags.cc — see connection_flags.h.
#include "tools/stats_client/connection_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, socket, "",
          "mydevd's local Unix socket, used when no --target is given; empty: $MYDEV_SOCKET, "
          "else /run/mydevd/mydevd.sock");
ABSL_FLAG(std::vector<std::string>, target, {},
          "a daemon's gRPC target instead of the local socket: HOST:PORT (its stats_listener, "
          "TLS unless --plaintext), or unix:PATH; repeat it or separate with commas for "
          "several daemons");
ABSL_FLAG(std::string, ca, "",
          "PEM file of the CA(s) that signed the daemons' certificates (TLS targets); empty: "
          "the system's roots");
ABSL_FLAG(std::string, cert, "", "PEM client certificate (chain) for mutual TLS; needs --key");
ABSL_FLAG(std::string, key, "", "PEM private key of --cert");
ABSL_FLAG(std::string, token_file, "",
          "file holding a bearer token (first word of its first non-comment line), sent as "
          "`authorization: Bearer TOKEN` with every call; also spelled --token-file");
ABSL_FLAG(std::string, tls_server_name, "",
          "the name the daemons' certificates must carry, when it is not the HOST of --target "
          "(e.g. connecting by IP address)");
ABSL_FLAG(bool, plaintext, false,
          "no TLS to HOST:PORT targets: only for a loopback stats_listener with "
          "`plaintext: true`, or the plaintext health_address port");

namespace mydev::stats_client {

ConnectionOptions ConnectionOptionsFromFlags() {
  ConnectionOptions c;
  c.socket = absl::GetFlag(FLAGS_socket);
  c.targets = absl::GetFlag(FLAGS_target);
  c.ca_file = absl::GetFlag(FLAGS_ca);
  c.cert_file = absl::GetFlag(FLAGS_cert);
  c.key_file = absl::GetFlag(FLAGS_key);
  c.token_file = absl::GetFlag(FLAGS_token_file);
  c.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  c.plaintext = absl::GetFlag(FLAGS_plaintext);
  return c;
}

}  // namespace mydev::stats_client
