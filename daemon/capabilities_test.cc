// capabilities_test.cc — drops capabilities in forked (single-threaded)
// children and checks what is left, from the kernel's own report.
#include "daemon/capabilities.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace
}  // namespace mydev::daemon
