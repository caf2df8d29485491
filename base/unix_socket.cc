// unix_socket.cc — see unix_socket.h.
#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mydev {
namespace {

absl::Status FillSockaddr(const std::string& path, struct sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr->sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("Unix socket path '", path, "' must be 1 to ",
                                                   sizeof addr->sun_path - 1, " bytes long"));
  }
  std::memcpy(addr->sun_path, path.data(), path.size());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path) {
  struct sockaddr_un addr;
  absl::Status s = FillSockaddr(path, &addr);
  if (!s.ok()) return s;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  int rc;
  do rc = ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EISCONN) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("connect(", path, "): is mydevd running and the path right?"));
  }
  return fd;
}

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, int mode) {
  struct sockaddr_un addr;
  absl::Status s = FillSockaddr(path, &addr);
  if (!s.ok()) return s;
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " exists and is not a socket; refusing to remove it"));
    }
    // A socket file: live if someone accepts on it, stale otherwise.
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.valid() &&
        ::connect(probe.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("another process is listening on ", path, " (a second mydevd?)"));
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return absl::ErrnoToStatus(errno, absl::StrCat("removing stale socket ", path));
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  // Linux creates the socket file with the socket inode's mode (minus umask):
  // narrowing it first leaves no window with wider permissions than `mode`.
  (void)::fchmod(fd.get(), static_cast<mode_t>(mode));
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("bind(", path, ")"));
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod(", path, ")"));
  if (::listen(fd.get(), SOMAXCONN) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("listen(", path, ")"));
  return fd;
}

}  // namespace mydev
