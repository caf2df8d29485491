// session_manager_test.cc — field validation, limits, token/uid checks,
// close and the attach deadline.
#include "daemon/session_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "absl/time/clock.h"
#include "daemon/synthetic_backend.h"

namespace mydev::daemon {
namespace {

std::string TokenOf(const Session& s) { return std::string(s.token().begin(), s.token().end()); }

class SessionManagerTest : public ::testing::Test {
 protected:
  SessionManagerTest() {
    DeviceInfo info;
    info.name = "mydev0";
    info.backend = "synthetic";
    info.dlts = {kDltEn10mb};
    device_ = std::make_unique<DeviceRuntime>(
        std::make_unique<SyntheticBackend>(info, SyntheticOptions{}), absl::Milliseconds(10));
    limits_.default_ring_bytes = 1 << 20;
    limits_.max_ring_bytes = 4 << 20;
    limits_.max_sessions_per_uid = 2;
    limits_.attach_timeout = absl::Milliseconds(20);
    manager_ = std::make_unique<SessionManager>(limits_, std::vector<DeviceRuntime*>{device_.get()});
  }

  absl::StatusOr<std::shared_ptr<Session>> Open(uint32_t uid, uint64_t buffer = 0,
                                                uint32_t snaplen = 0) {
    mydev::v1::OpenSessionRequest req;
    req.set_device("mydev0");
    req.set_buffer_size(buffer);
    req.set_snaplen(snaplen);
    return manager_->Open(req, Credentials{uid, uid, 4242});
  }

  Limits limits_;
  std::unique_ptr<DeviceRuntime> device_;
  std::unique_ptr<SessionManager> manager_;
};

TEST_F(SessionManagerTest, ResolvesSnaplenAndRingSize) {
  struct Case {
    uint64_t buffer;
    uint32_t snaplen;
    uint64_t want_ring;
    uint32_t want_snaplen;
  } cases[] = {
      {0, 0, 1 << 20, 262144},              // defaults
      {100, 100, 1 << 20, 100},             // below the ring minimum -> minimum
      {1500000, 1000000, 2 << 20, 262144},  // rounded up; snaplen clamped
      {4 << 20, 65535, 4 << 20, 65535},     // exactly the max
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::shared_ptr<Session>> s = Open(7, c.buffer, c.snaplen);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ((*s)->ring_bytes(), c.want_ring) << c.buffer;
    EXPECT_EQ((*s)->params().snaplen, c.want_snaplen) << c.snaplen;
    ASSERT_TRUE(manager_->Close((*s)->id(), TokenOf(**s), 7).ok());
  }
}

TEST_F(SessionManagerTest, RejectsBadFields) {
  EXPECT_EQ(Open(7, (4 << 20) + 1).status().code(), absl::StatusCode::kInvalidArgument);
  mydev::v1::OpenSessionRequest req;
  req.set_device("mydev9");
  EXPECT_EQ(manager_->Open(req, {7, 7, 1}).status().code(), absl::StatusCode::kNotFound);
  req.set_device("mydev0");
  req.set_direction(static_cast<mydev::v1::Direction>(9));
  EXPECT_EQ(manager_->Open(req, {7, 7, 1}).status().code(), absl::StatusCode::kInvalidArgument);
  req.set_direction(mydev::v1::DIRECTION_IN);
  req.set_dlt(105);  // not offered
  EXPECT_EQ(manager_->Open(req, {7, 7, 1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(manager_->List().empty());
}

TEST_F(SessionManagerTest, SessionsPerUidLimit) {
  auto a = Open(1000), b = Open(1000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Open(1000).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Open(1001).ok());  // another user is not affected
  ASSERT_TRUE(manager_->Close((*a)->id(), TokenOf(**a), 1000).ok());
  EXPECT_TRUE(Open(1000).ok());
  EXPECT_EQ(device_->counters().sessions, 3u);
}

TEST_F(SessionManagerTest, LookupChecksTokenAndOwner) {
  auto a = Open(1000), b = Open(1000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(TokenOf(**a), TokenOf(**b));
  uint64_t id = (*a)->id();
  std::string token = TokenOf(**a);
  EXPECT_TRUE(manager_->Lookup(id, token, 1000).ok());
  std::string wrong = token;
  wrong[31] ^= 1;
  EXPECT_EQ(manager_->Lookup(id, wrong, 1000).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Lookup(id, token.substr(0, 16), 1000).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Lookup(id, TokenOf(**b), 1000).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Lookup(id, token, 1001).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Close(id, token, 1001).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Lookup(999, token, 1000).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(manager_->Close(id, token, 1000).ok());
  EXPECT_EQ(manager_->Lookup(id, token, 1000).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Close(id, token, 1000).code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionManagerTest, UnattachedSessionsAreReaped) {
  auto a = Open(1000), b = Open(1000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE((*b)->MarkAttached());
  EXPECT_FALSE((*b)->MarkAttached());  // only once
  EXPECT_EQ(manager_->ReapUnattached(absl::Now()), 0u);  // not yet due
  EXPECT_EQ(manager_->ReapUnattached(absl::Now() + absl::Seconds(1)), 1u);
  EXPECT_FALSE(manager_->Exists((*a)->id()));
  EXPECT_TRUE(manager_->Exists((*b)->id()));
  EXPECT_EQ(device_->counters().sessions, 1u);
}

TEST_F(SessionManagerTest, ReaperThreadFreesWithinTheTimeout) {
  manager_->StartReaper();
  auto a = Open(1000);
  ASSERT_TRUE(a.ok());
  uint64_t id = (*a)->id();
  for (int i = 0; i < 100 && manager_->Exists(id); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(manager_->Exists(id));
  // The uid's quota is returned.
  EXPECT_TRUE(Open(1000).ok());
}

TEST_F(SessionManagerTest, FreeIsIdempotent) {
  auto a = Open(1000);
  ASSERT_TRUE(a.ok());
  manager_->Free((*a)->id(), "test");
  manager_->Free((*a)->id(), "test");
  EXPECT_TRUE(manager_->List().empty());
  EXPECT_EQ(device_->counters().sessions, 0u);
}

}  // namespace
}  // namespace mydev::daemon
