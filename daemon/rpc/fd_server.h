// fd_server.h — the fd hand-off socket (`<socket>.fds`): gives a session's
// ring memfd, ctl memfd and eventfd to the client that proves it owns the
// session, then holds that connection for the session's life. When the
// client goes away (exit, crash, kill -9) the kernel closes the connection and
// the session is freed at once.
//
// Per connection (one poll loop, one thread):
//   1. read the HandoffRequest {session_id, token} (shm/fd_passing.h) within
//      the handshake timeout, without blocking (a peer that sends part of a
//      request and stalls holds up nobody else); SO_PEERCRED uid must own the session; the token
//      must match; a session is handed out once;
//   2. SendFds, or SendHandoffError(ENOENT / EACCES / EALREADY / EINVAL);
//   3. watch the connection: EOF/HUP frees the session; a session closed by
//      other means (CloseSession, attach timeout) closes its connection.
//
//   auto fds = FdServer::Start("/run/mydevd/mydevd.sock.fds", 0666, &manager,
//                              absl::Seconds(5));
//   ...
//   (*fds)->Stop();    // closes every connection and removes the socket file
#ifndef MYDEV_DAEMON_RPC_FD_SERVER_H_
#define MYDEV_DAEMON_RPC_FD_SERVER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "daemon/control/session_manager.h"
#include "shm/fd_passing.h"

namespace mydev::daemon {

class FdServer {
 public:
  static absl::StatusOr<std::unique_ptr<FdServer>> Start(const std::string& path, int mode,
                                                         SessionManager* sessions,
                                                         absl::Duration handshake_timeout);
  ~FdServer();

  // Stops the loop, closes every connection, removes the socket file. Idempotent.
  void Stop();

 private:
  struct Conn {
    UniqueFd fd;
    bool attached = false;
    uint64_t session_id = 0;
    absl::Time deadline;                // for the whole request, while not attached
    shm::HandoffRequestReader request;  // the bytes so far: never blocks the loop
  };

  FdServer(std::string path, UniqueFd listen_fd, UniqueFd stop_fd, SessionManager* sessions,
           absl::Duration handshake_timeout);
  void Run();
  void Accept();
  // Reads what has arrived of the request; once it is complete, answers it.
  // Returns false when the connection is to be closed.
  bool Handshake(Conn& c);
  bool WatchAttached(Conn& c);

  const std::string path_;
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;
  SessionManager* const sessions_;
  const absl::Duration handshake_timeout_;
  std::vector<Conn> conns_;  // touched only by the loop thread
  std::thread thread_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_FD_SERVER_H_
