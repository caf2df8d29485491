// peer_acceptor.cc — see peer_acceptor.h.
#include "daemon/peer_acceptor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <grpcpp/server_posix.h>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "daemon/log.h"
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
    return absl::UnauthenticatedError(
        absl::StrCat("session control is only served on the local Unix socket (peer '", peer,
                     "')"));
  absl::MutexLock lock(&mu_);
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end())
    return absl::UnauthenticatedError(absl::StrCat("no credentials for connection fd ", fd));
  return it->second;
}

absl::StatusOr<std::unique_ptr<GrpcUnixAcceptor>> GrpcUnixAcceptor::Start(
    const std::string& path, int mode, grpc::Server* server, PeerCredentialsTable* peers) {
  absl::StatusOr<shm::UniqueFd> listen_fd = shm::ListenUnix(path, mode);
  if (!listen_fd.ok()) return listen_fd.status();
  shm::UniqueFd stop_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  std::unique_ptr<GrpcUnixAcceptor> a(new GrpcUnixAcceptor(
      path, std::move(*listen_fd), std::move(stop_fd), server, peers));
  a->thread_ = std::thread([p = a.get()] { p->Run(); });
  return a;
}

GrpcUnixAcceptor::GrpcUnixAcceptor(std::string path, shm::UniqueFd listen_fd,
                                   shm::UniqueFd stop_fd, grpc::Server* server,
                                   PeerCredentialsTable* peers)
    : path_(std::move(path)),
      listen_fd_(std::move(listen_fd)),
      stop_fd_(std::move(stop_fd)),
      server_(server),
      peers_(peers) {}

GrpcUnixAcceptor::~GrpcUnixAcceptor() { Stop(); }

void GrpcUnixAcceptor::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
  listen_fd_.reset();
  unlink(path_.c_str());
}

void GrpcUnixAcceptor::Run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      MYDEV_LOG(kError, "poll on %s: %s", path_, strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    // gRPC expects a non-blocking socket.
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        MYDEV_LOG(kWarning, "accept on %s: %s", path_, strerror(errno));
      if (errno == EMFILE || errno == ENFILE) usleep(10000);
      continue;
    }
    absl::StatusOr<Credentials> creds = PeerCredentialsOf(fd);
    if (!creds.ok()) {
      MYDEV_LOG(kWarning, "dropping a connection: %s", creds.status().ToString());
      close(fd);
      continue;
    }
    peers_->Set(fd, *creds);
    MYDEV_LOG(kDebug, "gRPC connection fd %d from uid %d pid %d", fd, creds->uid, creds->pid);
    grpc::AddInsecureChannelFromFd(server_, fd);  // gRPC owns fd from here
  }
}

}  // namespace mydev::daemon
