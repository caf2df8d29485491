// fd_passing.h — hands a session's fds from mydevd to a client over a Unix
// socket (SCM_RIGHTS), against the session token.
//
// The hand-off, on a fresh connection to the daemon's fd socket:
//   client -> daemon : HandoffRequest  {u64 session_id (LE), u8 token[32]}   (40 bytes)
//   daemon -> client : HandoffReply    {i32 status (0 = ok, else errno-like)}
//                      + SCM_RIGHTS [ring memfd, ctl memfd, eventfd] when status == 0
// After a successful hand-off the connection stays open, silent, for the
// session's life: either side closing it ends the session.
//
// Example (client):
//   UniqueFd sock = ...connect(path)...;
//   HandoffRequest req{session_id, token};
//   absl::StatusOr<ReceivedFds> fds = RequestFds(sock.get(), req, timeout_ms);
#ifndef MYDEV_SHM_FD_PASSING_H_
#define MYDEV_SHM_FD_PASSING_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace mydev::shm {

inline constexpr size_t kTokenBytes = 32;

struct HandoffRequest {
  uint64_t session_id = 0;
  std::array<uint8_t, kTokenBytes> token{};
};

struct ReceivedFds {
  UniqueFd ring;
  UniqueFd ctl;
  UniqueFd event;
};

// Client: sends the request, waits up to timeout_ms for the reply and fds.
absl::StatusOr<ReceivedFds> RequestFds(int sock, const HandoffRequest& req, int timeout_ms);

// Daemon: reads one request (waits up to timeout_ms; a peer that never
// speaks gets DEADLINE_EXCEEDED).
absl::StatusOr<HandoffRequest> ReadHandoffRequest(int sock, int timeout_ms);

// Daemon, in a loop serving many clients: collects one request from
// non-blocking reads, each when the socket is readable, so a peer that sends
// part of a request and stalls never holds the loop up (the caller enforces
// its own deadline). ReadHandoffRequest is this plus waiting.
//   HandoffRequestReader r;                       // one per connection
//   on POLLIN: auto got = r.ReadAvailable(fd);
//     !got.ok(): hang up (INVALID_ARGUMENT: a malformed request; UNAVAILABLE:
//                the peer closed); *got: the request; nullopt: wait for more.
class HandoffRequestReader {
 public:
  static constexpr size_t kRequestBytes = 8 + kTokenBytes;  // 40
  absl::StatusOr<std::optional<HandoffRequest>> ReadAvailable(int sock);

 private:
  std::array<uint8_t, kRequestBytes> buf_{};
  size_t got_ = 0;
};

// Daemon: sends the ok reply with the three fds, or an error reply with none.
absl::Status SendFds(int sock, int ring_fd, int ctl_fd, int event_fd);
absl::Status SendHandoffError(int sock, int32_t status);

}  // namespace mydev::shm

#endif  // MYDEV_SHM_FD_PASSING_H_
