// web_server.cc — see web_server.h.
#include "tools/dashboard/web/web_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tools/dashboard/web/assets.h"

namespace mydev::dashboard {

// civetweb_ssl_shim.c built as a shared object (generated ssl_shim_data.cc).
extern const unsigned char kCivetwebSslShim[];
extern const size_t kCivetwebSslShimSize;

namespace {

constexpr char kRealm[] = "mydev-dashboard";
constexpr char kContentSecurityPolicy[] =
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// mg_init_library / mg_exit_library are not thread-safe; they are counted.
absl::Mutex library_mu;

using Header = std::pair<const char*, std::string>;

// Sends status, the usual headers plus `extra`, and `body` (with its length).
int SendResponse(mg_connection* conn, int status, const char* content_type, absl::string_view body,
                 std::initializer_list<Header> extra = {}) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type, -1);
  const std::string length = absl::StrCat(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
  mg_response_header_add(conn, "Content-Security-Policy", kContentSecurityPolicy, -1);
  mg_response_header_add(conn, "X-Frame-Options", "DENY", -1);
  mg_response_header_add(conn, "Referrer-Policy", "no-referrer", -1);
  for (const Header& h : extra) {
    mg_response_header_add(conn, h.first, h.second.c_str(), static_cast<int>(h.second.size()));
  }
  mg_response_header_send(conn);
  if (!body.empty()) mg_write(conn, body.data(), body.size());
  return status;
}

int SendError(mg_connection* conn, int status, absl::string_view message,
              std::initializer_list<Header> extra = {}) {
  return SendResponse(conn, status, "text/plain; charset=utf-8", absl::StrCat(message, "\n"),
                      extra);
}

// Writes all of `data`; false when the client is gone or too slow.
bool WriteAll(mg_connection* conn, absl::string_view data) {
  return mg_write(conn, data.data(), data.size()) == static_cast<int>(data.size());
}

// One SSE message carrying `json`: each line of it a `data:` line.
std::string SseEvent(absl::string_view json) {
  std::string out;
  out.reserve(json.size() + 16);
  for (absl::string_view line : absl::StrSplit(json, '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    absl::StrAppend(&out, "data: ", line, "\n");
  }
  out += "\n";
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot read ", what, " ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A private directory holding civetweb's one-file PEM (certificate chain and
// key) for as long as mg_start reads it; removed by the destructor.
class PemBundle {
 public:
  ~PemBundle() {
    if (!file_.empty()) ::unlink(file_.c_str());
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }

  absl::Status Write(const std::string& cert, const std::string& key) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/mydev-dashboard-tls.XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdtemp ", templ));
    }
    dir_ = templ;  // mkdtemp makes it 0700
    file_ = dir_ + "/server.pem";
    const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("creating ", file_));
    std::string pem = cert;
    if (!pem.empty() && pem.back() != '\n') pem += '\n';
    pem += key;
    size_t done = 0;
    while (done < pem.size()) {
      const ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(fd);
        return absl::ErrnoToStatus(err, absl::StrCat("writing ", file_));
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("writing ", file_));
    return absl::OkStatus();
  }

  const std::string& path() const { return file_; }

 private:
  std::string dir_;
  std::string file_;
};

// Makes civetweb's dlopen("libssl.so") yield a libssl that has every function
// it calls (civetweb_ssl_shim.c says why): loads the embedded shim, whose
// soname is libssl.so, from a memfd. Once per process; must run before
// civetweb first initialises TLS.
absl::Status LoadCivetwebSslShim() {
  static const absl::Status* const status = [] {
    const int fd = ::memfd_create("libssl.so", MFD_CLOEXEC);
    if (fd < 0) return new absl::Status(absl::ErrnoToStatus(errno, "memfd_create"));
    size_t done = 0;
    while (done < kCivetwebSslShimSize) {
      const ssize_t n = ::write(fd, kCivetwebSslShim + done, kCivetwebSslShimSize - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        return new absl::Status(absl::ErrnoToStatus(errno, "writing the TLS shim"));
      }
      done += static_cast<size_t>(n);
    }
    const std::string path = absl::StrCat("/proc/self/fd/", fd);
    void* shim = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ::close(fd);
    if (shim == nullptr) {
      const char* e = ::dlerror();
      return new absl::Status(absl::FailedPreconditionError(
          absl::StrCat("cannot load libssl for civetweb's HTTPS: ", e != nullptr ? e : "?")));
    }
    // What civetweb will get (the shim, unless another "libssl.so" came first).
    void* libssl = ::dlopen("libssl.so", RTLD_NOW | RTLD_LOCAL);
    if (libssl == nullptr || ::dlsym(libssl, "SSL_get_peer_certificate") == nullptr ||
        ::dlsym(libssl, "SSL_CTX_new") == nullptr) {
      return new absl::Status(absl::FailedPreconditionError(
          "civetweb's libssl.so lacks SSL_get_peer_certificate (OpenSSL 3 without the shim): "
          "HTTPS connections would crash the process"));
    }
    return new absl::Status();  // both handles stay loaded for the process's life
  }();
  return *status;
}

}  // namespace

std::string ListenAddress::CivetwebPort(bool tls) const {
  return absl::StrCat(ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":", port, tls ? "s" : "");
}

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view listen) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen \"", listen, "\": ", why, " (want HOST:PORT or [IPV6]:PORT)"));
  };
  ListenAddress a;
  absl::string_view port;
  if (absl::StartsWith(listen, "[")) {
    const size_t close = listen.find(']');
    if (close == absl::string_view::npos) return bad("no closing ']'");
    a.host = std::string(listen.substr(1, close - 1));
    absl::string_view rest = listen.substr(close + 1);
    if (!absl::ConsumePrefix(&rest, ":")) return bad("no :PORT after the address");
    port = rest;
    a.ipv6 = true;
    in6_addr addr6;
    if (::inet_pton(AF_INET6, a.host.c_str(), &addr6) != 1) return bad("not an IPv6 address");
    a.loopback = IN6_IS_ADDR_LOOPBACK(&addr6);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == absl::string_view::npos) return bad("no :PORT");
    a.host = std::string(listen.substr(0, colon));
    port = listen.substr(colon + 1);
    if (a.host.empty()) return bad("no HOST (0.0.0.0 means every IPv4 address)");
    if (a.host.find(':') != std::string::npos) return bad("an IPv6 address needs [brackets]");
    if (absl::AsciiStrToLower(a.host) == "localhost") a.host = "127.0.0.1";
    in_addr addr4;
    if (::inet_pton(AF_INET, a.host.c_str(), &addr4) != 1) {
      return bad("HOST must be an IPv4 address, [IPv6] address or localhost");
    }
    a.loopback = (ntohl(addr4.s_addr) >> 24) == 127;
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port, &a.port) || a.port > 65535) {
    return bad("PORT must be a number 0..65535");
  }
  return a;
}

WebServer::WebServer(const Options& options, DashboardSource* source)
    : options_(options), source_(source) {}

WebServer::~WebServer() { Stop(); }

absl::StatusOr<std::unique_ptr<WebServer>> WebServer::Start(const Options& options,
                                                            DashboardSource* source) {
  if (source == nullptr) return absl::InvalidArgumentError("WebServer: no DashboardSource");
  std::unique_ptr<WebServer> server(new WebServer(options, source));
  absl::StatusOr<ListenAddress> address = ParseListenAddress(options.listen);
  if (!address.ok()) return address.status();
  server->address_ = *address;

  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together: give both or neither");
  }
  server->tls_ = !options.tls_cert.empty();
  if (!options.basic_auth_file.empty()) {
    absl::StatusOr<BasicAuth> auth = BasicAuth::Load(options.basic_auth_file);
    if (!auth.ok()) return auth.status();
    server->auth_ = *std::move(auth);
  }
  if (!address->loopback && !server->tls_ && !server->auth_.has_value() &&
      !options.allow_insecure_listen) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to listen on non-loopback address ", options.listen,
        " without TLS (--tls_cert/--tls_key) or authentication (--basic_auth_file): anyone who "
        "can reach it would see every host's sessions, users and command lines. Pass "
        "--allow_insecure_listen to serve it anyway"));
  }
  if (options.max_event_streams < 1) {
    return absl::InvalidArgumentError("max_event_streams must be at least 1");
  }
  const int threads = options.num_threads > 0 ? options.num_threads : options.max_event_streams + 8;
  if (threads <= options.max_event_streams) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_threads (", threads, ") must exceed max_event_streams (",
                     options.max_event_streams, "): each open /events stream holds a thread"));
  }
  if (address->ipv6 && mg_check_feature(MG_FEATURES_IPV6) == 0) {
    return absl::FailedPreconditionError("this civetweb was built without IPv6 support");
  }
  if (server->tls_ && mg_check_feature(MG_FEATURES_TLS) == 0) {
    return absl::FailedPreconditionError("this civetweb was built without TLS support");
  }

  PemBundle pem;
  if (server->tls_) {
    absl::StatusOr<std::string> cert = ReadFile(options.tls_cert, "--tls_cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.tls_key, "--tls_key");
    if (!key.ok()) return key.status();
    if (cert->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_cert ", options.tls_cert, ": no PEM certificate in it"));
    }
    if (key->find("PRIVATE KEY-----") == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_key ", options.tls_key, ": no PEM private key in it"));
    }
    if (absl::Status s = pem.Write(*cert, *key); !s.ok()) return s;
    if (absl::Status s = LoadCivetwebSslShim(); !s.ok()) return s;
  }

  const std::string ports = address->CivetwebPort(server->tls_);
  const std::string num_threads = absl::StrCat(threads);
  const std::string timeout_ms = absl::StrCat(absl::ToInt64Milliseconds(options.io_timeout));
  std::vector<const char*> config = {
      "listening_ports",       ports.c_str(),        //
      "num_threads",           num_threads.c_str(),  //
      "request_timeout_ms",    timeout_ms.c_str(),   //
      "enable_keep_alive",     "yes",                //
      "keep_alive_timeout_ms", "5000",               //
      "authentication_domain", kRealm,               //
  };
  if (server->tls_) {
    config.insert(config.end(), {"ssl_certificate", pem.path().c_str(),  //
                                 "ssl_certificate_chain", options.tls_cert.c_str(),
                                 "ssl_protocol_version", "4"});  // TLS 1.2 and later
  }
  config.push_back(nullptr);

  mg_callbacks callbacks{};
  callbacks.log_message = &WebServer::LogMessage;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = config.data();
  char error_text[512] = "";
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);

  mg_context* ctx;
  {
    absl::MutexLock lock(&library_mu);
    mg_init_library(server->tls_ ? MG_FEATURES_TLS : MG_FEATURES_DEFAULT);
    ctx = mg_start2(&init, &error);
    if (ctx == nullptr) mg_exit_library();
  }
  if (ctx == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve on ", options.listen, server->tls_ ? " (HTTPS)" : "", ": ",
                     error_text[0] != '\0' ? error_text : "civetweb failed to start"));
  }
  mg_server_port bound[4] = {};
  const int n = mg_get_server_ports(ctx, 4, bound);
  {
    absl::MutexLock lock(&server->mu_);
    server->ctx_ = ctx;
  }
  if (n < 1 || bound[0].port <= 0) {
    server->Stop();
    return absl::InternalError("civetweb started but reports no listening port");
  }
  server->port_ = bound[0].port;
  mg_set_request_handler(ctx, "/", &WebServer::HandleRequest, server.get());
  return server;
}

void WebServer::Stop() {
  stopping_ = true;
  mg_context* ctx;
  {
    absl::MutexLock lock(&mu_);
    ctx = ctx_;
    ctx_ = nullptr;
  }
  if (ctx == nullptr) return;
  mg_stop(ctx);  // joins the workers; open streams notice stopping_ within poll_interval
  absl::MutexLock lock(&library_mu);
  mg_exit_library();
}

std::string WebServer::url() const {
  return absl::StrCat(tls_ ? "https://" : "http://", address_.ipv6 ? "[" : "", address_.host,
                      address_.ipv6 ? "]" : "", ":", port_, "/");
}

int WebServer::LogMessage(const mg_connection*, const char* message) {
  std::fprintf(stderr, "mydev-dashboard: web: %s\n", message);
  return 1;
}

int WebServer::HandleRequest(mg_connection* conn, void* cbdata) {
  return static_cast<WebServer*>(cbdata)->Serve(conn);
}

bool WebServer::Authorize(mg_connection* conn) {
  if (!auth_.has_value()) return true;
  const char* header = mg_get_header(conn, "Authorization");
  if (header != nullptr) {
    std::optional<BasicCredentials> c = ParseBasicAuthorization(header);
    if (c.has_value() && auth_->Check(c->user, c->password)) return true;
  }
  SendError(conn, 401, "401 authentication required",
            {{"WWW-Authenticate", absl::StrCat("Basic realm=\"", kRealm, "\", charset=\"UTF-8\"")},
             {"Cache-Control", "no-store"}});
  return false;
}

int WebServer::Serve(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  if (!Authorize(conn)) return 401;
  const absl::string_view method = ri->request_method != nullptr ? ri->request_method : "";
  const absl::string_view path = ri->local_uri != nullptr ? ri->local_uri : "";
  if (method != "GET") {
    return SendError(conn, 405, "405 method not allowed (GET only)", {{"Allow", "GET"}});
  }
  if (path == "/events") return ServeEvents(conn);
  if (path == "/metrics") {
    return SendResponse(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                        source_->MetricsText(), {{"Cache-Control", "no-store"}});
  }
  if (path == "/api/state") {
    return SendResponse(conn, 200, "application/json", source_->StateJson(true),
                        {{"Cache-Control", "no-store"}});
  }
  if (const EmbeddedAsset* asset = FindAsset(path)) {
    return SendResponse(conn, 200, AssetContentType(asset->path),
                        absl::string_view(reinterpret_cast<const char*>(asset->data), asset->size),
                        {{"Cache-Control", "no-cache"}});
  }
  return SendError(conn, 404, "404 not found");
}

int WebServer::ServeEvents(mg_connection* conn) {
  if (stopping_) return SendError(conn, 503, "503 shutting down");
  if (active_streams_.fetch_add(1) >= options_.max_event_streams) {
    active_streams_.fetch_sub(1);
    return SendError(conn, 503, "503 too many event streams", {{"Retry-After", "5"}});
  }
  absl::Cleanup release = [this] { active_streams_.fetch_sub(1); };

  mg_response_header_start(conn, 200);
  mg_response_header_add(conn, "Content-Type", "text/event-stream; charset=utf-8", -1);
  mg_response_header_add(conn, "Cache-Control", "no-cache", -1);
  mg_response_header_add(conn, "X-Accel-Buffering", "no", -1);
  mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
  mg_response_header_add(conn, "Connection", "close", -1);
  mg_response_header_send(conn);

  // The version first: a change racing StateJson() is sent again, never lost.
  uint64_t seen = source_->WaitForChange(0, absl::ZeroDuration());
  if (!WriteAll(conn, "retry: 2000\n\n" + SseEvent(source_->StateJson(true)))) return 200;
  absl::Time last_write = absl::Now();
  while (!stopping_) {
    const uint64_t now_version = source_->WaitForChange(seen, options_.poll_interval);
    if (stopping_) break;
    if (now_version != seen) {
      seen = now_version;
      if (!WriteAll(conn, SseEvent(source_->StateJson(false)))) break;
      last_write = absl::Now();
    } else if (absl::Now() - last_write >= options_.keepalive_interval) {
      if (!WriteAll(conn, ": keepalive\n\n")) break;
      last_write = absl::Now();
    }
  }
  return 200;
}

}  // namespace mydev::dashboard
