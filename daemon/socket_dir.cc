// socket_dir.cc — see socket_dir.h.
#include "daemon/socket_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/log.h"

namespace mydev::daemon {
namespace {

constexpr int kMaxSymlinks = 16;

bool TrustedUid(uid_t uid, const SocketDirPolicy& policy) {
  return uid == 0 || uid == geteuid() || (policy.run_as_uid && uid == *policy.run_as_uid);
}

std::string Join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == "/") return "/" + name;
  return dir + "/" + name;
}

void Split(const std::string& path, std::deque<std::string>* out, bool front) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty()))
    if (part != ".") parts.emplace_back(part);
  if (front)
    out->insert(out->begin(), parts.begin(), parts.end());
  else
    out->insert(out->end(), parts.begin(), parts.end());
}

// The pid holding a flock on the file open as fd, from /proc/locks
// ("1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"); 0 if not found.
pid_t FlockHolder(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return 0;
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    if (line.find("FLOCK") == std::string::npos || line.find("->") != std::string::npos) continue;
    std::istringstream in(line);
    std::string id, kind, mode, access, dev_ino;
    long pid = 0;
    if (!(in >> id >> kind >> mode >> access >> pid >> dev_ino)) continue;
    unsigned major = 0, minor = 0;
    unsigned long long ino = 0;
    if (std::sscanf(dev_ino.c_str(), "%x:%x:%llu", &major, &minor, &ino) == 3 && ino == st.st_ino &&
        major == major(st.st_dev) && minor == minor(st.st_dev))
      return static_cast<pid_t>(pid);
  }
  return 0;
}

}  // namespace

std::string InsecureDirectoryReason(const struct stat& st, const std::string& path,
                                    const SocketDirPolicy& policy) {
  if (!TrustedUid(st.st_uid, policy))
    return absl::StrCat(path, " is owned by uid ", st.st_uid,
                        ", not root or mydevd's user: that user could replace what is in it");
  if ((st.st_mode & S_IWGRP) && st.st_gid != 0 &&
      !(policy.run_as_gid && st.st_gid == *policy.run_as_gid))
    return absl::StrCat(path, " is writable by group ", st.st_gid,
                        ": its members could replace what is in it");
  if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
    return absl::StrCat(path, " is writable by every user (mode 0",
                        absl::StrFormat("%o", st.st_mode & 07777),
                        ") without the sticky bit: anyone could replace what is in it");
  return "";
}

absl::StatusOr<UniqueFd> OpenSocketDirectory(const std::string& dir, const SocketDirPolicy& policy,
                                             bool* created) {
  *created = false;
  std::string start = dir;
  if (start.empty() || start[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) return absl::ErrnoToStatus(errno, "getcwd");
    start = absl::StrCat(cwd, "/", dir);
  }
  std::deque<std::string> todo;
  Split(start, &todo, false);
  const auto refuse = [&](const std::string& why) -> absl::Status {
    if (policy.allow_insecure) {
      MYDEV_LOG(kWarning, "socket directory %s: %s (allowed by --allow_insecure_socket_dir)", dir,
                why);
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing the socket directory ", dir, ": ", why,
        ". Use a directory only root or mydevd's user can write (e.g. /run/mydevd), or pass "
        "--allow_insecure_socket_dir"));
  };
  UniqueFd cur(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur.valid()) return absl::ErrnoToStatus(errno, "opening /");
  std::string cur_path = "/";
  int links = 0;
  for (;;) {
    struct stat st;
    if (fstat(cur.get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat " + cur_path);
    if (std::string why = InsecureDirectoryReason(st, cur_path, policy); !why.empty())
      if (absl::Status s = refuse(why); !s.ok()) return s;
    if (todo.empty()) return cur;
    const std::string name = todo.front();
    todo.pop_front();
    if (name == "..") {
      UniqueFd up(openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!up.valid()) return absl::ErrnoToStatus(errno, "opening " + cur_path + "/..");
      cur = std::move(up);
      size_t slash = cur_path.rfind('/');
      cur_path = slash == 0 || slash == std::string::npos ? "/" : cur_path.substr(0, slash);
      continue;
    }
    const std::string next_path = Join(cur_path, name);
    bool made = false;
    if (mkdirat(cur.get(), name.c_str(), 0755) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      return absl::ErrnoToStatus(errno, "creating the socket directory " + next_path);
    }
    UniqueFd next(openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      const int err = errno;
      struct stat lst;
      if ((err == ELOOP || err == ENOTDIR) &&
          fstatat(cur.get(), name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(lst.st_mode)) {
        // A symlink: followed only if a trusted user made it (the directory
        // holding it has passed the checks above).
        if (!TrustedUid(lst.st_uid, policy))
          return absl::FailedPreconditionError(absl::StrCat(
              "refusing the socket directory ", dir, ": ", next_path, " is a symlink owned by uid ",
              lst.st_uid, " (not root or mydevd's user)"));
        if (++links > kMaxSymlinks)
          return absl::FailedPreconditionError(
              absl::StrCat("refusing the socket directory ", dir, ": too many symlinks"));
        std::string target(4096, '\0');
        ssize_t n = readlinkat(cur.get(), name.c_str(), target.data(), target.size());
        if (n < 0) return absl::ErrnoToStatus(errno, "readlink " + next_path);
        target.resize(static_cast<size_t>(n));
        Split(target, &todo, true);
        if (!target.empty() && target[0] == '/') {
          cur = UniqueFd(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
          if (!cur.valid()) return absl::ErrnoToStatus(errno, "opening /");
          cur_path = "/";
        }
        continue;
      }
      if (err == ENOTDIR)
        return absl::FailedPreconditionError(absl::StrCat("refusing the socket directory ", dir,
                                                          ": ", next_path,
                                                          " exists and is not a directory"));
      return absl::ErrnoToStatus(err, "opening the socket directory " + next_path);
    }
    if (made && todo.empty()) *created = true;
    cur = std::move(next);
    cur_path = next_path;
  }
}

absl::StatusOr<UniqueFd> LockFileAt(int dir_fd, const std::string& dir_path,
                                    const std::string& name, const SocketDirPolicy& policy) {
  const std::string path = Join(dir_path, name);
  for (int attempt = 0; attempt < 8; ++attempt) {
    UniqueFd fd(
        openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600));
    if (!fd.valid()) {
      if (errno == ELOOP)
        return absl::FailedPreconditionError(absl::StrCat(
            "the lock file ", path, " is a symlink; refusing it (remove it: mydevd creates it)"));
      return absl::ErrnoToStatus(errno, absl::StrCat("opening ", path));
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, "fstat " + path);
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || !TrustedUid(st.st_uid, policy))
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing the lock file ", path, ": ",
          !S_ISREG(st.st_mode) ? "not a regular file"
          : st.st_nlink != 1   ? absl::StrCat("it has ", st.st_nlink, " hard links")
                               : absl::StrCat("owned by uid ", st.st_uid, ", not root or mydevd"),
          " (remove it: mydevd creates it 0600)"));
    if (st.st_mode & 077) {
      // Anyone may have it open (a read-only descriptor suffices for
      // flock): a fresh file, never the same inode, is the only safe lock.
      MYDEV_LOG(kWarning,
                "the lock file %s had mode 0%o (others could open and hold it): replaced "
                "by a new 0600 file",
                path, st.st_mode & 07777);
      if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT)
        return absl::ErrnoToStatus(errno, "removing the insecure lock file " + path);
      continue;
    }
    if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return absl::ErrnoToStatus(errno, absl::StrCat("flock ", path));
      const pid_t holder = FlockHolder(fd.get());
      return absl::AlreadyExistsError(absl::StrCat(
          "another mydevd holds ", path, holder > 0 ? absl::StrCat(" (pid ", holder, ")") : "",
          "; stop it first, or give this one another --socket"));
    }
    // Locked: is it still the file the name stands for (not replaced
    // meanwhile by a daemon starting at the same instant)?
    struct stat now;
    if (fstatat(dir_fd, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_ino != st.st_ino ||
        now.st_dev != st.st_dev)
      continue;
    std::string pid = absl::StrCat(getpid(), "\n");
    if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), pid.data(), pid.size(), 0) < 0)
      MYDEV_LOG(kWarning, "writing the pid into %s: %s", path, strerror(errno));
    return fd;
  }
  return absl::AbortedError(absl::StrCat("the lock file ", path, " kept changing; try again"));
}

absl::Status VerifySocketInDirectory(int dir_fd, const std::string& name, const std::string& path) {
  struct stat in_dir, by_path;
  if (fstatat(dir_fd, name.c_str(), &in_dir, AT_SYMLINK_NOFOLLOW) != 0 ||
      lstat(path.c_str(), &by_path) != 0 || !S_ISSOCK(in_dir.st_mode) ||
      in_dir.st_ino != by_path.st_ino || in_dir.st_dev != by_path.st_dev)
    return absl::FailedPreconditionError(
        absl::StrCat("the socket ", path,
                     " is not in the socket directory mydevd checked (was a parent "
                     "directory replaced?); refusing to serve on it"));
  return absl::OkStatus();
}

}  // namespace mydev::daemon
