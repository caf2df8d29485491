// capabilities_test.cc — drops capabilities in forked (single-threaded)
// children and checks what is left, from the kernel's own report.
#include "daemon/control/capabilities.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

namespace mydev::daemon {
namespace {

// "CapBnd" etc. from /proc/self/status, as a mask.
uint64_t StatusMask(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return ~0ull;
  char line[256];
  uint64_t mask = ~0ull;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':')
      mask = std::strtoull(line + n + 1, nullptr, 16);
  std::fclose(f);
  return mask;
}

// Runs body in a forked child (one thread); returns its exit code.
int InChild(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

constexpr uint64_t kNetRaw = uint64_t{1} << CAP_NET_RAW;

TEST(Capabilities, RootKeepsOnlyNetRaw) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  int rc = InChild([] {
    absl::StatusOr<bool> dropped = DropCapabilitiesExceptNetRaw();
    if (!dropped.ok() || !*dropped) return 1;
    if (StatusMask("CapEff") != kNetRaw || StatusMask("CapPrm") != kNetRaw) return 2;
    if (StatusMask("CapInh") != 0 || StatusMask("CapAmb") != 0) return 3;
    if (StatusMask("CapBnd") != kNetRaw) return 4;
    int fd = socket(AF_PACKET, SOCK_RAW, 0);  // still allowed
    if (fd < 0) return 5;
    close(fd);
    if (chroot("/") == 0) return 6;  // CAP_SYS_CHROOT is gone
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Capabilities, WithoutCapabilitiesNothingToDrop) {
  if (geteuid() != 0) {
    absl::StatusOr<bool> dropped = DropCapabilitiesExceptNetRaw();
    ASSERT_TRUE(dropped.ok()) << dropped.status();
    EXPECT_FALSE(*dropped);
    return;
  }
  int rc = InChild([] {
    if (setuid(65534) != 0) return 1;  // drops every capability
    absl::StatusOr<bool> dropped = DropCapabilitiesExceptNetRaw();
    if (!dropped.ok()) return 2;
    return *dropped ? 3 : 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Capabilities, RefusesWithSeveralThreads) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  int rc = InChild([] {
    std::thread t([] { pause(); });
    t.detach();
    absl::StatusOr<bool> dropped = DropCapabilitiesExceptNetRaw();
    if (dropped.ok()) return 1;
    return StatusMask("CapEff") != kNetRaw ? 0 : 2;  // nothing was dropped
  });
  EXPECT_EQ(rc, 0);
}

// "Uid"/"Gid" of /proc/self/status: real, effective, saved, filesystem.
std::string StatusLine(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return "";
  char line[256];
  std::string out;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') out = line + n + 1;
  std::fclose(f);
  return out;
}

// A user without a passwd entry: DropPrivileges takes resolved ids.
UserIdentity TestUser() {
  UserIdentity u;
  u.name = "mydev-test";
  u.uid = 40123;
  u.gid = 40124;
  u.groups = {40124, 40125};
  return u;
}

TEST(Capabilities, SwitchesUserKeepingNetRaw) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  int rc = InChild([] {
    PrivilegeDrop drop;
    drop.user = TestUser();
    drop.keep_net_raw = true;
    absl::StatusOr<bool> dropped = DropPrivileges(drop);
    if (!dropped.ok()) {
      std::fprintf(stderr, "%s\n", dropped.status().ToString().c_str());
      return 1;
    }
    if (StatusLine("Uid") != "\t40123\t40123\t40123\t40123\n") return 2;
    if (StatusLine("Gid") != "\t40124\t40124\t40124\t40124\n") return 3;
    if (StatusLine("Groups") != "\t40124 40125 \n") return 4;
    if (StatusMask("CapEff") != kNetRaw || StatusMask("CapPrm") != kNetRaw) return 5;
    if (StatusMask("CapBnd") != kNetRaw || StatusMask("CapInh") != 0) return 6;
    int fd = socket(AF_PACKET, SOCK_RAW, 0);  // what an afpacket device needs
    if (fd < 0) return 7;
    close(fd);
    if (setuid(0) == 0 || seteuid(0) == 0) return 8;  // root is gone for good
    // A thread started now inherits both the user and CAP_NET_RAW.
    int in_thread = -1;
    std::thread([&] {
      int s = socket(AF_PACKET, SOCK_RAW, 0);
      in_thread = s >= 0 && geteuid() == 40123 ? 0 : 9;
      if (s >= 0) close(s);
    }).join();
    return in_thread;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Capabilities, SwitchesUserKeepingNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  int rc = InChild([] {
    PrivilegeDrop drop;
    drop.user = TestUser();
    drop.keep_net_raw = false;
    absl::StatusOr<bool> dropped = DropPrivileges(drop);
    if (!dropped.ok() || !*dropped) return 1;
    if (getuid() != 40123 || getgid() != 40124) return 2;
    for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"})
      if (StatusMask(set) != 0) return 3;
    if (socket(AF_PACKET, SOCK_RAW, 0) >= 0 || errno != EPERM) return 4;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Capabilities, StayingRootStillDropsCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  int rc = InChild([] {
    absl::StatusOr<UserIdentity> root = LookUpUser("root");
    if (!root.ok() || root->uid != 0) return 1;
    PrivilegeDrop drop;
    drop.user = *root;  // `mydevd --user root`: no switch
    absl::StatusOr<bool> dropped = DropPrivileges(drop);
    if (!dropped.ok() || !*dropped) return 2;
    if (getuid() != 0 || StatusMask("CapEff") != 0 || StatusMask("CapBnd") != 0) return 3;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Capabilities, SwitchingNeedsRoot) {
  auto attempt = [] {
    PrivilegeDrop drop;
    drop.user = TestUser();
    absl::StatusOr<bool> dropped = DropPrivileges(drop);
    return dropped.status().code() == absl::StatusCode::kPermissionDenied ? 0 : 1;
  };
  if (geteuid() != 0) {
    EXPECT_EQ(attempt(), 0);
    return;
  }
  EXPECT_EQ(InChild([&] { return setuid(65534) == 0 ? attempt() : 2; }), 0);
}

TEST(Capabilities, LooksUpUsers) {
  absl::StatusOr<UserIdentity> root = LookUpUser("root");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_NE(std::find(root->groups.begin(), root->groups.end(), 0u), root->groups.end());
  EXPECT_EQ(LookUpUser("no-such-user-mydev").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LookUpUser("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mydev::daemon
