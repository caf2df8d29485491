// replay_backend.cc — reading the file with libpcap and the paced replay thread.
#include "daemon/backends/replay/replay_backend.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"

namespace mydev::daemon {
namespace {

// Offsets are clamped here (about 36 years) so deadlines never overflow.
constexpr int64_t kMaxOffsetNs = int64_t{1} << 60;
// The pause after a looping pass that ended in a read error: doubles after
// each such pass up to kMaxBackoff, back to kFirstBackoff after a clean one.
constexpr absl::Duration kFirstBackoff = absl::Seconds(1);
constexpr absl::Duration kMaxBackoff = absl::Seconds(30);

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

// A pcap_t reading the open file `fd` from its start (through a dup, which
// pcap_close closes; the dup shares the file offset, hence the rewind).
absl::StatusOr<PcapHandle> ReadFromStart(int fd, const std::string& path) {
  if (lseek(fd, 0, SEEK_SET) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("rewinding replay file '", path, "'"));
  UniqueFd copy(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid())
    return absl::ErrnoToStatus(errno, absl::StrCat("dup of replay file '", path, "'"));
  FILE* f = fdopen(copy.get(), "rb");
  if (f == nullptr)
    return absl::ErrnoToStatus(errno, absl::StrCat("fdopen of replay file '", path, "'"));
  copy.release();  // f owns the dup now
  absl::Cleanup close_f = [f] { std::fclose(f); };
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read replay file '", path, "' as pcap or pcapng: ", errbuf));
  std::move(close_f).Cancel();  // pcap_close fcloses f
  return PcapHandle(p);
}

absl::StatusOr<UniqueFd> OpenFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT)
      return absl::NotFoundError(absl::StrCat("replay file '", path, "' does not exist"));
    return absl::ErrnoToStatus(errno, absl::StrCat("opening replay file '", path, "'"));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(
        absl::StrCat("replay file '", path, "' is not a regular file"));
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplayBackend>> ReplayBackend::Open(DeviceInfo info,
                                                                   const ReplayOptions& options) {
  if (!(options.speed >= 0))  // also NaN
    return absl::InvalidArgumentError(
        absl::StrCat("replay speed ", options.speed, " must be 0 or positive"));
  absl::StatusOr<UniqueFd> fd = OpenFile(options.path);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<PcapHandle> file = ReadFromStart(fd->get(), options.path);
  if (!file.ok()) return file.status();
  const int dlt = pcap_datalink(file->get());
  info.dlts = {dlt};
  if (info.description.empty()) info.description = "replay of " + options.path;
  return std::unique_ptr<ReplayBackend>(
      new ReplayBackend(std::move(info), options, dlt, std::move(*fd)));
}

ReplayBackend::ReplayBackend(DeviceInfo info, const ReplayOptions& options, int dlt, UniqueFd file)
    : info_(std::move(info)), options_(options), dlt_(dlt), file_(std::move(file)) {}

ReplayBackend::~ReplayBackend() { Stop(); }

absl::Status ReplayBackend::Start(PacketSink sink) {
  if (thread_.joinable())
    return absl::FailedPreconditionError("device '" + info_.name + "' is already started");
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  finished_.store(false, std::memory_order_release);
  thread_ = std::thread([this, sink = std::move(sink)] { Run(sink); });
  return absl::OkStatus();
}

void ReplayBackend::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool ReplayBackend::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

absl::Status ReplayBackend::Health() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

void ReplayBackend::SetError(absl::Status error) {
  absl::MutexLock lock(&mu_);
  error_ = std::move(error);
}

bool ReplayBackend::SleepUntil(int64_t deadline_ns) {
  int64_t wait = deadline_ns - ClockNs(CLOCK_MONOTONIC);
  absl::MutexLock lock(&mu_);
  if (wait > 0) mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Nanoseconds(wait));
  return !stopping_;
}

class ReplayBackend::Player {
 public:
  Player(ReplayBackend& backend, PacketSink sink)
      : b_(backend),
        sink_(std::move(sink)),
        max_batch_(std::max<uint32_t>(1, backend.options_.max_batch)),
        speed_(backend.options_.speed),
        frames_(max_batch_),
        batch_(max_batch_),
        start_mono_(ClockNs(CLOCK_MONOTONIC)),
        start_real_(ClockNs(CLOCK_REALTIME)) {}

  // Plays pass after pass until the last one (no loop) or one the file
  // cannot give (both: finished), or until Stop(). A looping pass that ended
  // in a read error is followed by a back-off (kFirstBackoff, doubling up to
  // kMaxBackoff; a clean pass resets it): a bad record costs one pass and one
  // log line per back-off, never a busy loop. Health() reports the error
  // until a pass ends cleanly.
  void Run() {
    absl::Duration backoff = kFirstBackoff;
    for (;;) {
      PcapHandle file = OpenPass();
      if (file == nullptr) break;
      uint64_t packets = 0;
      std::string error;
      if (!PlayPass(file.get(), &packets, &error)) return;
      file.reset();
      if (!Flush()) return;
      const bool again = EndPass(packets);
      if (error.empty()) {
        b_.SetError(absl::OkStatus());
        backoff = kFirstBackoff;
        if (!again) break;
        continue;
      }
      const std::string why =
          absl::StrCat("reading '", b_.options_.path, "' after ", packets, " packets: ", error);
      if (!again) {
        MYDEV_LOG(kWarning, "%s: %s; ending the replay", b_.info_.name, why);
        b_.SetError(absl::UnavailableError(absl::StrCat("replay ended in error: ", why)));
        break;
      }
      MYDEV_LOG(kWarning, "%s: %s; next pass in %s (pass %d)", b_.info_.name, why,
                absl::FormatDuration(backoff), b_.passes_completed());
      b_.SetError(absl::UnavailableError(absl::StrCat("replay pass ", b_.passes_completed(),
                                                      " ended in error: ", why, "; next pass in ",
                                                      absl::FormatDuration(backoff))));
      if (!b_.SleepUntil(ClockNs(CLOCK_MONOTONIC) + absl::ToInt64Nanoseconds(backoff))) return;
      // The replay clock moves on by the back-off: the next pass is paced
      // from now, not played in a burst to catch up.
      pass_base_ = std::max(pass_base_, ClockNs(CLOCK_MONOTONIC) - start_mono_);
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    b_.finished_.store(true, std::memory_order_release);
    MYDEV_LOG(kInfo, "%s: replay of '%s' finished after %d packets; the device stays, idle",
              b_.info_.name, b_.options_.path, b_.packets_replayed());
  }

 private:
  // The file from its start for the next pass; null (logged) when it cannot
  // be read any more or no longer has the device's link type.
  PcapHandle OpenPass() const {
    absl::StatusOr<PcapHandle> file = ReadFromStart(b_.file_.get(), b_.options_.path);
    if (!file.ok()) {
      MYDEV_LOG(kWarning, "%s: replay stopped: %s", b_.info_.name, file.status().ToString());
      b_.SetError(
          absl::UnavailableError(absl::StrCat("replay stopped: ", file.status().message())));
      return nullptr;
    }
    if (pcap_datalink(file->get()) != b_.dlt_) {
      const std::string why =
          absl::StrCat("'", b_.options_.path, "' now has link type ", pcap_datalink(file->get()),
                       ", the device has ", b_.dlt_);
      MYDEV_LOG(kWarning, "%s: replay stopped: %s", b_.info_.name, why);
      b_.SetError(absl::UnavailableError(absl::StrCat("replay stopped: ", why)));
      return nullptr;
    }
    return std::move(*file);
  }

  // Paces and queues every packet of one pass; *packets counts them. A read
  // error ends the pass as the end of the file does, and is put in *error
  // (Run() logs it). False when stopping.
  bool PlayPass(pcap_t* file, uint64_t* packets, std::string* error) {
    int64_t first_ts = 0;
    for (;;) {
      pcap_pkthdr* h = nullptr;
      const u_char* data = nullptr;
      int rc = pcap_next_ex(file, &h, &data);
      if (rc == PCAP_ERROR_BREAK) return true;  // end of file
      if (rc != 1) {
        *error = pcap_geterr(file);
        if (error->empty()) *error = absl::StrCat("pcap_next_ex returned ", rc);
        return true;
      }
      // Nanosecond precision: tv_usec holds nanoseconds.
      const int64_t ts = static_cast<int64_t>(h->ts.tv_sec) * 1'000'000'000 + h->ts.tv_usec;
      if (*packets == 0) first_ts = ts;
      ++*packets;
      if (!Pace(ts - first_ts) || !Queue(*h, data)) return false;
    }
  }

  // Moves the replay clock to a packet recorded `recorded_ns` after its
  // pass's first one and, when that is still ahead, hands over what is queued
  // and sleeps until then. Not paced at speed 0. False when stopping.
  bool Pace(int64_t recorded_ns) {
    if (!(speed_ > 0)) return true;
    double scaled = static_cast<double>(recorded_ns) / speed_;
    int64_t delta = scaled <= 0                                   ? 0
                    : scaled >= static_cast<double>(kMaxOffsetNs) ? kMaxOffsetNs
                                                                  : static_cast<int64_t>(scaled);
    int64_t offset = std::min(kMaxOffsetNs, pass_base_ + delta);
    last_offset_ = std::max(last_offset_, offset);
    const int64_t due = start_mono_ + last_offset_;
    if (due > ClockNs(CLOCK_MONOTONIC)) return Flush() && b_.SleepUntil(due);
    return true;
  }

  // Copies one packet into the batch, stamped with the replay clock; a full
  // batch goes to the sink. False when stopping.
  bool Queue(const pcap_pkthdr& h, const u_char* data) {
    std::vector<uint8_t>& frame = frames_[n_];
    frame.assign(data, data + h.caplen);
    Packet& p = batch_[n_];
    p.data = frame.data();
    p.caplen = h.caplen;
    p.len = std::max(h.len, h.caplen);
    p.direction = PacketDirection::kIn;
    p.ts_ns = static_cast<uint64_t>(start_real_ + last_offset_);
    return ++n_ < max_batch_ || Flush();
  }

  // Hands the queued packets to the sink (at speed 0, stamped now). False
  // when Stop() was called.
  bool Flush() {
    if (n_ > 0) {
      if (speed_ == 0) {
        const uint64_t now = static_cast<uint64_t>(ClockNs(CLOCK_REALTIME));
        for (size_t i = 0; i < n_; ++i) batch_[i].ts_ns = now;
      }
      sink_(absl::MakeConstSpan(batch_.data(), n_));
      b_.replayed_.fetch_add(n_, std::memory_order_relaxed);
      n_ = 0;
    }
    return !b_.Stopping();
  }

  // Counts a finished pass; true when another one follows: looping, over a
  // file that had packets (an empty one would spin).
  bool EndPass(uint64_t packets) {
    b_.passes_.fetch_add(1, std::memory_order_relaxed);
    if (!b_.options_.loop) return false;
    if (packets == 0) {
      MYDEV_LOG(kWarning, "%s: '%s' has no packets; not looping over an empty file", b_.info_.name,
                b_.options_.path);
      return false;
    }
    pass_base_ = last_offset_;  // the next pass starts where this one ended
    return true;
  }

  ReplayBackend& b_;
  const PacketSink sink_;
  const uint32_t max_batch_;
  const double speed_;
  std::vector<std::vector<uint8_t>> frames_;  // the batch's bytes
  std::vector<Packet> batch_;
  size_t n_ = 0;  // packets queued in batch_
  const int64_t start_mono_;
  const int64_t start_real_;
  int64_t pass_base_ = 0;    // offset of this pass's first packet
  int64_t last_offset_ = 0;  // offset of the latest packet queued
};

void ReplayBackend::Run(PacketSink sink) {
  // Wake at each packet's recorded time, not up to 50 us later (the default
  // slack): a session in immediate mode sees the packet that much sooner.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  Player(*this, std::move(sink)).Run();
}

}  // namespace mydev::daemon
