// socket_dir_test.cc — the socket directory and lock file checks
// (socket_dir.h): run as root (tests are), with uid/gid 65534 (nobody)
// playing the hostile local user.
#include "daemon/socket_dir.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace mydev::daemon {
namespace {

constexpr uid_t kNobody = 65534;

class SocketDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "these tests play root against uid 65534";
    std::string templ = "/tmp/socket_dir_test.XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { ASSERT_EQ(std::system(("rm -rf " + dir_).c_str()), 0); }

  // errno of open(path, flags) as uid/gid 65534 in a child; 0 if it opened.
  static int OpenAsNobody(const std::string& path, int flags) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
          setresuid(kNobody, kNobody, kNobody) != 0)
        _exit(255);
      int fd = open(path.c_str(), flags | O_CLOEXEC);
      _exit(fd >= 0 ? 0 : errno);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 254;
  }

  absl::StatusOr<UniqueFd> Dir(const std::string& path, bool* created = nullptr,
                               SocketDirPolicy policy = {}) {
    bool ignored;
    return OpenSocketDirectory(path, policy, created ? created : &ignored);
  }

  std::string dir_;
};

TEST_F(SocketDirTest, LockFileIsRootsOnly) {
  bool created = false;
  absl::StatusOr<UniqueFd> d = Dir(dir_ + "/run/mydevd", &created);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(created);
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);  // mkdtemp makes it 0700: let nobody in
  absl::StatusOr<UniqueFd> lock = LockFileAt(d->get(), dir_ + "/run/mydevd", "s.lock", {});
  ASSERT_TRUE(lock.ok()) << lock.status();
  struct stat st;
  ASSERT_EQ(fstat(lock->get(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  // Issue 12: nobody opened the 0644 lock read-only and held the flock.
  const std::string path = dir_ + "/run/mydevd/s.lock";
  EXPECT_EQ(OpenAsNobody(path, O_RDONLY), EACCES);
  EXPECT_EQ(OpenAsNobody(path, O_WRONLY), EACCES);
  // A second daemon: ALREADY_EXISTS naming our pid.
  absl::StatusOr<UniqueFd> second = LockFileAt(d->get(), dir_ + "/run/mydevd", "s.lock", {});
  EXPECT_TRUE(absl::IsAlreadyExists(second.status())) << second.status();
  EXPECT_NE(second.status().message().find(std::to_string(getpid())), std::string::npos)
      << second.status();
}

// A lock file an older mydevd left 0644, held by "another user" who opened
// it before: replaced by a fresh 0600 file; the holder's lock is worthless.
TEST_F(SocketDirTest, WorldReadableLockIsReplacedEvenWhileHeld) {
  const std::string path = dir_ + "/s.lock";
  int old_fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(old_fd, 0);
  ASSERT_EQ(fchmod(old_fd, 0644), 0);
  int hostile = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(flock(hostile, LOCK_EX | LOCK_NB), 0);
  struct stat before;
  ASSERT_EQ(fstat(old_fd, &before), 0);
  absl::StatusOr<UniqueFd> d = Dir(dir_);
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<UniqueFd> lock = LockFileAt(d->get(), dir_, "s.lock", {});
  ASSERT_TRUE(lock.ok()) << lock.status();
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode & 07777, 0600u);
  close(hostile);
  close(old_fd);
}

TEST_F(SocketDirTest, UnsafeLockFilesAreRefusedWithTheReason) {
  absl::StatusOr<UniqueFd> d = Dir(dir_);
  ASSERT_TRUE(d.ok()) << d.status();
  // A symlink (to a file nobody would like root to write).
  ASSERT_EQ(symlink("/etc/passwd", (dir_ + "/link.lock").c_str()), 0);
  absl::Status s = LockFileAt(d->get(), dir_, "link.lock", {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("symlink"), std::string::npos) << s;
  // Owned by nobody.
  int fd = open((dir_ + "/nobody.lock").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchown(fd, kNobody, kNobody), 0);
  close(fd);
  s = LockFileAt(d->get(), dir_, "nobody.lock", {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("owned by uid 65534"), std::string::npos) << s;
  // ... unless nobody is the run-as user.
  SocketDirPolicy as_nobody;
  as_nobody.run_as_uid = kNobody;
  EXPECT_TRUE(LockFileAt(d->get(), dir_, "nobody.lock", as_nobody).ok());
  // A directory, a FIFO, a hard link.
  ASSERT_EQ(mkdir((dir_ + "/dir.lock").c_str(), 0700), 0);
  EXPECT_FALSE(LockFileAt(d->get(), dir_, "dir.lock", {}).ok());
  ASSERT_EQ(mkfifo((dir_ + "/fifo.lock").c_str(), 0600), 0);
  s = LockFileAt(d->get(), dir_, "fifo.lock", {}).status();
  EXPECT_NE(s.message().find("not a regular file"), std::string::npos) << s;
  ASSERT_EQ(link((dir_ + "/nobody.lock").c_str(), (dir_ + "/hard.lock").c_str()), 0);
  s = LockFileAt(d->get(), dir_, "hard.lock", as_nobody).status();
  EXPECT_NE(s.message().find("hard links"), std::string::npos) << s;
}

TEST_F(SocketDirTest, TmpAndRunAreFine) {
  bool created = true;
  EXPECT_TRUE(Dir("/tmp", &created).ok());  // sticky, root's
  EXPECT_FALSE(created);
  EXPECT_TRUE(Dir(dir_ + "/a/b/c", &created).ok());
  EXPECT_TRUE(created);
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/a/b/c").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  struct stat run;
  if (stat("/run", &run) == 0) {
    EXPECT_TRUE(Dir("/run").ok()) << Dir("/run").status();
  }
}

TEST_F(SocketDirTest, DirectoriesOthersCanWriteAreRefused) {
  struct Case {
    const char* name;
    uid_t uid;
    gid_t gid;
    mode_t mode;
    const char* reason;
  } cases[] = {
      {"owned", kNobody, 0, 0755, "owned by uid 65534"},
      {"world", 0, 0, 0777, "writable by every user"},
      {"group", 0, 100, 0775, "writable by group 100"},
  };
  for (const Case& c : cases) {
    const std::string parent = dir_ + "/" + c.name;
    ASSERT_EQ(mkdir(parent.c_str(), 0700), 0);
    ASSERT_EQ(chown(parent.c_str(), c.uid, c.gid), 0);
    ASSERT_EQ(chmod(parent.c_str(), c.mode), 0);
    absl::Status s = Dir(parent + "/mydevd").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << c.name << ": " << s;
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << s;
    EXPECT_NE(s.message().find("--allow_insecure_socket_dir"), std::string::npos) << s;
    SocketDirPolicy allow;
    allow.allow_insecure = true;
    EXPECT_TRUE(Dir(parent + "/mydevd", nullptr, allow).ok()) << c.name;
  }
  // The run-as user's own directory is fine.
  SocketDirPolicy as_nobody;
  as_nobody.run_as_uid = kNobody;
  EXPECT_TRUE(Dir(dir_ + "/owned/mydevd", nullptr, as_nobody).ok());
  // Sticky and world-writable (like /tmp): fine, but not an entry in it that
  // another user made.
  const std::string sticky = dir_ + "/sticky";
  ASSERT_EQ(mkdir(sticky.c_str(), 0700), 0);
  ASSERT_EQ(chmod(sticky.c_str(), 01777), 0);
  EXPECT_TRUE(Dir(sticky + "/mine").ok());
  ASSERT_EQ(mkdir((sticky + "/theirs").c_str(), 0755), 0);
  ASSERT_EQ(chown((sticky + "/theirs").c_str(), kNobody, kNobody), 0);
  absl::Status s = Dir(sticky + "/theirs").status();
  EXPECT_NE(s.message().find("owned by uid 65534"), std::string::npos) << s;
}

// Issue 12: a symlink where the directory should be.
TEST_F(SocketDirTest, SymlinksOnlyFromTrustedOwners) {
  const std::string target = dir_ + "/target";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  ASSERT_EQ(symlink(target.c_str(), (dir_ + "/roots").c_str()), 0);
  absl::StatusOr<UniqueFd> d = Dir(dir_ + "/roots");
  ASSERT_TRUE(d.ok()) << d.status();
  struct stat a, b;
  ASSERT_EQ(fstat(d->get(), &a), 0);
  ASSERT_EQ(stat(target.c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  ASSERT_EQ(symlink(target.c_str(), (dir_ + "/theirs").c_str()), 0);
  ASSERT_EQ(lchown((dir_ + "/theirs").c_str(), kNobody, kNobody), 0);
  absl::Status s = Dir(dir_ + "/theirs/x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("symlink owned by uid 65534"), std::string::npos) << s;
  EXPECT_EQ(access(target.c_str(), F_OK), 0);
  EXPECT_NE(access((target + "/x").c_str(), F_OK), 0);  // nothing created through it
  // A file where a directory should be.
  int fd = open((dir_ + "/file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  close(fd);
  s = Dir(dir_ + "/file/x").status();
  EXPECT_NE(s.message().find("not a directory"), std::string::npos) << s;
}

TEST_F(SocketDirTest, SocketMustBeInTheHeldDirectory) {
  absl::StatusOr<UniqueFd> d = Dir(dir_ + "/held");
  ASSERT_TRUE(d.ok());
  const std::string path = dir_ + "/held/s.sock";
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_TRUE(VerifySocketInDirectory(d->get(), "s.sock", path).ok());
  // The directory swapped for another after it was opened: refused.
  ASSERT_EQ(rename((dir_ + "/held").c_str(), (dir_ + "/moved").c_str()), 0);
  ASSERT_EQ(mkdir((dir_ + "/held").c_str(), 0755), 0);
  int s2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(bind(s2, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  absl::Status v = VerifySocketInDirectory(d->get(), "s.sock", path);
  EXPECT_EQ(v.code(), absl::StatusCode::kFailedPrecondition) << v;
  close(s);
  close(s2);
}

}  // namespace
}  // namespace mydev::daemon
