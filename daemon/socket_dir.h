// socket_dir.h — the socket directory and the lock file, handled through
// descriptors (issue 12, items 1 and 4).
//
// OpenSocketDirectory walks the directory's path one component at a time
// from "/" with openat(O_NOFOLLOW|O_DIRECTORY), creating what is missing with
// mkdirat (0755), and checks every directory it passes with fstat: one that a
// user other than root, mydevd's own uid or the run-as user could write
// (owner, group write for a non-root group other than the run-as user's,
// world write without the sticky bit) is refused, naming it, unless the
// operator allowed it (--allow_insecure_socket_dir: logged). A sticky
// world-writable directory such as /tmp is fine: only the owner of an entry
// may replace it, and the entries below it are checked for their owner.
// A symlink is followed only when its owner is trusted (root, mydevd, the
// run-as user) and it sits in a directory that passed; its target is walked
// the same way (at most 16 links).
//
// LockFileAt opens <name> in that directory (O_NOFOLLOW|O_CLOEXEC, 0600)
// and checks it with fstat: a regular file, one link, owned by root or the
// run-as user; a lock file with group/other permissions (an older mydevd
// made it 0644, and flock works on a read-only descriptor: any user could
// hold it) is replaced by a fresh 0600 one; anything else is refused. After
// the flock, the name must still be the locked inode (else retried), so
// replacing is safe against a second daemon starting at the same instant.
//
//   SocketDirPolicy p; p.run_as_uid = 107;
//   bool created;
//   absl::StatusOr<UniqueFd> dir = OpenSocketDirectory("/run/mydevd", p, &created);
//   absl::StatusOr<UniqueFd> lock = LockFileAt(dir->get(), "/run/mydevd", "mydevd.sock.lock", p);
#ifndef MYDEV_DAEMON_SOCKET_DIR_H_
#define MYDEV_DAEMON_SOCKET_DIR_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace mydev::daemon {

struct SocketDirPolicy {
  std::optional<uid_t> run_as_uid;  // besides root and geteuid()
  std::optional<gid_t> run_as_gid;
  // Accept directories other users can write (logged as a warning).
  bool allow_insecure = false;
};

// "" when the directory `st` (at `path`) can only be written by root,
// geteuid() or the run-as user (or is sticky); else why not.
std::string InsecureDirectoryReason(const struct stat& st, const std::string& path,
                                    const SocketDirPolicy& policy);

// The directory `dir` (absolute or relative to the working directory), open
// O_RDONLY|O_DIRECTORY; *created says whether its last component was made
// here. FAILED_PRECONDITION naming the offending component.
absl::StatusOr<UniqueFd> OpenSocketDirectory(const std::string& dir, const SocketDirPolicy& policy,
                                             bool* created);

// flock(LOCK_EX|LOCK_NB) on `name` in dir_fd (dir_path for messages), as
// above; writes the pid into it. ALREADY_EXISTS naming the holder's pid when
// another process holds it; FAILED_PRECONDITION for an unsafe file.
absl::StatusOr<UniqueFd> LockFileAt(int dir_fd, const std::string& dir_path,
                                    const std::string& name, const SocketDirPolicy& policy);

// OK when `path` names the Unix socket `name` in dir_fd (same inode): the
// bind went where the checked directory is.
absl::Status VerifySocketInDirectory(int dir_fd, const std::string& name, const std::string& path);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_SOCKET_DIR_H_
