// session_manager_test.cc — field validation (Open, SetFilter, SetDirection,
// SetDataLink, Inject), limits, token/uid checks, close and the attach deadline.
#include "daemon/control/session_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/backends/synthetic/synthetic_backend.h"

namespace mydev::daemon {
namespace {

std::string TokenOf(const Session& s) { return std::string(s.token().begin(), s.token().end()); }

class SessionManagerTest : public ::testing::Test {
 protected:
  SessionManagerTest() {
    DeviceInfo info;
    info.name = "mydev0";
    info.backend = "synthetic";
    info.dlts = {DLT_EN10MB};
    device_ = std::make_unique<DeviceFanout>(
        std::make_unique<SyntheticBackend>(info, SyntheticOptions{}), absl::Milliseconds(10));
    limits_.default_ring_bytes = 1 << 20;
    limits_.max_ring_bytes = 4 << 20;
    limits_.max_sessions_per_uid = 2;
    limits_.attach_timeout = absl::Milliseconds(20);
    manager_ = std::make_unique<SessionManager>(limits_, std::vector<DeviceFanout*>{device_.get()});
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
  std::unique_ptr<DeviceFanout> device_;
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

TEST_F(SessionManagerTest, OpenSaysWhichFieldIsWrong) {
  mydev::v1::OpenSessionRequest req;
  req.set_device("mydev0");
  req.set_direction(static_cast<mydev::v1::Direction>(7));
  absl::Status s = manager_->Open(req, {7, 7, 1}).status();
  EXPECT_EQ(s.message(), "direction 7 is not IN, OUT or INOUT");
  req.set_direction(mydev::v1::DIRECTION_OUT);
  req.set_dlt(-1);
  s = manager_->Open(req, {7, 7, 1}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "link type -1 is not offered by 'mydev0'");
  req.set_dlt(0);  // the device's default
  absl::StatusOr<std::shared_ptr<Session>> opened = manager_->Open(req, {7, 7, 1});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->dlt(), device_->info().dlts.front());
  EXPECT_EQ((*opened)->params().direction, mydev::v1::DIRECTION_OUT);
}

TEST_F(SessionManagerTest, SetDirectionChecksTheValue) {
  auto a = Open(7);
  ASSERT_TRUE(a.ok());
  Session& s = **a;
  EXPECT_TRUE(manager_->SetDirection(s, mydev::v1::DIRECTION_IN).ok());
  for (int bad : {-1, 4, 1000}) {
    absl::Status st = manager_->SetDirection(s, static_cast<mydev::v1::Direction>(bad));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(st.message(), absl::StrCat("direction ", bad, " is not IN, OUT or INOUT"));
  }
}

TEST_F(SessionManagerTest, SetDataLinkTakesOnlyTheDevicesLinkTypes) {
  auto a = Open(7);
  ASSERT_TRUE(a.ok());
  Session& s = **a;
  const int offered = device_->info().dlts.front();
  EXPECT_TRUE(manager_->SetDataLink(s, offered).ok());
  EXPECT_EQ(s.dlt(), offered);
  for (int bad : {105, 0, -1}) {  // 0 means "the default" only in Open
    absl::Status st = manager_->SetDataLink(s, bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(st.message(), absl::StrCat("link type ", bad, " is not offered by 'mydev0'"));
    EXPECT_EQ(s.dlt(), offered);  // unchanged
  }
}

TEST_F(SessionManagerTest, SetFilterValidatesTheProgram) {
  auto a = Open(7);
  ASSERT_TRUE(a.ok());
  Session& s = **a;
  google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn> prog;
  mydev::v1::BpfInsn* ret = prog.Add();  // ret #128
  ret->set_code(0x06);
  ret->set_k(128);
  ASSERT_TRUE(manager_->SetFilter(s, prog).ok());
  EXPECT_TRUE(s.filter_set());

  // A jump past the end: refused, the filter in place stays.
  google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn> bad;
  mydev::v1::BpfInsn* jump = bad.Add();
  jump->set_code(0x15);
  jump->set_jt(9);
  *bad.Add() = *ret;
  absl::Status st = manager_->SetFilter(s, bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(st.message().empty());
  EXPECT_TRUE(s.filter_set());

  // Longer than limits.max_bpf_insns.
  google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn> huge;
  for (uint32_t i = 0; i <= manager_->limits().max_bpf_insns; ++i) *huge.Add() = *ret;
  st = manager_->SetFilter(s, huge);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(absl::StrCat("must have 1..", manager_->limits().max_bpf_insns)),
            std::string::npos)
      << st;

  // No instructions: no filter.
  ASSERT_TRUE(manager_->SetFilter(s, {}).ok());
  EXPECT_FALSE(s.filter_set());
}

TEST_F(SessionManagerTest, InjectChecksTheRuleThenTheSize) {
  // No access rules: inject is for root only.
  auto mine = Open(7);
  ASSERT_TRUE(mine.ok());
  const std::vector<uint8_t> frame(60, 0xab);
  absl::StatusOr<uint32_t> sent = manager_->Inject(**mine, {7, 7, 1}, frame);
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(sent.status().message().find(
                "(uid 7) may not inject on mydev0: device mydev0 grants inject to no one but root"),
            std::string::npos)
      << sent.status();
  // The rule comes first: a stranger learns nothing about sizes.
  EXPECT_EQ(manager_->Inject(**mine, {7, 7, 1}, {}).status().code(),
            absl::StatusCode::kPermissionDenied);

  auto roots = Open(0);
  ASSERT_TRUE(roots.ok());
  const Credentials root{0, 0, 1};
  sent = manager_->Inject(**roots, root, {});
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sent.status().message(), "packet of 0 bytes; it must be 1..262144");
  const std::vector<uint8_t> huge(kMaxSnaplen + 1, 0);
  sent = manager_->Inject(**roots, root, huge);
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sent.status().message(), "packet of 262145 bytes; it must be 1..262144");
  // 1..kMaxSnaplen bytes reach the backend, which (synthetic) cannot inject.
  for (size_t n : {size_t{1}, frame.size(), size_t{kMaxSnaplen}}) {
    const std::vector<uint8_t> ok(n, 0);
    EXPECT_EQ(manager_->Inject(**roots, root, ok).status().code(), absl::StatusCode::kUnimplemented)
        << n;
  }
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
  EXPECT_EQ(manager_->Lookup(id, wrong, 1000).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Lookup(id, token.substr(0, 16), 1000).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Lookup(id, TokenOf(**b), 1000).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->Lookup(id, token, 1001).status().code(), absl::StatusCode::kPermissionDenied);
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
  EXPECT_FALSE((*b)->MarkAttached());                    // only once
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

// A manager over mydev0 (open) and mydev1 (capture: nobody and group adm only),
// with per-user limits from the config.
class SessionAccessTest : public ::testing::Test {
 protected:
  void Build(const std::string& text) {
    absl::StatusOr<mydev::config::Config> c = ParseConfig(text, "test.conf");
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<AccessPolicy> access = BuildAccessPolicy(*c);
    ASSERT_TRUE(access.ok()) << access.status();
    for (const char* name : {"mydev0", "mydev1"}) {
      DeviceInfo info;
      info.name = name;
      info.backend = "synthetic";
      info.dlts = {DLT_EN10MB};
      devices_.push_back(std::make_unique<DeviceFanout>(
          std::make_unique<SyntheticBackend>(info, SyntheticOptions{}), absl::Milliseconds(10)));
    }
    manager_ = std::make_unique<SessionManager>(
        ResolveLimits(c->limits()),
        std::vector<DeviceFanout*>{devices_[0].get(), devices_[1].get()}, std::move(*access));
  }

  absl::StatusOr<std::shared_ptr<Session>> Open(uint32_t uid, uint32_t gid,
                                                const char* device = "mydev0",
                                                uint64_t buffer = 0) {
    mydev::v1::OpenSessionRequest req;
    req.set_device(device);
    req.set_buffer_size(buffer);
    return manager_->Open(req, Credentials{uid, gid, 4242});
  }

  std::vector<std::unique_ptr<DeviceFanout>> devices_;
  std::unique_ptr<SessionManager> manager_;
};

constexpr char kAccessConfig[] = R"(
    device { name: "mydev0" synthetic {} }
    device { name: "mydev1" synthetic {} access { capture { user: "nobody" group: "adm" } } }
    limits { default_ring_bytes: 1048576 max_ring_bytes: 8388608
             max_sessions_per_uid: 3 max_ring_bytes_per_uid: 4194304 }
    user_limits { user: "nobody" max_sessions: 1 }
    user_limits { user: "1234" max_ring_bytes_total: 16777216 max_sessions: 10 }
)";

TEST_F(SessionAccessTest, CaptureRuleIsCheckedOnOpen) {
  Build(kAccessConfig);
  EXPECT_TRUE(Open(65534, 65534, "mydev1").ok());  // nobody, by name
  EXPECT_TRUE(Open(1500, 4, "mydev1").ok());       // primary gid adm
  EXPECT_TRUE(Open(0, 0, "mydev1").ok());          // root
  absl::Status denied = Open(1500, 1500, "mydev1").status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "uid 1500 may not capture on mydev1: not in device mydev1's capture users/groups");
  EXPECT_TRUE(Open(1500, 1500, "mydev0").ok());  // no access block: open
  // A refusal reserves nothing.
  EXPECT_EQ(manager_->List().size(), 4u);
}

TEST_F(SessionAccessTest, SessionsPerUserFollowDefaultsAndOverrides) {
  Build(kAccessConfig);
  // nobody: overridden to 1.
  absl::StatusOr<std::shared_ptr<Session>> first = Open(65534, 65534);
  ASSERT_TRUE(first.ok());
  absl::Status second = Open(65534, 65534).status();
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(second.message().find("user nobody (uid 65534) already has 1 sessions open"),
            std::string::npos)
      << second;
  // Others: the default of 3 (and 4 MiB of 1 MiB rings).
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Open(1500, 1500).ok()) << i;
  EXPECT_EQ(Open(1500, 1500).status().code(), absl::StatusCode::kResourceExhausted);
  // Closing gives the slot back.
  ASSERT_TRUE(manager_->Close((*first)->id(), TokenOf(**first), 65534).ok());
  EXPECT_TRUE(Open(65534, 65534).ok());
}

TEST_F(SessionAccessTest, RingMemoryPerUser) {
  Build(kAccessConfig);
  // Default 4 MiB per uid: a 2 MiB ring and a 2 MiB ring fit, a third does not.
  absl::StatusOr<std::shared_ptr<Session>> a = Open(1500, 1500, "mydev0", 2 << 20);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(Open(1500, 1500, "mydev0", 2 << 20).ok());
  absl::Status full = Open(1500, 1500, "mydev0", 1 << 20).status();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("above the limit of 4194304"), std::string::npos) << full;
  // Another uid has its own budget.
  EXPECT_TRUE(Open(1501, 1501, "mydev0", 4 << 20).ok());
  // Freeing a ring gives its bytes back.
  manager_->Free((*a)->id(), "test");
  EXPECT_TRUE(Open(1500, 1500, "mydev0", 2 << 20).ok());
  // uid 1234: 16 MiB overridden, sessions 10.
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Open(1234, 1234, "mydev0", 8 << 20).ok()) << i;
  EXPECT_EQ(Open(1234, 1234, "mydev0", 1 << 20).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(SessionAccessTest, RingMemoryOfAllUsersIsCappedWithRoomForRoot) {
  // 8 MiB in all, 2 MiB of it for root only; 1 MiB rings by default.
  Build(R"(
    device { name: "mydev0" synthetic {} }
    limits { default_ring_bytes: 1048576 max_ring_bytes: 2097152
             max_ring_bytes_total: 8388608 ring_bytes_reserved_for_root: 2097152 }
  )");
  std::vector<std::shared_ptr<Session>> held;
  for (uint32_t uid : {1500u, 1501u, 1502u}) {
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::shared_ptr<Session>> s = Open(uid, uid);
      ASSERT_TRUE(s.ok()) << s.status();
      held.push_back(*s);
    }
  }
  // 6 MiB held: the 6 MiB users may use are gone, whoever asks next.
  absl::Status refused = Open(1503, 1503).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("ring memory of all users to 7340032 bytes, above the daemon's "
                                   "limit of 6291456 (limits.max_ring_bytes_total 8388608 less "
                                   "2097152 kept for root)"),
            std::string::npos)
      << refused;
  // Root still gets its reserve.
  absl::StatusOr<std::shared_ptr<Session>> root = Open(0, 0, "mydev0", 2097152);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(Open(0, 0).status().code(), absl::StatusCode::kResourceExhausted);
  // Closing gives the memory back to everyone.
  ASSERT_TRUE(manager_->Close(held[0]->id(), TokenOf(*held[0]), 1500).ok());
  EXPECT_TRUE(Open(1503, 1503).ok());
}

// With share_rings, the sessions of one uid that share a ring hold its bytes
// once: the ring is charged while any of them is open, whichever opened it.
TEST_F(SessionAccessTest, SharedRingIsChargedOnce) {
  // 4 MiB per uid (the default here), 2 MiB rings; 16 sessions per ring at most.
  Build(R"(
    device { name: "mydev0" synthetic {} share_rings: true }
    device { name: "mydev1" synthetic {} }
    limits { default_ring_bytes: 2097152 max_ring_bytes: 8388608
             max_sessions_per_uid: 40 max_ring_bytes_per_uid: 4194304
             max_ring_bytes_total: 8388608 ring_bytes_reserved_for_root: 2097152 }
  )");
  devices_[0]->set_share_rings(true);
  std::vector<std::shared_ptr<Session>> shared;
  for (int i = 0; i < 16; ++i) {  // one ring, one 2 MiB charge
    absl::StatusOr<std::shared_ptr<Session>> s = Open(1500, 1500);
    ASSERT_TRUE(s.ok()) << i << ": " << s.status();
    shared.push_back(*s);
  }
  EXPECT_EQ(shared.back()->counters().ring_members, 16u);
  // The 17th opens a second ring: 4 MiB, the uid's limit.
  absl::StatusOr<std::shared_ptr<Session>> second = Open(1500, 1500);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE((*second)->ring(), shared[0]->ring());
  // A ring of another size, or on a device without sharing, is new memory.
  absl::Status over = Open(1500, 1500, "mydev0", 1 << 20).status();
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.message().find("ring memory to 5242880 bytes, above the limit of 4194304"),
            std::string::npos)
      << over;
  EXPECT_EQ(Open(1500, 1500, "mydev1").status().code(), absl::StatusCode::kResourceExhausted);
  // The ring's first session leaving does not free it: its ring-mates hold it.
  ASSERT_TRUE(manager_->Close(shared[0]->id(), TokenOf(*shared[0]), 1500).ok());
  shared[0].reset();  // the session object leaves the ring when it goes
  EXPECT_EQ(Open(1500, 1500, "mydev1").status().code(), absl::StatusCode::kResourceExhausted);
  // Joining it again costs nothing.
  absl::StatusOr<std::shared_ptr<Session>> rejoin = Open(1500, 1500);
  ASSERT_TRUE(rejoin.ok()) << rejoin.status();
  EXPECT_EQ((*rejoin)->ring(), shared[1]->ring());
  shared[0] = *rejoin;
  // All users but root together: 4 of 6 MiB held, so another uid gets one 2 MiB ring
  // (and its ring-mates), not two.
  absl::StatusOr<std::shared_ptr<Session>> other = Open(1501, 1501);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(Open(1501, 1501).ok()) << "joins uid 1501's ring";
  EXPECT_EQ(Open(1501, 1501, "mydev1").status().code(), absl::StatusCode::kResourceExhausted);
  // The last session of a ring gives its bytes back.
  for (const auto& s : shared) ASSERT_TRUE(manager_->Close(s->id(), TokenOf(*s), 1500).ok());
  shared.clear();
  EXPECT_TRUE(Open(1501, 1501, "mydev1").ok()) << "uid 1500's first ring is free again";
  EXPECT_EQ(Open(1502, 1502, "mydev1").status().code(), absl::StatusCode::kResourceExhausted)
      << "uid 1500's second ring is still held";
  ASSERT_TRUE(manager_->Close((*second)->id(), TokenOf(**second), 1500).ok());
  EXPECT_TRUE(Open(1502, 1502, "mydev1").ok());
}

TEST_F(SessionAccessTest, InjectRuleIsCheckedForTheCaller) {
  Build(R"(
    device { name: "mydev0" synthetic {} }
    device { name: "mydev1" synthetic {} access { inject { user: "nobody" } } }
  )");
  const std::vector<uint8_t> frame(60, 0);
  absl::StatusOr<std::shared_ptr<Session>> on1 = Open(65534, 65534, "mydev1");
  ASSERT_TRUE(on1.ok()) << on1.status();  // inject-only rules leave capture open
  // Granted: reaches the backend, which (synthetic) cannot inject.
  EXPECT_EQ(manager_->Inject(**on1, {65534, 65534, 1}, frame).status().code(),
            absl::StatusCode::kUnimplemented);
  absl::StatusOr<std::shared_ptr<Session>> stranger = Open(1500, 1500, "mydev1");
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  absl::Status denied = manager_->Inject(**stranger, {1500, 1500, 1}, frame).status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "uid 1500 may not inject on mydev1: not in device mydev1's inject users/groups");
  // mydev0 has no inject rule: root only.
  absl::StatusOr<std::shared_ptr<Session>> on0 = Open(65534, 65534, "mydev0");
  ASSERT_TRUE(on0.ok()) << on0.status();
  EXPECT_EQ(manager_->Inject(**on0, {65534, 65534, 1}, frame).status().code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace mydev::daemon
