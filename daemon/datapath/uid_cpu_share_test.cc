// uid_cpu_share_test.cc — the per-uid share of a device thread's time.
#include "daemon/datapath/uid_cpu_share.h"

#include "gtest/gtest.h"

namespace mydev::daemon {
namespace {

constexpr int64_t kMs = 1000 * 1000;

TEST(UidCpuShareTest, UidOverItsShareShedsUntilTheNextWindow) {
  UidCpuShare shares(0.25, absl::Milliseconds(100));
  EXPECT_EQ(shares.budget_ns(), 25 * kMs);
  shares.StartBatch(1000 * kMs, 2);
  shares.Charge(1000, 24 * kMs);
  EXPECT_FALSE(shares.OverShare(1000));
  shares.Charge(1000, 1 * kMs);
  EXPECT_TRUE(shares.OverShare(1000));
  EXPECT_FALSE(shares.OverShare(2000)) << "another uid keeps its own share";
  shares.StartBatch(1050 * kMs, 2);
  EXPECT_TRUE(shares.OverShare(1000)) << "same window";
  shares.StartBatch(1100 * kMs, 2);
  EXPECT_FALSE(shares.OverShare(1000)) << "a new window starts afresh";
}

TEST(UidCpuShareTest, OneUidAloneIsNeverShed) {
  UidCpuShare shares(0.25, absl::Milliseconds(100));
  shares.StartBatch(1000 * kMs, 1);
  shares.Charge(1000, 90 * kMs);
  EXPECT_FALSE(shares.OverShare(1000));
  shares.StartBatch(1001 * kMs, 2);  // a second uid opened a session
  EXPECT_TRUE(shares.OverShare(1000));
}

TEST(UidCpuShareTest, ShareOfOneMeansNoLimit) {
  UidCpuShare shares(1.0, absl::Milliseconds(100));
  shares.StartBatch(1000 * kMs, 3);
  shares.Charge(1000, 500 * kMs);
  EXPECT_FALSE(shares.OverShare(1000));
}

}  // namespace
}  // namespace mydev::daemon
