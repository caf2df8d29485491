// uid_cpu_share_test.cc — the per-uid share of a device thread's time.
#include "daemon/datapath/uid_cpu_share.h"

#include "gtest/gtest.h"

namespace mydev::daemon {
namespace {

constexpr int64_t kMs = 1000 * 1000;

TEST(UidCpuShareTest, UidOverItsShareOnABusyThreadShedsUntilTheNextWindow) {
  UidCpuShare shares(0.25, absl::Milliseconds(100));
  EXPECT_EQ(shares.budget_ns(), 25 * kMs);
  shares.StartBatch(1000 * kMs, 2);
  shares.Charge(1000, 24 * kMs);
  shares.StartBatch(1024 * kMs, 2);
  EXPECT_FALSE(shares.ShouldShed(1000)) << "within its share";
  shares.Charge(1000, 1 * kMs);
  shares.StartBatch(1025 * kMs, 2);  // 25 ms of deliveries in 25 ms: busy
  EXPECT_TRUE(shares.ShouldShed(1000));
  EXPECT_FALSE(shares.ShouldShed(2000)) << "another uid keeps its own share";
  shares.StartBatch(1090 * kMs, 2);  // the thread has idled since: still shed
  EXPECT_TRUE(shares.ShouldShed(1000)) << "shed for the rest of the window";
  shares.StartBatch(1100 * kMs, 2);
  EXPECT_FALSE(shares.ShouldShed(1000)) << "a new window starts afresh";
}

TEST(UidCpuShareTest, HeavyUserOnAThreadThatKeepsUpIsNotShed) {
  UidCpuShare shares(0.25, absl::Milliseconds(100));
  shares.StartBatch(1000 * kMs, 2);
  // 50 ms of deliveries in 90 ms: busy 56% < 60%.
  shares.Charge(1000, 50 * kMs);
  shares.StartBatch(1090 * kMs, 2);
  EXPECT_FALSE(shares.ShouldShed(1000));
  // 60 ms in 95 ms: contended.
  shares.Charge(2000, 10 * kMs);
  shares.StartBatch(1095 * kMs, 2);
  EXPECT_TRUE(shares.ShouldShed(1000));
  EXPECT_FALSE(shares.ShouldShed(2000)) << "within its share";
}

TEST(UidCpuShareTest, OneUidAloneIsNeverShed) {
  UidCpuShare shares(0.25, absl::Milliseconds(100));
  shares.StartBatch(1000 * kMs, 1);
  shares.Charge(1000, 90 * kMs);
  shares.StartBatch(1090 * kMs, 1);
  EXPECT_FALSE(shares.ShouldShed(1000));
  shares.StartBatch(1091 * kMs, 2);  // a second uid opened a session
  EXPECT_TRUE(shares.ShouldShed(1000));
}

TEST(UidCpuShareTest, ShareOfOneMeansNoLimit) {
  UidCpuShare shares(1.0, absl::Milliseconds(100));
  shares.StartBatch(1000 * kMs, 3);
  shares.Charge(1000, 500 * kMs);
  shares.StartBatch(1099 * kMs, 3);
  EXPECT_FALSE(shares.ShouldShed(1000));
}

}  // namespace
}  // namespace mydev::daemon
