// fd_handoff_fuzzer.cc — libFuzzer target for the daemon's side of the fd
// hand-off (fd_passing.h): ReadHandoffRequest on a Unix socket carrying
// whatever a client sends. Exactly 40 bytes is a request; anything else is a
// clear error; fds a client sends along never reach the daemon (no fd leak).
//
// Input: [flags] + the bytes the client sends. flags bit0: attach an fd
// (SCM_RIGHTS) to the first chunk; bit1: send in two chunks (a short first
// read); bit2: keep the client's end open (no EOF: the read must time out,
// not hang). Seeds: testdata/fuzz/fd_handoff_fuzzer/ (tools/fuzz.sh).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "shm/fd_passing.h"

namespace {

// The lowest free descriptor number: changes if the call leaked an fd.
int LowestFreeFd() {
  int fd = ::dup(0);
  if (fd >= 0) ::close(fd);
  return fd;
}

void Send(int sock, const uint8_t* data, size_t size, int fd_to_pass) {
  struct iovec iov = {const_cast<uint8_t*>(data), size};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (fd_to_pass >= 0) {
    std::memset(cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
  }
  if (::sendmsg(sock, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 4096) return 0;  // the socket buffer holds it all
  const uint8_t flags = data[0];
  ++data;
  --size;
  const int free_before = LowestFreeFd();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  {
    mydev::UniqueFd daemon_end(sv[0]);
    int passed = (flags & 1) ? ::open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
    const size_t first = (flags & 2) ? size / 2 : size;
    if (size > 0) {
      Send(sv[1], data, first, passed);
      if (first < size) Send(sv[1], data + first, size - first, -1);
    }
    if (passed >= 0) ::close(passed);
    const bool keep_open = flags & 4;
    if (!keep_open) ::close(sv[1]);

    absl::StatusOr<mydev::shm::HandoffRequest> req =
        mydev::shm::ReadHandoffRequest(daemon_end.get(), /*timeout_ms=*/keep_open ? 1 : 1000);
    if (keep_open) ::close(sv[1]);
    if (size == 40) {
      if (!req.ok()) std::abort();
      uint64_t id = 0;
      for (int i = 0; i < 8; ++i) id |= static_cast<uint64_t>(data[i]) << (8 * i);
      if (req->session_id != id || std::memcmp(req->token.data(), data + 8, 32) != 0) std::abort();
    } else {
      if (req.ok() || req.status().message().empty()) std::abort();
      if (size < 40 && !keep_open && !absl::IsUnavailable(req.status())) std::abort();
      if (size < 40 && keep_open && !absl::IsDeadlineExceeded(req.status())) std::abort();
    }
  }
  if (LowestFreeFd() != free_before) std::abort();  // a passed fd leaked in
  return 0;
}
