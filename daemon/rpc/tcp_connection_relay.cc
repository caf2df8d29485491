// tcp_connection_relay.cc — see tcp_connection_relay.h.
#include "daemon/rpc/tcp_connection_relay.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"

namespace mydev::daemon {
namespace {

constexpr size_t kMaxBursts = 1024;

void SetInt(int fd, int level, int option, int value) {
  (void)setsockopt(fd, level, option, &value, sizeof value);
}

// Closes fd with a reset (SO_LINGER 0): the client learns at once, and no
// TIME_WAIT is left here.
void Reset(int fd) {
  linger l{1, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpConnectionRelay>> TcpConnectionRelay::Listen(
    const InetAddress& address, std::string name) {
  UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
  SetInt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  if (address.family() == AF_INET6 && address.wildcard())
    SetInt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 0);  // "[::]" takes IPv4 too
  if (bind(fd.get(), address.addr(), address.addr_len()) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot listen on ", address.ToString()));
  if (listen(fd.get(), 1024) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("listen on ", address.ToString()));
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0)
    return absl::ErrnoToStatus(errno, "getsockname");
  return std::unique_ptr<TcpConnectionRelay>(
      new TcpConnectionRelay(InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&bound), len),
                             std::move(name), std::move(fd)));
}

TcpConnectionRelay::TcpConnectionRelay(InetAddress address, std::string name, UniqueFd listen_fd)
    : address_(std::move(address)), name_(std::move(name)), listen_fd_(std::move(listen_fd)) {}

TcpConnectionRelay::~TcpConnectionRelay() { Stop(); }

absl::Status TcpConnectionRelay::Start(const std::string& backend_path, const RelayLimits& limits) {
  if (thread_.joinable() || !listen_fd_.valid())
    return absl::FailedPreconditionError("the relay was started or stopped already");
  if (backend_path.size() >= sizeof(sockaddr_un::sun_path))
    return absl::InvalidArgumentError(
        absl::StrCat("the Unix socket path ", backend_path, " is too long"));
  backend_path_ = backend_path;
  limits_ = limits;
  limits_.buffer_bytes = std::max<size_t>(limits_.buffer_bytes, 4096);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  fd_limit_ = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30)
                  ? (1 << 30)
                  : static_cast<int>(rl.rlim_cur);
  fd_headroom_ = limits.fd_headroom >= 0 ? limits.fd_headroom : std::min(256, fd_limit_ / 4);
  stop_fd_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  epoll_fd_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_.valid()) return absl::ErrnoToStatus(errno, "epoll_create1");
  for (auto [fd, end] : {std::pair{listen_fd_.get(), &listen_end_}, {stop_fd_.get(), &stop_end_}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = end;
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      return absl::ErrnoToStatus(errno, "epoll_ctl");
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void TcpConnectionRelay::Stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
  }
  listen_fd_.reset();
  connections_.clear();  // closes both sides of each
  per_address_.clear();
  absl::MutexLock lock(&mu_);
  open_ = 0;
}

size_t TcpConnectionRelay::open_connections() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

uint64_t TcpConnectionRelay::accepted_connections() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

uint64_t TcpConnectionRelay::refused_connections() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

void TcpConnectionRelay::Refuse(int fd, RefusalBurst* burst, const std::string& what) {
  {
    absl::MutexLock lock(&mu_);
    ++refused_;
  }
  Reset(fd);
  const absl::Time now = absl::Now();
  if (burst->count++ == 0) {
    MYDEV_LOG(kWarning, "%s listener %s: refusing connections: %s", name_, address_.ToString(),
              what);
    burst->logged = now;
  } else if (now - burst->logged >= absl::Seconds(10)) {
    MYDEV_LOG(kWarning, "%s listener %s: still refusing connections (%d so far): %s", name_,
              address_.ToString(), burst->count, what);
    burst->logged = now;
  }
}

void TcpConnectionRelay::AcceptAll() {
  for (;;) {
    sockaddr_storage peer_addr{};
    socklen_t peer_len = sizeof peer_addr;
    int fd = accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer_addr), &peer_len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      MYDEV_LOG(kWarning, "%s listener %s: accept: %s", name_, address_.ToString(),
                strerror(errno));
      if (errno == EMFILE || errno == ENFILE) usleep(10000);
      return;
    }
    const std::string peer =
        InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&peer_addr), peer_len).HostString();
    if (bursts_.size() > kMaxBursts) bursts_.clear();
    // Descriptors are allocated lowest first: fd + 3 (it, its backend socket
    // and gRPC's end of that) must leave fd_headroom_ free for sessions and
    // the local socket.
    if (fd + 3 > fd_limit_ - fd_headroom_) {
      Refuse(fd, &bursts_[""],
             absl::StrCat("fewer than ", fd_headroom_, " of ", fd_limit_,
                          " descriptors (RLIMIT_NOFILE) would remain free"));
      continue;
    }
    if (connections_.size() >= limits_.max_connections) {
      Refuse(fd, &bursts_["*"],
             absl::StrCat(connections_.size(), " connections are open (", limits_.total_field, " ",
                          limits_.max_connections, ")"));
      continue;
    }
    uint32_t& from_peer = per_address_[peer];
    if (from_peer >= limits_.max_per_address) {
      Refuse(fd, &bursts_[peer],
             absl::StrCat(peer, " holds ", from_peer, " connections (", limits_.per_address_field,
                          " ", limits_.max_per_address, ")"));
      continue;
    }
    UniqueFd backend(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, backend_path_.c_str(), backend_path_.size() + 1);
    if (!backend.valid() ||
        connect(backend.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
      if (from_peer == 0) per_address_.erase(peer);
      Refuse(fd, &bursts_["backend"],
             absl::StrCat("the gRPC server does not accept on ", backend_path_, " (",
                          strerror(errno), ")"));
      continue;
    }
    // Past the caps: the bursts of refusals that concern this one end.
    for (const std::string& key : {std::string(""), std::string("*"), peer}) {
      auto b = bursts_.find(key);
      if (b == bursts_.end()) continue;
      if (b->second.count > 1)
        MYDEV_LOG(kWarning, "%s listener %s: accepting again%s; %d connections were refused", name_,
                  address_.ToString(),
                  key.empty()  ? " (descriptors)"
                  : key == "*" ? " (max_connections)"
                               : absl::StrCat(" from ", key),
                  b->second.count);
      bursts_.erase(b);
    }
    SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    SetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    SetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 60);
    SetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, 10);
    SetInt(fd, IPPROTO_TCP, TCP_KEEPCNT, 6);
    SetInt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 60000);
    auto c = std::make_unique<Connection>();
    c->fd[0] = UniqueFd(fd);
    c->fd[1] = std::move(backend);
    c->peer = peer;
    for (int side = 0; side < 2; ++side) {
      c->buf[side].bytes.reset(new char[limits_.buffer_bytes]);
      c->end[side] = Endpoint{c.get(), side};
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &c->end[side];
      if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, c->fd[side].get(), &ev) != 0) {
        MYDEV_LOG(kWarning, "%s listener: epoll_ctl: %s", name_, strerror(errno));
        return;  // c's destructor closes both
      }
      c->events[side] = EPOLLIN;
    }
    ++from_peer;
    Connection* raw = c.get();
    connections_[raw] = std::move(c);
    {
      absl::MutexLock lock(&mu_);
      ++accepted_;
      open_ = connections_.size();
    }
    MYDEV_LOG(kDebug, "%s listener %s: connection from %s", name_, address_.ToString(), peer);
  }
}

bool TcpConnectionRelay::Pump(Connection* c, bool hung_up) {
  const size_t cap = limits_.buffer_bytes;
  for (int i = 0; i < 2; ++i) {
    Buffer& b = c->buf[i];
    while (!b.eof && b.end < cap) {
      ssize_t n = read(c->fd[i].get(), b.bytes.get() + b.end, cap - b.end);
      if (n > 0) {
        b.end += static_cast<size_t>(n);
      } else if (n == 0) {
        b.eof = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        return false;  // reset, or worse
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    Buffer& b = c->buf[i];
    const int to = c->fd[1 - i].get();
    while (b.begin < b.end) {
      ssize_t n = send(to, b.bytes.get() + b.begin, b.end - b.begin, MSG_NOSIGNAL);
      if (n > 0) {
        b.begin += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        return false;
      }
    }
    if (b.begin == b.end) b.begin = b.end = 0;
    if (b.eof && b.end == 0 && !b.shut) {
      shutdown(to, SHUT_WR);  // pass the half-close on
      b.shut = true;
    }
  }
  if (c->buf[0].shut && c->buf[1].shut) return false;
  return !hung_up;  // a hung-up side gets one last pass, then both close
}

void TcpConnectionRelay::Rearm(Connection* c) {
  for (int side = 0; side < 2; ++side) {
    uint32_t want = 0;
    if (!c->buf[side].eof && c->buf[side].end < limits_.buffer_bytes) want |= EPOLLIN;
    if (c->buf[1 - side].begin < c->buf[1 - side].end) want |= EPOLLOUT;
    if (want == c->events[side]) continue;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &c->end[side];
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, c->fd[side].get(), &ev);
    c->events[side] = want;
  }
}

void TcpConnectionRelay::Close(Connection* c) {
  auto it = per_address_.find(c->peer);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  for (int side = 0; side < 2; ++side)
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, c->fd[side].get(), nullptr);
  MYDEV_LOG(kDebug, "%s listener %s: connection from %s closed", name_, address_.ToString(),
            c->peer);
  connections_.erase(c);  // closes both descriptors
  absl::MutexLock lock(&mu_);
  open_ = connections_.size();
}

void TcpConnectionRelay::Run() {
  epoll_event events[64];
  std::vector<Connection*> done;
  for (;;) {
    int n = epoll_wait(epoll_fd_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      MYDEV_LOG(kError, "%s listener: epoll_wait: %s", name_, strerror(errno));
      return;
    }
    bool accept_ready = false;
    done.clear();
    for (int i = 0; i < n; ++i) {
      const Endpoint* e = static_cast<const Endpoint*>(events[i].data.ptr);
      if (e == &stop_end_) return;
      if (e == &listen_end_) {
        accept_ready = true;
        continue;
      }
      Connection* c = e->conn;
      // A connection closed earlier in this batch is still in `done` only.
      if (std::find(done.begin(), done.end(), c) != done.end()) continue;
      const bool hung_up = (events[i].events & (EPOLLHUP | EPOLLERR)) != 0;
      if (Pump(c, hung_up)) {
        Rearm(c);
      } else {
        done.push_back(c);
      }
    }
    for (Connection* c : done) Close(c);
    // Closes first: they free room for these accepts.
    if (accept_ready) AcceptAll();
  }
}

}  // namespace mydev::daemon
