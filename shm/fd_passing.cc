// fd_passing.cc — the fd hand-off between mydevd and a client over a Unix
// socket (SCM_RIGHTS), and the Unix socket helpers (see fd_passing.h).
#include "shm/fd_passing.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mydev::shm {
namespace {

constexpr size_t kRequestBytes = HandoffRequestReader::kRequestBytes;
constexpr size_t kReplyBytes = 4;
constexpr int kFdsPerSession = 3;
// SendFds/SendHandoffError take no timeout: a 4-byte reply on a fresh socket
// never blocks unless the peer is broken; give up after this long.
constexpr int kSendTimeoutMs = 1000;

int64_t MonotonicMs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Remaining milliseconds before deadline (-1 = no deadline).
int Remaining(int64_t deadline_ms) {
  if (deadline_ms < 0) return -1;
  int64_t left = deadline_ms - MonotonicMs();
  return left < 0 ? 0 : static_cast<int>(left);
}

int64_t DeadlineFrom(int timeout_ms) { return timeout_ms < 0 ? -1 : MonotonicMs() + timeout_ms; }

// Waits for `events` on sock until the deadline.
absl::Status WaitFor(int sock, short events, int64_t deadline_ms, const char* what) {
  for (;;) {
    struct pollfd p = {sock, events, 0};
    int n = ::poll(&p, 1, Remaining(deadline_ms));
    if (n > 0) return absl::OkStatus();  // readable, writable, or HUP/ERR: the call reports it
    if (n == 0) return absl::DeadlineExceededError(absl::StrCat("timed out ", what));
    if (errno != EINTR) return absl::ErrnoToStatus(errno, absl::StrCat("poll while ", what));
  }
}

// Sends all of buf (the fds, if any, ride with the first byte).
absl::Status SendAll(int sock, const uint8_t* buf, size_t bytes, const int* fds, int nfds,
                     int64_t deadline_ms, const char* what) {
  size_t sent = 0;
  while (sent < bytes) {
    struct iovec iov = {const_cast<uint8_t*>(buf) + sent, bytes - sent};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kFdsPerSession)];
    if (sent == 0 && nfds > 0) {
      std::memset(cbuf, 0, sizeof cbuf);
      msg.msg_control = cbuf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      absl::Status s = WaitFor(sock, POLLOUT, deadline_ms, what);
      if (!s.ok()) return s;
      continue;
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("sendmsg while ", what));
  }
  return absl::OkStatus();
}

// Receives exactly `bytes` bytes, collecting any SCM_RIGHTS fds (close-on-exec)
// into *fds. A peer that closes early gives UNAVAILABLE.
absl::Status RecvExactly(int sock, uint8_t* buf, size_t bytes, std::vector<UniqueFd>* fds,
                         int64_t deadline_ms, const char* what) {
  size_t got = 0;
  while (got < bytes) {
    absl::Status s = WaitFor(sock, POLLIN, deadline_ms, what);
    if (!s.ok()) return s;
    struct iovec iov = {buf + got, bytes - got};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kFdsPerSession)];
    if (fds != nullptr) {
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
    }
    ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("recvmsg while ", what));
    }
    if (fds != nullptr) {
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          fds->emplace_back(fd);
        }
      }
      if (msg.msg_flags & MSG_CTRUNC)
        return absl::DataLossError(absl::StrCat("too many file descriptors arrived while ", what));
    }
    if (n == 0) {
      return absl::UnavailableError(absl::StrCat("peer closed the connection while ", what,
                                                 " (got ", got, " of ", bytes, " bytes)"));
    }
    got += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ReceivedFds> RequestFds(int sock, const HandoffRequest& req, int timeout_ms) {
  const int64_t deadline = DeadlineFrom(timeout_ms);
  uint8_t out[kRequestBytes];
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(req.session_id >> (8 * i));
  std::memcpy(out + 8, req.token.data(), kTokenBytes);
  absl::Status s = SendAll(sock, out, sizeof out, nullptr, 0, deadline, "sending the fd request");
  if (!s.ok()) return s;

  uint8_t in[kReplyBytes];
  std::vector<UniqueFd> fds;
  s = RecvExactly(sock, in, sizeof in, &fds, deadline, "waiting for the daemon's fds");
  if (!s.ok()) return s;
  const int32_t status =
      static_cast<int32_t>(static_cast<uint32_t>(in[0]) | static_cast<uint32_t>(in[1]) << 8 |
                           static_cast<uint32_t>(in[2]) << 16 | static_cast<uint32_t>(in[3]) << 24);
  if (status != 0) {
    if (status > 0 && status < 4096)
      return absl::ErrnoToStatus(status, "the daemon refused the fd hand-off");
    return absl::UnknownError(
        absl::StrCat("the daemon refused the fd hand-off (status ", status, ")"));
  }
  if (fds.size() != kFdsPerSession) {
    return absl::DataLossError(
        absl::StrCat("the daemon sent ", fds.size(), " fds, expected ", kFdsPerSession));
  }
  ReceivedFds r;
  r.ring = std::move(fds[0]);
  r.ctl = std::move(fds[1]);
  r.event = std::move(fds[2]);
  return r;
}

absl::StatusOr<std::optional<HandoffRequest>> HandoffRequestReader::ReadAvailable(int sock) {
  while (got_ < kRequestBytes) {
    // Fds a client might send are discarded (closed) by the kernel: no control buffer.
    ssize_t n = ::recv(sock, buf_.data() + got_, kRequestBytes - got_, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
      return absl::ErrnoToStatus(errno, "recv while waiting for the fd hand-off request");
    }
    if (n == 0) {
      return absl::UnavailableError(
          absl::StrCat("peer closed the connection while waiting for the fd hand-off request (got ",
                       got_, " of ", kRequestBytes, " bytes)"));
    }
    got_ += static_cast<size_t>(n);
  }
  uint8_t extra;
  if (::recv(sock, &extra, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fd hand-off request longer than ", kRequestBytes, " bytes"));
  }
  HandoffRequest req;
  for (int i = 0; i < 8; ++i) req.session_id |= static_cast<uint64_t>(buf_[i]) << (8 * i);
  std::memcpy(req.token.data(), buf_.data() + 8, kTokenBytes);
  return req;
}

absl::StatusOr<HandoffRequest> ReadHandoffRequest(int sock, int timeout_ms) {
  const int64_t deadline = DeadlineFrom(timeout_ms);
  HandoffRequestReader reader;
  for (;;) {
    absl::Status s = WaitFor(sock, POLLIN, deadline, "waiting for the fd hand-off request");
    if (!s.ok()) return s;
    absl::StatusOr<std::optional<HandoffRequest>> got = reader.ReadAvailable(sock);
    if (!got.ok()) return got.status();
    if (got->has_value()) return **got;
  }
}

absl::Status SendFds(int sock, int ring_fd, int ctl_fd, int event_fd) {
  const uint8_t ok[kReplyBytes] = {0, 0, 0, 0};
  const int fds[kFdsPerSession] = {ring_fd, ctl_fd, event_fd};
  return SendAll(sock, ok, sizeof ok, fds, kFdsPerSession, DeadlineFrom(kSendTimeoutMs),
                 "sending the session fds");
}

absl::Status SendHandoffError(int sock, int32_t status) {
  if (status == 0) return absl::InvalidArgumentError("an error reply needs a nonzero status");
  const uint32_t u = static_cast<uint32_t>(status);
  const uint8_t out[kReplyBytes] = {static_cast<uint8_t>(u), static_cast<uint8_t>(u >> 8),
                                    static_cast<uint8_t>(u >> 16), static_cast<uint8_t>(u >> 24)};
  return SendAll(sock, out, sizeof out, nullptr, 0, DeadlineFrom(kSendTimeoutMs),
                 "sending the fd hand-off error");
}

}  // namespace mydev::shm
