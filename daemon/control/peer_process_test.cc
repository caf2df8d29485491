// peer_process_test.cc — the text made of /proc/PID/{comm,cmdline}: NULs,
// hostile bytes and the 256-byte cut; read from a real child process, from a
// zombie and from a pid that is gone.
#include "daemon/control/peer_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"

namespace mydev::daemon {
namespace {

using namespace std::string_literals;

TEST(PrintableProcessText, JoinsArgumentsWithSpaces) {
  EXPECT_EQ(PrintableProcessText("tcpdump\0-i\0mydev0\0-n\0"s, 256), "tcpdump -i mydev0 -n");
  EXPECT_EQ(PrintableProcessText("a\0\0b\0"s, 256), "a  b") << "an empty argument stays visible";
  EXPECT_EQ(PrintableProcessText("\0\0"s, 256), "");
  EXPECT_EQ(PrintableProcessText("", 256), "");
}

TEST(PrintableProcessText, ReplacesWhatATerminalWouldActOn) {
  EXPECT_EQ(PrintableProcessText("x\x1b]0;pwned\x07y", 256), "x?]0;pwned?y");
  EXPECT_EQ(PrintableProcessText("tab\there\nnl\x7f", 256), "tab?here?nl?");
  EXPECT_EQ(PrintableProcessText("csi\xc2\x9b"
                                 "31m",
                                 256),
            "csi?"
            "?31m")
      << "C1 control";
}

TEST(PrintableProcessText, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(PrintableProcessText("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9f", 256),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9f");
  EXPECT_EQ(PrintableProcessText("\xff\xfe", 256), "??");
  EXPECT_EQ(PrintableProcessText("\xc0\xaf", 256), "??") << "overlong";
  EXPECT_EQ(PrintableProcessText("\xed\xa0\x80", 256), "???") << "surrogate";
  EXPECT_EQ(PrintableProcessText("\xf4\x90\x80\x80", 256), "????") << "beyond U+10FFFF";
  EXPECT_EQ(PrintableProcessText("\xe2\x82", 256), "??") << "cut short";
  EXPECT_EQ(PrintableProcessText("\xc3\xa9\x80", 256), "\xc3\xa9?") << "stray continuation";
}

TEST(PrintableProcessText, CutsAtTheLimitNeverInsideACharacter) {
  EXPECT_EQ(PrintableProcessText(std::string(300, 'a'), 256), std::string(256, 'a'));
  EXPECT_EQ(PrintableProcessText(std::string(254, 'a') + "\xc3\xa9", 256),
            std::string(254, 'a') + "\xc3\xa9");
  EXPECT_EQ(PrintableProcessText(std::string(255, 'a') + "\xc3\xa9", 256), std::string(255, 'a'));
  EXPECT_EQ(PrintableProcessText(std::string(255, 'a') + "\0b"s, 256), std::string(255, 'a') + " ");
}

// A /bin/sh child blocked reading its stdin (a pipe we hold): its argv is
// exactly what we passed. Killed and reaped on destruction.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[0], 0);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[0]);
    stdin_ = fds[1];
  }
  ~Child() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(stdin_);
  }
  pid_t pid() const { return pid_; }

  // Reads the child once its exec has happened (its cmdline starts with prefix).
  PeerProcess ReadAfterExec(const std::string& prefix) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      PeerProcess p = PeerProcess::Read(pid_);
      if (absl::StartsWith(p.cmdline, prefix) || std::chrono::steady_clock::now() > deadline)
        return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
};

TEST(PeerProcess, ReadsAChildsCommAndCmdline) {
  Child child({"/bin/sh", "-c", "read x", "sh", "-i", "mydev0", "udp port 53"});
  ASSERT_GT(child.pid(), 0);
  PeerProcess p = child.ReadAfterExec("/bin/sh -c");
  EXPECT_EQ(p.comm, "sh");
  EXPECT_EQ(p.cmdline, "/bin/sh -c read x sh -i mydev0 udp port 53");
}

TEST(PeerProcess, LongAndHostileCommandLinesAreCutAndCleaned) {
  const std::string hostile = "\x1b[2J\x1b]0;owned\x07";
  Child child({"/bin/sh", "-c", "read x", hostile, std::string(1000, 'x')});
  ASSERT_GT(child.pid(), 0);
  PeerProcess p = child.ReadAfterExec("/bin/sh -c");
  const std::string want = "/bin/sh -c read x ?[2J?]0;owned? " + std::string(1000, 'x');
  EXPECT_EQ(p.cmdline.size(), PeerProcess::kMaxCmdlineBytes);
  EXPECT_EQ(p.cmdline, want.substr(0, PeerProcess::kMaxCmdlineBytes));
}

TEST(PeerProcess, OwnProcess) {
  PeerProcess p = PeerProcess::Read(getpid());
  EXPECT_FALSE(p.comm.empty());
  EXPECT_TRUE(absl::StrContains(p.cmdline, "peer_process_test")) << p.cmdline;
}

TEST(PeerProcess, VanishedOrInvisiblePidGivesEmptyStrings) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(0);
  // A zombie (exited, not reaped): the kernel no longer has its command line.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  PeerProcess zombie = PeerProcess::Read(pid);
  EXPECT_EQ(zombie.cmdline, "");
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  PeerProcess gone = PeerProcess::Read(pid);
  EXPECT_EQ(gone.comm, "");
  EXPECT_EQ(gone.cmdline, "");
  // SO_PEERCRED's pid is 0 for a peer in a pid namespace the daemon cannot see.
  EXPECT_EQ(PeerProcess::Read(0).comm, "");
  EXPECT_EQ(PeerProcess::Read(0).cmdline, "");
  EXPECT_EQ(PeerProcess::Read(-1).comm, "");
}

}  // namespace
}  // namespace mydev::daemon
