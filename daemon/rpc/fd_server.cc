// fd_server.cc — see fd_server.h.
#include "daemon/rpc/fd_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/time/clock.h"
#include "base/log.h"
#include "base/unix_socket.h"
#include "daemon/rpc/grpc_unix_acceptor.h"
#include "shm/fd_passing.h"

namespace mydev::daemon {
namespace {

// How often attached connections are checked against closed sessions.
constexpr absl::Duration kSweepPeriod = absl::Milliseconds(100);

int ErrnoFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return ENOENT;
    case absl::StatusCode::kPermissionDenied:
      return EACCES;
    default:
      return EINVAL;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<FdServer>> FdServer::Start(const std::string& path, int mode,
                                                          SessionManager* sessions,
                                                          absl::Duration handshake_timeout) {
  absl::StatusOr<UniqueFd> listen_fd = ListenUnix(path, mode);
  if (!listen_fd.ok()) return listen_fd.status();
  UniqueFd stop_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  std::unique_ptr<FdServer> s(
      new FdServer(path, std::move(*listen_fd), std::move(stop_fd), sessions, handshake_timeout));
  s->thread_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

FdServer::FdServer(std::string path, UniqueFd listen_fd, UniqueFd stop_fd, SessionManager* sessions,
                   absl::Duration handshake_timeout)
    : path_(std::move(path)),
      listen_fd_(std::move(listen_fd)),
      stop_fd_(std::move(stop_fd)),
      sessions_(sessions),
      handshake_timeout_(handshake_timeout) {}

FdServer::~FdServer() { Stop(); }

void FdServer::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
  conns_.clear();
  listen_fd_.reset();
  unlink(path_.c_str());
}

void FdServer::Accept() {
  int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE) {
      MYDEV_LOG(kWarning, "accept on %s: %s", path_, strerror(errno));
      usleep(10000);
    }
    return;
  }
  Conn c;
  c.fd.reset(fd);
  c.deadline = absl::Now() + handshake_timeout_;
  conns_.push_back(std::move(c));
}

bool FdServer::Handshake(Conn& c) {
  int fd = c.fd.get();
  absl::StatusOr<std::optional<shm::HandoffRequest>> got = c.request.ReadAvailable(fd);
  if (!got.ok()) {
    MYDEV_LOG(kDebug, "fd hand-off: bad request: %s", got.status().ToString());
    if (got.status().code() == absl::StatusCode::kInvalidArgument)
      (void)shm::SendHandoffError(fd, EINVAL);
    return false;
  }
  if (!got->has_value()) return true;  // incomplete: wait for the rest, until c.deadline
  const shm::HandoffRequest* req = &**got;
  absl::StatusOr<Credentials> who = PeerCredentialsOf(fd);
  if (!who.ok()) return false;
  absl::string_view token(reinterpret_cast<const char*>(req->token.data()), req->token.size());
  absl::StatusOr<std::shared_ptr<Session>> s = sessions_->Lookup(req->session_id, token, who->uid);
  if (!s.ok()) {
    MYDEV_LOG(kInfo, "fd hand-off refused to uid %d pid %d: %s", who->uid, who->pid,
              s.status().message());
    (void)shm::SendHandoffError(fd, ErrnoFor(s.status()));
    return false;
  }
  if (!(*s)->MarkAttached()) {
    (void)shm::SendHandoffError(fd, EALREADY);
    return false;
  }
  if (absl::Status st = shm::SendFds(fd, (*s)->ring_fd(), (*s)->ctl_fd(), (*s)->event_fd());
      !st.ok()) {
    sessions_->Free(req->session_id, "the fd hand-off failed");
    return false;
  }
  c.attached = true;
  c.session_id = req->session_id;
  MYDEV_LOG(kDebug, "session %d attached (pid %d)", c.session_id, who->pid);
  return true;
}

bool FdServer::WatchAttached(Conn& c) {
  char buf[256];
  for (;;) {
    ssize_t n = recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;  // the client should stay silent; ignore chatter
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    sessions_->Free(c.session_id, "the client disconnected");
    return false;
  }
}

void FdServer::Run() {
  absl::Time next_sweep = absl::Now() + kSweepPeriod;
  std::vector<pollfd> pfds;
  for (;;) {
    absl::Time now = absl::Now();
    absl::Time wake = next_sweep;
    for (const Conn& c : conns_)
      if (!c.attached) wake = std::min(wake, c.deadline);
    int timeout_ms = static_cast<int>(std::max<int64_t>(
        0, absl::ToInt64Milliseconds(absl::Ceil(wake - now, absl::Milliseconds(1)))));

    pfds.clear();
    pfds.push_back({listen_fd_.get(), POLLIN, 0});
    pfds.push_back({stop_fd_.get(), POLLIN, 0});
    for (const Conn& c : conns_) pfds.push_back({c.fd.get(), POLLIN, 0});
    int n = poll(pfds.data(), pfds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) {
      MYDEV_LOG(kError, "poll on %s: %s", path_, strerror(errno));
      return;
    }
    if (pfds[1].revents) return;

    now = absl::Now();
    const bool sweep = now >= next_sweep;
    if (sweep) next_sweep = now + kSweepPeriod;
    std::vector<Conn> keep;
    keep.reserve(conns_.size());
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      const short ev = n > 0 ? pfds[i + 2].revents : 0;
      bool ok = true;
      if (!c.attached) {
        if (ev) ok = Handshake(c);
        if (ok && !c.attached && now >= c.deadline) ok = false;  // never finished its request
      } else {
        if (ev) ok = WatchAttached(c);
        if (ok && sweep && !sessions_->Exists(c.session_id)) ok = false;
      }
      if (ok) keep.push_back(std::move(c));
    }
    conns_ = std::move(keep);
    if (n > 0 && (pfds[0].revents & POLLIN)) Accept();
  }
}

}  // namespace mydev::daemon
