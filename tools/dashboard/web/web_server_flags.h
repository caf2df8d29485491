// web_server_flags.h — the command-line flags of mydev-dashboard's web
// server, mapped onto WebServer::Options. Link this library into the binary
// that wants the flags (mydev-dashboard's main); the flags are:
//
//   --listen=127.0.0.1:9471   HOST:PORT or [IPV6]:PORT to serve on
//   --tls_cert=PEM --tls_key=PEM   serve HTTPS with this certificate chain and key
//   --basic_auth_file=FILE    require HTTP Basic auth (htpasswd -B / openssl passwd -6)
//   --allow_insecure_listen   allow plain HTTP without auth on a non-loopback address
//   --max_event_streams=64    concurrent /events streams (503 beyond)
//
//   absl::ParseCommandLine(argc, argv);
//   auto server = WebServer::Start(WebServerOptionsFromFlags(), &fleet);
#ifndef MYDEV_TOOLS_DASHBOARD_WEB_WEB_SERVER_FLAGS_H_
#define MYDEV_TOOLS_DASHBOARD_WEB_WEB_SERVER_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "tools/dashboard/web/web_server.h"

ABSL_DECLARE_FLAG(std::string, listen);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, basic_auth_file);
ABSL_DECLARE_FLAG(bool, allow_insecure_listen);
ABSL_DECLARE_FLAG(int, max_event_streams);

namespace mydev::dashboard {

// WebServer::Options from the flags above (the rest at their defaults).
WebServer::Options WebServerOptionsFromFlags();

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_WEB_WEB_SERVER_FLAGS_H_
