// grpc_unix_acceptor.cc — see grpc_unix_acceptor.h.
#include "daemon/rpc/grpc_unix_acceptor.h"

#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/unix_socket.h"
#include "shm/fd_passing.h"

namespace mydev::daemon {

absl::StatusOr<Credentials> PeerCredentialsOf(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERCRED)");
  return Credentials{cred.uid, cred.gid, cred.pid};
}

void PeerCredentialsTable::Set(int fd, const Credentials& creds) {
  absl::MutexLock lock(&mu_);
  by_fd_[fd] = creds;
}

absl::StatusOr<Credentials> PeerCredentialsTable::ForPeer(absl::string_view peer) const {
  int fd = -1;
  if (!absl::ConsumePrefix(&peer, "fd:") || !absl::SimpleAtoi(peer, &fd))
    return absl::UnauthenticatedError(absl::StrCat(
        "session control is only served on the local Unix socket (peer '", peer, "')"));
  absl::MutexLock lock(&mu_);
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end())
    return absl::UnauthenticatedError(absl::StrCat("no credentials for connection fd ", fd));
  return it->second;
}

absl::StatusOr<std::unique_ptr<GrpcUnixAcceptor>> GrpcUnixAcceptor::Start(
    const std::string& path, int mode, grpc::Server* server, PeerCredentialsTable* peers,
    const ConnectionLimits& limits) {
  absl::StatusOr<UniqueFd> listen_fd = ListenUnix(path, mode);
  if (!listen_fd.ok()) return listen_fd.status();
  UniqueFd stop_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  UniqueFd epoll_fd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd.valid()) return absl::ErrnoToStatus(errno, "epoll_create1");
  for (int fd : {listen_fd->get(), stop_fd.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      return absl::ErrnoToStatus(errno, "epoll_ctl");
  }
  std::unique_ptr<GrpcUnixAcceptor> a(new GrpcUnixAcceptor(
      path, std::move(*listen_fd), std::move(stop_fd), std::move(epoll_fd), server, peers, limits));
  a->thread_ = std::thread([p = a.get()] { p->Run(); });
  return a;
}

GrpcUnixAcceptor::GrpcUnixAcceptor(std::string path, UniqueFd listen_fd, UniqueFd stop_fd,
                                   UniqueFd epoll_fd, grpc::Server* server,
                                   PeerCredentialsTable* peers, const ConnectionLimits& limits)
    : path_(std::move(path)),
      listen_fd_(std::move(listen_fd)),
      stop_fd_(std::move(stop_fd)),
      epoll_fd_(std::move(epoll_fd)),
      server_(server),
      peers_(peers),
      limits_(limits) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  fd_limit_ = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30)
                  ? (1 << 30)
                  : static_cast<int>(rl.rlim_cur);
  fd_headroom_ = limits.fd_headroom >= 0 ? limits.fd_headroom : std::min(256, fd_limit_ / 4);
}

GrpcUnixAcceptor::~GrpcUnixAcceptor() { Stop(); }

void GrpcUnixAcceptor::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
  listen_fd_.reset();
  unlink(path_.c_str());
  absl::MutexLock lock(&mu_);
  for (const auto& [dup_fd, uid] : uid_by_dup_) close(dup_fd);
  uid_by_dup_.clear();
  open_by_uid_.clear();
}

size_t GrpcUnixAcceptor::open_connections() const {
  absl::MutexLock lock(&mu_);
  return uid_by_dup_.size();
}

size_t GrpcUnixAcceptor::ConnectionsOf(uid_t uid) const {
  absl::MutexLock lock(&mu_);
  auto it = open_by_uid_.find(uid);
  return it == open_by_uid_.end() ? 0 : it->second;
}

uint64_t GrpcUnixAcceptor::refused_connections() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

void GrpcUnixAcceptor::NoteRefusal(RefusalBurst* burst, const std::string& what) {
  {
    absl::MutexLock lock(&mu_);
    ++refused_;
  }
  const absl::Time now = absl::Now();
  if (burst->count++ == 0) {
    MYDEV_LOG(kWarning, "refusing connections on %s: %s", path_, what);
    burst->logged = now;
  } else if (now - burst->logged >= absl::Seconds(10)) {
    MYDEV_LOG(kWarning, "still refusing connections on %s (%d so far): %s", path_, burst->count,
              what);
    burst->logged = now;
  }
}

void GrpcUnixAcceptor::EndBurst(RefusalBurst* burst, const std::string& what) {
  if (burst->count > 1)
    MYDEV_LOG(kWarning, "accepting again on %s: %d connections were refused (%s)", path_,
              burst->count, what);
  burst->count = 0;
}

void GrpcUnixAcceptor::Release(int dup_fd) {
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, dup_fd, nullptr);
  close(dup_fd);
  absl::MutexLock lock(&mu_);
  auto it = uid_by_dup_.find(dup_fd);
  if (it == uid_by_dup_.end()) return;
  auto u = open_by_uid_.find(it->second);
  if (u != open_by_uid_.end() && --u->second == 0) open_by_uid_.erase(u);
  uid_by_dup_.erase(it);
}

void GrpcUnixAcceptor::AcceptOne() {
  // gRPC expects a non-blocking socket.
  UniqueFd conn(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!conn.valid()) {
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
      MYDEV_LOG(kWarning, "accept on %s: %s", path_, strerror(errno));
    if (errno == EMFILE || errno == ENFILE) usleep(10000);
    return;
  }
  absl::StatusOr<Credentials> creds = PeerCredentialsOf(conn.get());
  if (!creds.ok()) {
    MYDEV_LOG(kWarning, "dropping a connection: %s", creds.status().ToString());
    return;
  }
  // Descriptors are allocated lowest first: a dup numbered d means d + 1 are
  // open. Keep fd_headroom_ free for sessions (ring, ctl page, eventfd,
  // fd socket) and everything else the daemon opens.
  UniqueFd watch(fcntl(conn.get(), F_DUPFD_CLOEXEC, 0));
  if (!watch.valid() || watch.get() + 1 > fd_limit_ - fd_headroom_) {
    NoteRefusal(&fd_burst_, absl::StrCat("fewer than ", fd_headroom_, " of ", fd_limit_,
                                         " descriptors (RLIMIT_NOFILE) would remain free"));
    return;
  }
  EndBurst(&fd_burst_, "descriptor headroom");
  const uid_t uid = creds->uid;
  const bool counted = !(uid == 0 && limits_.root_exempt);
  // Only this thread adds connections: the count cannot grow meanwhile.
  const size_t open = ConnectionsOf(uid);
  if (counted && open >= limits_.max_per_uid) {
    NoteRefusal(&uid_bursts_[uid], absl::StrCat("uid ", uid, " holds ", open,
                                                " connections (limits.max_connections_per_uid ",
                                                limits_.max_per_uid, ")"));
    return;
  }
  if (auto b = uid_bursts_.find(uid); b != uid_bursts_.end()) {
    EndBurst(&b->second, absl::StrCat("uid ", uid, " over max_connections_per_uid"));
    uid_bursts_.erase(b);
  }
  // Watch only for hang-ups (EPOLLHUP/EPOLLERR are always reported): the
  // dup is never read, so gRPC's data stays gRPC's.
  epoll_event ev{};
  ev.events = 0;
  ev.data.fd = watch.get();
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, watch.get(), &ev) != 0) {
    MYDEV_LOG(kWarning, "dropping a connection: epoll_ctl: %s", strerror(errno));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    uid_by_dup_[watch.get()] = uid;
    ++open_by_uid_[uid];
  }
  (void)watch.release();
  const int fd = conn.release();
  peers_->Set(fd, *creds);
  MYDEV_LOG(kDebug, "gRPC connection fd %d from uid %d pid %d", fd, creds->uid, creds->pid);
  grpc::AddInsecureChannelFromFd(server_, fd);  // gRPC owns fd from here
}

void GrpcUnixAcceptor::Run() {
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epoll_fd_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      MYDEV_LOG(kError, "epoll_wait on %s: %s", path_, strerror(errno));
      return;
    }
    bool accept_ready = false;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_.get()) return;
      if (fd == listen_fd_.get()) {
        accept_ready = true;
      } else if (events[i].events & (EPOLLHUP | EPOLLERR)) {
        Release(fd);  // gRPC shut the connection down, or the peer closed it
      }
    }
    // Hang-ups first: they free room for this accept.
    if (accept_ready) AcceptOne();
  }
}

}  // namespace mydev::daemon
