// connection.cc — see connection.h.
#include "tools/stats_client/connection.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace mydev::stats_client {
namespace {

// The whole of a file named by flag, or an error naming both.
absl::StatusOr<std::string> ReadFlagFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The token in a token file: the first word of its first line that is
// neither empty nor a `#` comment (so a line copied from the daemon's
// tokens_file, "TOKEN SCOPE NAME", works as is).
std::string FirstToken(const std::string& text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    return std::string(words.front());
  }
  return "";
}

// True for gRPC target names of Unix sockets.
bool IsUnixTarget(const std::string& address) {
  return absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:");
}

// The last path component: "/run/mydevd/mydevd.sock" -> "mydevd.sock".
std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string LocalSocketPath(const std::string& socket_flag, const char* env) {
  if (!socket_flag.empty()) return socket_flag;
  if (env != nullptr && *env != '\0') return env;
  return kDefaultSocketPath;
}

Target TargetFromAddress(const std::string& address) {
  Target t;
  t.address = address;
  t.local = IsUnixTarget(address);
  t.label = t.local ? BaseName(address.substr(address.find(':') + 1)) : address;
  return t;
}

std::vector<Target> ResolveTargets(const ConnectionOptions& options, const char* socket_env) {
  std::vector<Target> out;
  for (const std::string& address : options.targets) {
    if (address.empty()) continue;
    out.push_back(TargetFromAddress(address));
  }
  if (out.empty()) {
    std::string path = LocalSocketPath(options.socket, socket_env);
    out.push_back(Target{"unix:" + path, BaseName(path), true});
  }
  return out;
}

absl::StatusOr<ClientSecurity> ClientSecurity::Load(const ConnectionOptions& options) {
  ClientSecurity sec;
  sec.plaintext_ = options.plaintext;
  sec.tls_server_name_ = options.tls_server_name;
  const bool tls_files =
      !options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty();
  if (options.plaintext && tls_files) {
    return absl::InvalidArgumentError(
        "--plaintext contradicts --ca/--cert/--key: drop one (TLS is the default for "
        "HOST:PORT targets)");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--cert and --key go together: the client certificate and its private key");
  }
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFlagFile("ca", options.ca_file);
    if (!ca.ok()) return ca.status();
    sec.ssl_.pem_root_certs = *ca;
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFlagFile("cert", options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFlagFile("key", options.key_file);
    if (!key.ok()) return key.status();
    sec.ssl_.pem_cert_chain = *cert;
    sec.ssl_.pem_private_key = *key;
    sec.client_cert_ = true;
  }
  if (!options.token_file.empty()) {
    absl::StatusOr<std::string> text = ReadFlagFile("token_file", options.token_file);
    if (!text.ok()) return text.status();
    sec.token_ = FirstToken(*text);
    if (sec.token_.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file: ", options.token_file, " holds no token"));
    }
  }
  return sec;
}

std::shared_ptr<grpc::Channel> ClientSecurity::MakeChannel(const Target& target) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (target.local || plaintext_) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    creds = grpc::SslCredentials(ssl_);
    if (!tls_server_name_.empty()) args.SetSslTargetNameOverride(tls_server_name_);
  }
  return grpc::CreateCustomChannel(target.address, creds, args);
}

void ClientSecurity::PrepareCall(grpc::ClientContext* ctx) const {
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
}

std::string ClientSecurity::Describe() const {
  std::string s = plaintext_ ? "plaintext" : client_cert_ ? "mutual TLS" : "TLS";
  if (!token_.empty()) s += " + token";
  return s;
}

std::string StatusText(const grpc::Status& status) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  std::string text = code >= 0 && code < static_cast<int>(std::size(kNames))
                         ? kNames[code]
                         : absl::StrCat("code ", code);
  if (!status.error_message().empty()) absl::StrAppend(&text, ": ", status.error_message());
  return text;
}

}  // namespace mydev::stats_client
