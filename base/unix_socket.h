// unix_socket.h — Unix stream sockets by path: connect as a client, listen
// as a server (replacing a stale socket file, never a live one or a file that
// is not a socket).
//
//   absl::StatusOr<UniqueFd> srv = ListenUnix("/run/mydevd/mydevd.sock", 0666);
//   absl::StatusOr<UniqueFd> cli = ConnectUnix("/run/mydevd/mydevd.sock");
#ifndef MYDEV_BASE_UNIX_SOCKET_H_
#define MYDEV_BASE_UNIX_SOCKET_H_

#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace mydev {

// A connected SOCK_STREAM socket (CLOEXEC, blocking). INVALID_ARGUMENT for a
// path that does not fit sockaddr_un; the connect errno otherwise.
absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path);

// A listening SOCK_STREAM socket bound to path, the file given `mode`.
// ALREADY_EXISTS when another process accepts on path; FAILED_PRECONDITION
// when path exists and is not a socket; a stale socket file is replaced.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, int mode);

}  // namespace mydev

#endif  // MYDEV_BASE_UNIX_SOCKET_H_
