// connection.h — where a Stats client (mydevctl, mydev-dashboard) connects
// and how: the targets named by --socket / $MYDEV_SOCKET / --target, and the
// channel security every call uses (TLS with --ca, mutual TLS with --cert +
// --key, a bearer token from --token_file, or --plaintext). A ClientSecurity
// is made per set of options, so each target may have its own (the
// dashboard's targets file).
//
//   ConnectionOptions o;
//   o.targets = {"stats.example.net:9470"};
//   o.ca_file = "ca.crt";  o.token_file = "token";
//   absl::StatusOr<ClientSecurity> sec = ClientSecurity::Load(o);
//   for (const Target& t : ResolveTargets(o, std::getenv("MYDEV_SOCKET"))) {
//     auto stub = mydev::v1::Stats::NewStub(sec->MakeChannel(t));
//     grpc::ClientContext ctx;
//     sec->PrepareCall(&ctx);   // authorization: Bearer ...
//     ...
//   }
#ifndef MYDEV_TOOLS_STATS_CLIENT_CONNECTION_H_
#define MYDEV_TOOLS_STATS_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mydev::stats_client {

// The daemon's socket when neither --socket nor $MYDEV_SOCKET says otherwise.
inline constexpr char kDefaultSocketPath[] = "/run/mydevd/mydevd.sock";

// The connection flags, as given.
struct ConnectionOptions {
  std::string socket;                // --socket; "" = $MYDEV_SOCKET, else kDefaultSocketPath
  std::vector<std::string> targets;  // --target: gRPC target names; empty = the local socket
  std::string ca_file;               // --ca: PEM roots for the server's certificate
  std::string cert_file;             // --cert: client certificate chain (mutual TLS)
  std::string key_file;              // --key: its private key
  std::string token_file;            // --token_file: bearer token
  std::string tls_server_name;       // --tls_server_name: name the certificate must carry
  bool plaintext = false;            // --plaintext: no TLS to HOST:PORT targets
};

// One daemon to talk to.
struct Target {
  std::string address;  // what grpc::CreateChannel takes: "unix:/run/x.sock", "host:9470"
  std::string label;    // how screens name it when the daemon does not: "x.sock", "host:9470"
  bool local = false;   // a Unix socket on this machine: no TLS; its uids are this machine's
};

// The local socket path: the --socket flag, else env ($MYDEV_SOCKET, may be
// null), else kDefaultSocketPath.
std::string LocalSocketPath(const std::string& socket_flag, const char* env);

// A target from its gRPC name: a "unix:" one is local, labelled by its file
// name; any other is labelled by the address itself.
Target TargetFromAddress(const std::string& address);

// The targets in the order given: each --target (a "unix:" one is local), or
// the local socket when there is none.
std::vector<Target> ResolveTargets(const ConnectionOptions& options, const char* socket_env);

// How channels and calls are secured, with the files read once.
class ClientSecurity {
 public:
  // Reads --ca / --cert / --key / --token_file; an error names the flag and file.
  static absl::StatusOr<ClientSecurity> Load(const ConnectionOptions& options);

  // A new channel to target: plaintext for local targets and --plaintext,
  // else TLS (mutual when a certificate was given). Reconnects quickly
  // (0.5 s, backing off to 5 s) so a daemon that comes back is seen soon.
  std::shared_ptr<grpc::Channel> MakeChannel(const Target& target) const;

  // Adds the bearer token (if any) to a call's metadata.
  void PrepareCall(grpc::ClientContext* ctx) const;

  // "plaintext", "TLS", "mutual TLS", each with "+ token" when one is sent.
  std::string Describe() const;

 private:
  bool plaintext_ = false;
  bool client_cert_ = false;
  grpc::SslCredentialsOptions ssl_;
  std::string token_;
  std::string tls_server_name_;
};

// A status as one line: "UNAVAILABLE: failed to connect to all addresses".
std::string StatusText(const grpc::Status& status);

}  // namespace mydev::stats_client

#endif  // MYDEV_TOOLS_STATS_CLIENT_CONNECTION_H_
