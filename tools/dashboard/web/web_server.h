// web_server.h — mydev-dashboard's HTTP(S) server, on civetweb's C API: the
// live page (embedded assets), its Server-Sent Events stream, the JSON state
// and the Prometheus metrics of a DashboardSource.
//
//   WebServer::Options options;            // 127.0.0.1:9471, plain HTTP
//   options.listen = "127.0.0.1:0";        // port 0: any free port
//   absl::StatusOr<std::unique_ptr<WebServer>> server = WebServer::Start(options, &fleet);
//   if (!server.ok()) return server.status();   // port in use, bad cert, ...
//   std::cout << (*server)->url();          // "http://127.0.0.1:41327/"
//   ...
//   (*server)->Stop();                      // also done by the destructor
//
// Routes (GET only; anything else 405, unknown paths 404):
//   /, /index.html, /app.js, /style.css, /favicon.svg   the page (assets/,
//                 embedded; Cache-Control: no-cache)
//   /metrics      source->MetricsText(), text/plain; version=0.0.4
//   /api/state    source->StateJson(true), application/json
//   /events       text/event-stream: StateJson(true), then StateJson(false) on
//                 each change; ": keepalive" when idle; at most
//                 max_event_streams at once (503 beyond)
// Every response carries X-Content-Type-Options: nosniff, a
// Content-Security-Policy limiting the page to the dashboard itself, and
// X-Frame-Options: DENY.
//
// Security: without TLS and basic auth the server only listens on a loopback
// address (127.0.0.0/8, ::1) unless allow_insecure_listen is set. With
// basic_auth_file every route, /metrics included, needs a user of that file.
//
// Debian 12's civetweb: built without IPv6 ("[::1]:PORT" is parsed but Start()
// returns FAILED_PRECONDITION), and built for OpenSSL 1.1 while it dlopen()s
// OpenSSL 3, which lacks SSL_get_peer_certificate; HTTPS works through the
// embedded civetweb_ssl_shim.c (see there).
#ifndef MYDEV_TOOLS_DASHBOARD_WEB_WEB_SERVER_H_
#define MYDEV_TOOLS_DASHBOARD_WEB_WEB_SERVER_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/dashboard/dashboard_source.h"
#include "tools/dashboard/web/basic_auth.h"

struct mg_context;
struct mg_connection;

namespace mydev::dashboard {

// A parsed `--listen` value.
struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0" (IPv6 without brackets)
  int port = 0;      // 0: any free port
  bool ipv6 = false;
  bool loopback = false;  // 127.0.0.0/8 or ::1

  // civetweb's listening_ports entry: "127.0.0.1:9471", "[::1]:9471", with
  // a trailing "s" when tls.
  std::string CivetwebPort(bool tls) const;
};

// Parses "HOST:PORT" (HOST an IPv4 address or "localhost") or "[IPV6]:PORT".
// INVALID_ARGUMENT, naming the value, otherwise (host names other than
// localhost are refused: the address to bind must be explicit).
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view listen);

// The dashboard's HTTP server. Thread-safe; requests are served by civetweb's
// worker threads (one connection each), so a slow client only holds its own.
class WebServer {
 public:
  // How to serve. The flags of web_server_flags.h map onto these one to one.
  struct Options {
    // --listen: "HOST:PORT" or "[IPV6]:PORT"; port 0 picks a free port.
    std::string listen = "127.0.0.1:9471";
    // --tls_cert / --tls_key: PEM certificate chain and private key; both or
    // neither. With them the server speaks HTTPS only.
    std::string tls_cert;
    std::string tls_key;
    // --basic_auth_file: an htpasswd file (USER:HASH, `htpasswd -B` or
    // `openssl passwd -6`); "" = no authentication. Read once, at Start().
    std::string basic_auth_file;
    // --allow_insecure_listen: serve plain, unauthenticated HTTP on a
    // non-loopback address anyway.
    bool allow_insecure_listen = false;
    // Concurrent /events streams; the next one gets 503.
    int max_event_streams = 64;
    // civetweb worker threads (one per open connection); 0 =
    // max_event_streams + 8, so streams can never starve the other routes.
    // Must exceed max_event_streams.
    int num_threads = 0;
    // How long a write to (or a request from) a client may take before the
    // connection is dropped (civetweb's request_timeout_ms).
    absl::Duration io_timeout = absl::Seconds(10);
    // A ": keepalive" comment when a stream had no event for this long.
    absl::Duration keepalive_interval = absl::Seconds(15);
    // How often an idle stream checks for Stop() (WaitForChange's timeout).
    absl::Duration poll_interval = absl::Seconds(1);
  };

  // Starts serving `source` (which must outlive the server). Errors name the
  // cause: INVALID_ARGUMENT (bad listen value, only one of cert/key, an
  // insecure non-loopback listen, bad auth file), NOT_FOUND /
  // PERMISSION_DENIED (unreadable file), UNAVAILABLE (civetweb could not
  // start: port in use, certificate or key rejected; civetweb's message).
  static absl::StatusOr<std::unique_ptr<WebServer>> Start(const Options& options,
                                                          DashboardSource* source);

  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Ends every /events stream and stops serving; returns once civetweb's
  // threads are gone: about 2 s (civetweb polls its listening socket every
  // 2 s), plus poll_interval for open streams, io_timeout at worst.
  // Idempotent.
  void Stop();

  // The port actually listened on (useful with port 0).
  int port() const { return port_; }

  // Whether the server speaks HTTPS.
  bool tls() const { return tls_; }

  // "http://127.0.0.1:PORT/" or "https://[::1]:PORT/".
  std::string url() const;

  // /events streams open right now.
  int active_event_streams() const { return active_streams_.load(); }

 private:
  WebServer(const Options& options, DashboardSource* source);

  // civetweb's request handler (registered for every path); cbdata = this.
  static int HandleRequest(mg_connection* conn, void* cbdata);
  // civetweb's log hook: messages go to stderr with a prefix.
  static int LogMessage(const mg_connection* conn, const char* message);

  int Serve(mg_connection* conn);
  int ServeEvents(mg_connection* conn);
  // True when the request may proceed; else a 401 was sent.
  bool Authorize(mg_connection* conn);

  const Options options_;
  DashboardSource* const source_;
  std::optional<BasicAuth> auth_;
  ListenAddress address_;
  bool tls_ = false;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_streams_{0};

  absl::Mutex mu_;
  mg_context* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_WEB_WEB_SERVER_H_
