// raw_handoff.cc — the fd hand-off by hand (see raw_handoff.h).
#include "tests/hostile_client/raw_handoff.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "base/unix_socket.h"
#include "shm/fd_passing.h"

namespace mydev::hostile {

ssize_t RecvWithTimeout(int fd, void* buf, size_t n, int timeout_ms) {
  pollfd p = {fd, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r == 0) return -2;
  if (r < 0) return -1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
  iovec iov = {buf, n};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t got = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
  if (got > 0)
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int nfd = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < nfd; ++i) close(reinterpret_cast<int*>(CMSG_DATA(c))[i]);
      }
  return got;
}

int RawHandoff(const std::string& path, const std::string& request) {
  absl::StatusOr<UniqueFd> sock = ConnectUnix(path);
  if (!sock.ok()) return -3;
  if (send(sock->get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return -1;
  uint8_t in[4];
  size_t have = 0;
  while (have < sizeof in) {
    ssize_t n = RecvWithTimeout(sock->get(), in + have, sizeof in - have, 3000);
    if (n == -2) return -2;
    if (n <= 0) return -1;
    have += n;
  }
  return static_cast<int32_t>(in[0] | in[1] << 8 | in[2] << 16 |
                              static_cast<uint32_t>(in[3]) << 24);
}

std::string HandoffBytes(uint64_t id, const std::string& token) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(id >> (8 * i));
  std::string t = token;
  t.resize(shm::kTokenBytes, '\0');
  return out + t;
}

std::string RandomBytes(size_t n) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string s(n, '\0');
  for (char& ch : s) ch = static_cast<char>(rng());
  return s;
}

}  // namespace mydev::hostile
