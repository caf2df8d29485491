// well_behaved.cc — the roles that behave: `reader` (the reference session
// that must see every packet while others attack), `idle` and `owner` (a
// session held open and never read), and `open-timed` (one open and attach,
// timed, as a user would during a flood).
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "shm/ring_consumer.h"
#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {
namespace {

// The sequence number the synthetic generator puts in every frame.
std::optional<uint64_t> SeqOf(const uint8_t* data, uint32_t caplen) {
  static const char kMagic[] = "MYDEVSEQ";
  const void* at = memmem(data, caplen, kMagic, 8);
  if (at == nullptr) return std::nullopt;
  size_t off = static_cast<const uint8_t*>(at) - data;
  if (off + 16 > caplen) return std::nullopt;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | data[off + 8 + i];
  return v;
}

}  // namespace

// Reads every packet for --seconds (or until SIGTERM/SIGINT, or the daemon
// closes the ring) and checks the sequence numbers are consecutive.
int Reader(Capture::Stub* stub) {
  auto s = OpenAttached(stub);
  if (!s) return 1;
  auto& [o, a] = *s;
  const int64_t end = NowMs() + static_cast<int64_t>(SecondsOr(3600) * 1000);
  uint64_t received = 0, gaps = 0, missing = 0, noseq = 0, backwards = 0;
  std::optional<uint64_t> first, last;
  mydev_ring_view* v = a.ring.view();
  bool closed = false;
  auto drain = [&] {
    while (const mydev_ring_record* r = mydev_ring_next(v)) {
      ++received;
      std::optional<uint64_t> seq = SeqOf(mydev_ring_record_data(r), r->caplen);
      if (!seq) {
        ++noseq;
        continue;
      }
      if (!first) first = seq;
      if (last && *seq != *last + 1) {
        ++gaps;
        if (*seq > *last)
          missing += *seq - *last - 1;
        else
          ++backwards;
      }
      last = seq;
    }
    mydev_ring_release(v);
  };
  while (!StopRequested() && NowMs() < end) {
    drain();
    if (v->corrupt) break;
    if (mydev_ring_closed(v)) {
      drain();
      closed = true;
      break;
    }
    absl::StatusOr<bool> w = shm::WaitForData(a.ring, a.event.get(), 50);
    if (!w.ok()) break;
  }
  drain();
  Print("received=" + std::to_string(received) + " first_seq=" + std::to_string(first.value_or(0)) +
        " last_seq=" + std::to_string(last.value_or(0)) + " gaps=" + std::to_string(gaps) +
        " missing=" + std::to_string(missing) + " backwards=" + std::to_string(backwards) +
        " noseq=" + std::to_string(noseq) + " corrupt=" + std::to_string(v->corrupt) +
        " closed=" + std::to_string(closed));
  PrintFinalStats(stub, o, a);
  return 0;
}

// Opens and attaches (printing its id and token, for an intruder), then never
// reads until stopped; at the end prints its session's stats. The roles
// `idle` (its ring fills up) and `owner` (the session must survive an
// intruder) both run this.
int HoldSession(Capture::Stub* stub) {
  auto s = OpenAttached(stub);
  if (!s) return 1;
  SleepUntilStopped(SecondsOr(3600));
  PrintFinalStats(stub, s->first, s->second);
  return 0;
}

// One OpenSession + fd hand-off, timed (a well-behaved user during a flood).
int OpenTimed(Capture::Stub* stub) {
  TimedOpen t = OpenAndAttachTimed(stub);
  Print("attack=open-timed code=" + std::string(CodeName(t.status.error_code())) + " attached=" +
        std::to_string(t.attached.has_value()) + " open_attach_ms=" + std::to_string(t.ms) +
        " message=" + Quote(t.status.error_message() + t.error));
  if (t.status.ok()) CloseSession(stub, Ref(t.open));
  return 0;
}

}  // namespace mydev::hostile
