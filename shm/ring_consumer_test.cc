// ring_consumer_test.cc — MapRingForReading refuses what is not a ring and
// maps a real one with the right protections.
#include "shm/ring_consumer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "gtest/gtest.h"
#include "shm/ring_producer.h"

namespace mydev::shm {
namespace {

UniqueFd Memfd(size_t bytes) {
  UniqueFd fd(memfd_create("test", MFD_CLOEXEC));
  EXPECT_EQ(ftruncate(fd.get(), static_cast<off_t>(bytes)), 0);
  return fd;
}

TEST(MapRingForReading, RejectsWhatIsNotARing) {
  UniqueFd ctl = Memfd(4096);
  UniqueFd tiny = Memfd(100);
  EXPECT_EQ(MapRingForReading(tiny.get(), ctl.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  UniqueFd zeros = Memfd(4096 + (1 << 20));  // right size, no header
  EXPECT_EQ(MapRingForReading(zeros.get(), ctl.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  UniqueFd small_ctl = Memfd(64);
  auto ring = RingProducer::Create({});
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(MapRingForReading((*ring)->ring_fd(), small_ctl.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(MapRingForReading(-1, ctl.get()).ok());
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  EXPECT_EQ(MapRingForReading(pipefd[0], ctl.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  close(pipefd[0]);
  close(pipefd[1]);
}

TEST(MapRingForReading, MapsARingAndOutlivesTheFds) {
  auto ring = RingProducer::Create({.data_bytes = 2 << 20, .dlt = 105});
  ASSERT_TRUE(ring.ok());
  UniqueFd r(dup((*ring)->ring_fd())), c(dup((*ring)->ctl_fd()));
  auto m = MapRingForReading(r.get(), c.get());
  ASSERT_TRUE(m.ok()) << m.status();
  r.reset();
  c.reset();
  EXPECT_EQ(m->header()->dlt, 105u);
  EXPECT_EQ(m->view()->data_bytes, 2u << 20);
  EXPECT_EQ(m->ring_map_bytes(), 4096u + (2 << 20));
  const uint8_t pkt[1] = {42};
  ASSERT_TRUE((*ring)->Write(1, 1, 0, pkt, 1));
  (*ring)->Publish(0);
  MappedRing moved = std::move(*m);
  const mydev_ring_record* rec = mydev_ring_next(moved.view());
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(mydev_ring_record_data(rec)[0], 42);
  mydev_ring_release(moved.view());
  // The ctl page is the client's to write: the producer sees the release.
  EXPECT_EQ(static_cast<mydev_ring_control*>(moved.ctl_map())->consumer_pos,
            moved.view()->consumer_pos);
}

}  // namespace
}  // namespace mydev::shm
