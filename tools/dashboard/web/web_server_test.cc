// web_server_test.cc — WebServer against a fake DashboardSource, through real
// sockets: every route, the SSE stream, its cap and keepalives, basic auth,
// the non-loopback refusal, HTTPS (openssl), and Stop() with open streams.
#include "tools/dashboard/web/web_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <crypt.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tools/dashboard/dashboard_source.h"

namespace mydev::dashboard {
namespace {

// openssl passwd -6 -salt mydevsalt 'correct horse'
constexpr char kSha512Hash[] =
    "$6$mydevsalt$u8odFK5bwBAvMFX5JR2C2BU1GNOntMrKgtzdbmvYKsmt7NVOmWIs1Ek9U.4X4Ah1kIL8VWx/"
    "214M9T7.uMn2i1";

// A source whose version the test bumps; the JSON says which call made it.
class FakeSource : public DashboardSource {
 public:
  std::string MetricsText() override { return "mydev_target_up{target=\"t1\"} 1\n"; }

  std::string StateJson(bool full_history) override {
    absl::MutexLock lock(&mu_);
    return absl::StrCat("{\"version\":\"", version_,
                        "\",\n\"full_history\":", full_history ? "true" : "false",
                        ",\"padding\":\"", padding_, "\"}");
  }

  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return version_ > seen; };
    mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
    return version_;
  }

  void Bump() {
    absl::MutexLock lock(&mu_);
    ++version_;
  }

  // Makes every state this many bytes bigger.
  void SetPadding(size_t bytes) {
    absl::MutexLock lock(&mu_);
    padding_.assign(bytes, 'x');
  }

 private:
  absl::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 1;
  std::string padding_ ABSL_GUARDED_BY(mu_);
};

// A connected TCP socket to 127.0.0.1:port with a receive timeout.
class Client {
 public:
  explicit Client(int port, absl::Duration timeout = absl::Seconds(5)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{};
    tv.tv_sec = absl::ToInt64Seconds(timeout);
    tv.tv_usec = absl::ToInt64Microseconds(timeout) % 1000000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Client() { Close(); }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool connected() const { return connected_; }

  bool Send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }

  // Reads until `what` is in the buffer (true) or EOF/timeout (false).
  bool ReadUntil(absl::string_view what) {
    while (absl::string_view(buffer_).find(what) == absl::string_view::npos) {
      if (!ReadSome()) return false;
    }
    return true;
  }

  // Reads until EOF or timeout; returns everything read.
  std::string ReadAll() {
    while (ReadSome()) {
    }
    return buffer_;
  }

  // Appends whatever has arrived, without waiting.
  void ReadAvailable() {
    char chunk[65536];
    for (ssize_t n; (n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0;) {
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // False on EOF or timeout.
  bool ReadSome() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = n == 0;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  bool eof() const { return eof_; }
  std::string& buffer() { return buffer_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

struct Response {
  int status = 0;
  std::string head;  // status line and headers, lower-cased names kept as sent
  std::string body;

  // The value of header `name` (case-insensitive), or "".
  std::string Header(absl::string_view name) const {
    const std::string lower = absl::AsciiStrToLower(head);
    const std::string key = absl::StrCat("\r\n", absl::AsciiStrToLower(name), ":");
    const size_t at = lower.find(key);
    if (at == std::string::npos) return "";
    const size_t start = at + key.size();
    const size_t end = head.find("\r\n", start);
    return std::string(absl::StripAsciiWhitespace(head.substr(start, end - start)));
  }
};

Response Parse(const std::string& raw) {
  Response r;
  const size_t split = raw.find("\r\n\r\n");
  r.head = raw.substr(0, split == std::string::npos ? raw.size() : split + 2);
  if (split != std::string::npos) r.body = raw.substr(split + 4);
  if (absl::StartsWith(raw, "HTTP/1.")) r.status = std::atoi(raw.c_str() + 9);
  return r;
}

Response Fetch(int port, const std::string& method, const std::string& path,
               const std::string& extra_headers = "") {
  Client c(port);
  EXPECT_TRUE(c.connected());
  c.Send(absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                      extra_headers, method == "POST" ? "Content-Length: 0\r\n" : "", "\r\n"));
  return Parse(c.ReadAll());
}

WebServer::Options TestOptions() {
  WebServer::Options o;
  o.listen = "127.0.0.1:0";
  o.max_event_streams = 4;
  o.poll_interval = absl::Milliseconds(50);
  return o;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Counts the SSE messages in `stream` (each state starts with "data: {").
int CountEvents(const std::string& stream) {
  int n = 0;
  for (size_t at = 0; (at = stream.find("data: {", at)) != std::string::npos; ++at) ++n;
  return n;
}

TEST(ParseListenAddress, Forms) {
  auto a = ParseListenAddress("127.0.0.1:9471");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9471);
  EXPECT_TRUE(a->loopback);
  EXPECT_EQ(a->CivetwebPort(false), "127.0.0.1:9471");
  EXPECT_EQ(a->CivetwebPort(true), "127.0.0.1:9471s");

  a = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->ipv6);
  EXPECT_TRUE(a->loopback);
  EXPECT_EQ(a->CivetwebPort(true), "[::1]:0s");

  a = ParseListenAddress("localhost:80");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");

  a = ParseListenAddress("0.0.0.0:9471");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->loopback);
  a = ParseListenAddress("[::]:9471");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->loopback);
  a = ParseListenAddress("127.8.9.10:1");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->loopback);

  for (const char* bad : {"", "9471", ":9471", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:-1", "127.0.0.1:9x", "::1:9471", "[::1]9471", "[::1:9471",
                          "[nope]:1", "example.com:80", "1.2.3:80"}) {
    EXPECT_EQ(ParseListenAddress(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(WebServer, ServesRoutes) {
  FakeSource source;
  auto server = WebServer::Start(TestOptions(), &source);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ((*server)->url(), absl::StrCat("http://127.0.0.1:", port, "/"));

  Response r = Fetch(port, "GET", "/");
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_TRUE(absl::StartsWith(r.Header("Content-Security-Policy"), "default-src 'self'"))
      << r.head;
  EXPECT_EQ(r.Header("Content-Length"), absl::StrCat(r.body.size()));
  EXPECT_NE(r.body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_NE(r.body.find("id=\"connection\""), std::string::npos);
  EXPECT_EQ(Fetch(port, "GET", "/index.html").body, r.body);

  r = Fetch(port, "GET", "/app.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
  EXPECT_NE(r.body.find("new EventSource('/events')"), std::string::npos);

  r = Fetch(port, "GET", "/style.css");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/css; charset=utf-8");

  r = Fetch(port, "GET", "/favicon.svg");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "image/svg+xml");

  r = Fetch(port, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.body, source.MetricsText());

  r = Fetch(port, "GET", "/api/state");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, source.StateJson(true));

  r = Fetch(port, "GET", "/api/state?x=1");
  EXPECT_EQ(r.status, 200);

  for (const char* missing : {"/nope", "/app.js/", "/metricsx", "/events/x", "/../etc/passwd"}) {
    r = Fetch(port, "GET", missing);
    EXPECT_EQ(r.status, 404) << missing << "\n" << r.head;
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
  }
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    r = Fetch(port, method, "/");
    EXPECT_EQ(r.status, 405) << method << "\n" << r.head;
    EXPECT_EQ(r.Header("Allow"), "GET");
  }
  r = Fetch(port, "POST", "/metrics");
  EXPECT_EQ(r.status, 405);
}

TEST(WebServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  FakeSource source;
  auto server = WebServer::Start(TestOptions(), &source);
  ASSERT_TRUE(server.ok()) << server.status();
  Client c((*server)->port());
  c.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /api/state HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(c.ReadUntil("full_history\":true"));
  EXPECT_NE(c.buffer().find("mydev_target_up"), std::string::npos);
}

TEST(WebServer, EventsStreamFullStateThenChanges) {
  FakeSource source;
  auto server = WebServer::Start(TestOptions(), &source);
  ASSERT_TRUE(server.ok()) << server.status();
  Client c((*server)->port());
  c.Send("GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  ASSERT_TRUE(c.ReadUntil("\r\n\r\n"));
  Response head = Parse(c.buffer());
  EXPECT_EQ(head.status, 200) << head.head;
  EXPECT_EQ(head.Header("Content-Type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(head.Header("Cache-Control"), "no-cache");

  // The first event: the full state, each JSON line a data: line.
  ASSERT_TRUE(c.ReadUntil("\"full_history\":true,\"padding\":\"\"}\n\n")) << c.buffer();
  EXPECT_NE(c.buffer().find("data: {\"version\":\"1\",\ndata: \"full_history\":true"),
            std::string::npos)
      << c.buffer();
  EXPECT_EQ((*server)->active_event_streams(), 1);

  // Nothing new without a change...
  absl::SleepFor(absl::Milliseconds(300));
  c.ReadAvailable();
  EXPECT_EQ(c.buffer().find("full_history\":false"), std::string::npos);
  // ...and the newest state (without histories) after one.
  source.Bump();
  ASSERT_TRUE(c.ReadUntil("\"full_history\":false,\"padding\":\"\"}\n\n")) << c.buffer();
  EXPECT_NE(c.buffer().find("data: {\"version\":\"2\",\ndata: \"full_history\":false"),
            std::string::npos);
  source.Bump();
  ASSERT_TRUE(c.ReadUntil("data: {\"version\":\"3\"")) << c.buffer();
  EXPECT_EQ(CountEvents(c.buffer()), 3);
}

TEST(WebServer, EventsKeepalive) {
  FakeSource source;
  WebServer::Options o = TestOptions();
  o.keepalive_interval = absl::Milliseconds(200);
  auto server = WebServer::Start(o, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  Client c((*server)->port(), absl::Seconds(3));
  c.Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(c.ReadUntil("full_history\":true"));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(c.ReadUntil("\n: keepalive\n\n")) << c.buffer();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(WebServer, EventStreamsAreCappedAndFreed) {
  FakeSource source;
  WebServer::Options o = TestOptions();
  o.max_event_streams = 2;
  o.keepalive_interval = absl::Milliseconds(100);  // a gone client is noticed quickly
  auto server = WebServer::Start(o, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  auto a = std::make_unique<Client>(port);
  auto b = std::make_unique<Client>(port);
  for (Client* c : {a.get(), b.get()}) {
    c->Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(c->ReadUntil("full_history\":true"));
  }
  EXPECT_EQ((*server)->active_event_streams(), 2);
  Response r = Fetch(port, "GET", "/events");
  EXPECT_EQ(r.status, 503) << r.head;
  EXPECT_EQ(r.Header("Retry-After"), "5");
  // Other routes still work while the streams are open.
  EXPECT_EQ(Fetch(port, "GET", "/metrics").status, 200);

  a.reset();  // the server notices at its next keepalive and frees the slot
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while ((*server)->active_event_streams() > 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ((*server)->active_event_streams(), 1);
  Client c(port);
  c.Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(c.ReadUntil("full_history\":true")) << c.buffer();
}

TEST(WebServer, StalledReaderDoesNotStallOthers) {
  FakeSource source;
  source.SetPadding(1 << 20);  // 1 MiB per event: the socket buffers fill at once
  WebServer::Options o = TestOptions();
  o.io_timeout = absl::Milliseconds(500);
  auto server = WebServer::Start(o, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  Client stalled(port);
  stalled.Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");  // and never reads
  std::atomic<bool> bumping{true};
  std::thread bumper([&] {
    while (bumping) {
      source.Bump();
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  const absl::Time start = absl::Now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Fetch(port, "GET", "/metrics").status, 200);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The stalled stream is dropped after io_timeout.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*server)->active_event_streams() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ((*server)->active_event_streams(), 0);
  bumping = false;
  bumper.join();
}

TEST(WebServer, StopEndsOpenStreamsPromptly) {
  FakeSource source;
  WebServer::Options o = TestOptions();
  o.poll_interval = absl::Seconds(1);
  auto server = WebServer::Start(o, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  Client a((*server)->port()), b((*server)->port());
  for (Client* c : {&a, &b}) {
    c->Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(c->ReadUntil("full_history\":true"));
  }
  const absl::Time start = absl::Now();
  (*server)->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  a.ReadAll();
  EXPECT_TRUE(a.eof());
  (*server)->Stop();  // idempotent
  server->reset();
}

TEST(WebServer, BasicAuth) {
  FakeSource source;
  const std::string file = TempPath("htpasswd");
  WriteFile(file, std::string("# ops\nops:") + kSha512Hash + "\n");
  WebServer::Options o = TestOptions();
  o.basic_auth_file = file;
  auto server = WebServer::Start(o, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  const std::string realm = "Basic realm=\"mydev-dashboard\"";

  for (const char* path : {"/", "/metrics", "/events", "/nope"}) {
    Response r = Fetch(port, "GET", path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_TRUE(absl::StartsWith(r.Header("WWW-Authenticate"), realm)) << r.head;
  }
  const auto auth = [](const std::string& user_password) {
    return absl::StrCat("Authorization: Basic ", absl::Base64Escape(user_password), "\r\n");
  };
  Response r = Fetch(port, "GET", "/metrics", auth("ops:wrong"));
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(absl::StartsWith(r.Header("WWW-Authenticate"), realm));
  EXPECT_EQ(r.body.find("mydev_target_up"), std::string::npos);
  EXPECT_EQ(Fetch(port, "GET", "/metrics", auth("root:correct horse")).status, 401);
  EXPECT_EQ(Fetch(port, "GET", "/metrics", "Authorization: Bearer x\r\n").status, 401);

  r = Fetch(port, "GET", "/metrics", auth("ops:correct horse"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, source.MetricsText());
  EXPECT_EQ(Fetch(port, "GET", "/", auth("ops:correct horse")).status, 200);
  EXPECT_EQ(Fetch(port, "POST", "/", auth("ops:correct horse")).status, 405);

  // With auth a non-loopback address is allowed.
  o.listen = "0.0.0.0:0";
  auto open = WebServer::Start(o, &source);
  EXPECT_TRUE(open.ok()) << open.status();
}

TEST(WebServer, StartErrorsNameTheCause) {
  FakeSource source;
  WebServer::Options o = TestOptions();
  o.listen = "0.0.0.0:0";
  absl::Status s = WebServer::Start(o, &source).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--allow_insecure_listen"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("0.0.0.0:0"), absl::string_view::npos) << s;
  o.listen = "[::]:0";
  EXPECT_EQ(WebServer::Start(o, &source).status().code(), absl::StatusCode::kInvalidArgument);
  o.listen = "0.0.0.0:0";
  o.allow_insecure_listen = true;
  EXPECT_TRUE(WebServer::Start(o, &source).ok());

  // Port in use.
  auto first = WebServer::Start(TestOptions(), &source);
  ASSERT_TRUE(first.ok());
  o = TestOptions();
  o.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  s = WebServer::Start(o, &source).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find(o.listen), absl::string_view::npos) << s;

  o = TestOptions();
  o.basic_auth_file = TempPath("does-not-exist");
  s = WebServer::Start(o, &source).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find("does-not-exist"), absl::string_view::npos) << s;

  o = TestOptions();
  WriteFile(TempPath("bad-htpasswd"), "ops:plaintext\n");
  o.basic_auth_file = TempPath("bad-htpasswd");
  EXPECT_EQ(WebServer::Start(o, &source).status().code(), absl::StatusCode::kInvalidArgument);

  o = TestOptions();
  o.tls_cert = TempPath("cert-only.pem");
  EXPECT_EQ(WebServer::Start(o, &source).status().code(), absl::StatusCode::kInvalidArgument);
  o.tls_key = TempPath("missing-key.pem");
  s = WebServer::Start(o, &source).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find("cert-only.pem"), absl::string_view::npos) << s;

  o = TestOptions();
  o.num_threads = 4;
  o.max_event_streams = 4;
  EXPECT_EQ(WebServer::Start(o, &source).status().code(), absl::StatusCode::kInvalidArgument);
  o.listen = "nowhere:1";
  EXPECT_EQ(WebServer::Start(o, &source).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WebServer, ServesIpv6Loopback) {
  if (mg_check_feature(MG_FEATURES_IPV6) == 0) GTEST_SKIP() << "civetweb without IPv6";
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool have_ipv6 = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  if (fd >= 0) ::close(fd);
  if (!have_ipv6) GTEST_SKIP() << "no ::1 here";
  FakeSource source;
  WebServer::Options o = TestOptions();
  o.listen = "[::1]:0";
  auto server = WebServer::Start(o, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->url(), absl::StrCat("http://[::1]:", (*server)->port(), "/"));
  const int c = ::socket(AF_INET6, SOCK_STREAM, 0);
  a.sin6_port = htons(static_cast<uint16_t>((*server)->port()));
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const std::string req = "GET /metrics HTTP/1.0\r\n\r\n";
  ASSERT_EQ(::send(c, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(c, buf, sizeof(buf), 0)) > 0;) got.append(buf, n);
  ::close(c);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200")) << got;
}

// Runs a shell command; returns its stdout (and whether it exited 0).
std::string Shell(const std::string& command, bool* ok = nullptr) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int rc = ::pclose(p);
  if (ok != nullptr) *ok = rc == 0;
  return out;
}

TEST(WebServer, Https) {
  bool ok = false;
  Shell("openssl version", &ok);
  if (!ok) GTEST_SKIP() << "no openssl command";
  const std::string cert = TempPath("server.crt");
  const std::string key = TempPath("server.key");
  Shell(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes",
                     " -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -keyout ",
                     key, " -out ", cert, " 2>&1"),
        &ok);
  ASSERT_TRUE(ok);

  FakeSource source;
  WebServer::Options o = TestOptions();
  o.tls_cert = cert;
  o.tls_key = key;
  auto server = WebServer::Start(o, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->tls());
  const int port = (*server)->port();
  EXPECT_EQ((*server)->url(), absl::StrCat("https://127.0.0.1:", port, "/"));

  // A verified TLS handshake (the test's certificate as the only root).
  const std::string out = Shell(absl::StrCat(
      "printf 'GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' | ",
      "timeout 10 openssl s_client -quiet -verify_return_error -CAfile ", cert,
      " -verify_ip 127.0.0.1 -connect 127.0.0.1:", port, " 2>/dev/null"));
  EXPECT_TRUE(absl::StartsWith(out, "HTTP/1.1 200")) << out;
  EXPECT_NE(out.find("text/plain; version=0.0.4"), std::string::npos) << out;
  EXPECT_NE(out.find(source.MetricsText()), std::string::npos) << out;

  // Plain HTTP to the HTTPS port gets no page.
  Client plain(port, absl::Seconds(3));
  plain.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(plain.ReadAll().find("mydev_target_up"), std::string::npos);

  // The one-file PEM civetweb needed is gone once the server runs.
  EXPECT_EQ(Shell("ls -d ${TMPDIR:-/tmp}/mydev-dashboard-tls.* 2>/dev/null | wc -l"), "0\n");

  // A key that does not belong to the certificate.
  const std::string other_key = TempPath("other.key");
  Shell(absl::StrCat("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out ",
                     other_key, " 2>&1"),
        &ok);
  ASSERT_TRUE(ok);
  o.tls_key = other_key;
  absl::Status s = WebServer::Start(o, &source).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  // Not a certificate at all.
  o.tls_key = key;
  o.tls_cert = key;
  EXPECT_EQ(WebServer::Start(o, &source).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mydev::dashboard
