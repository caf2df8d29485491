// web_server_flags.cc — see web_server_flags.h.
#include "tools/dashboard/web/web_server_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, listen, mydev::dashboard::WebServer::Options().listen,
          "Where the web page and /metrics are served: HOST:PORT or [IPV6]:PORT (port 0: any "
          "free port). Other than loopback needs --tls_cert/--tls_key or --basic_auth_file "
          "(or --allow_insecure_listen).");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve HTTPS (with --tls_key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, basic_auth_file, "",
          "htpasswd file (USER:HASH lines, `htpasswd -B` bcrypt or `openssl passwd -6`): every "
          "request needs HTTP Basic auth by one of its users. Read at start.");
ABSL_FLAG(bool, allow_insecure_listen, false,
          "Serve plain HTTP without authentication on a non-loopback --listen address.");
ABSL_FLAG(int, max_event_streams, mydev::dashboard::WebServer::Options().max_event_streams,
          "Most live-page streams (/events) open at once; more get 503.");

namespace mydev::dashboard {

WebServer::Options WebServerOptionsFromFlags() {
  WebServer::Options o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.basic_auth_file = absl::GetFlag(FLAGS_basic_auth_file);
  o.allow_insecure_listen = absl::GetFlag(FLAGS_allow_insecure_listen);
  o.max_event_streams = absl::GetFlag(FLAGS_max_event_streams);
  return o;
}

}  // namespace mydev::dashboard
