// replay_backend.cc — reading the file with libpcap and the paced replay thread.
#include "daemon/backends/replay/replay_backend.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"

namespace mydev::daemon {
namespace {

// Offsets are clamped here (about 36 years) so deadlines never overflow.
constexpr int64_t kMaxOffsetNs = int64_t{1} << 60;

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

// A pcap_t reading the open file `fd` from its start (through a dup, which
// pcap_close closes; the dup shares the file offset, hence the rewind).
absl::StatusOr<PcapHandle> ReadFromStart(int fd, const std::string& path) {
  if (lseek(fd, 0, SEEK_SET) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("rewinding replay file '", path, "'"));
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return absl::ErrnoToStatus(errno, absl::StrCat("dup of replay file '", path, "'"));
  FILE* f = fdopen(copy, "rb");
  if (f == nullptr) {
    int e = errno;
    close(copy);
    return absl::ErrnoToStatus(e, absl::StrCat("fdopen of replay file '", path, "'"));
  }
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p != nullptr) return PcapHandle(p);  // pcap_close fcloses f
  std::fclose(f);
  return absl::InvalidArgumentError(
      absl::StrCat("cannot read replay file '", path, "' as pcap or pcapng: ", errbuf));
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

ReplayBackend::ReplayBackend(DeviceInfo info, const ReplayOptions& options, int dlt,
                             UniqueFd file)
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

bool ReplayBackend::SleepUntil(int64_t deadline_ns) {
  int64_t wait = deadline_ns - ClockNs(CLOCK_MONOTONIC);
  absl::MutexLock lock(&mu_);
  if (wait > 0) mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Nanoseconds(wait));
  return !stopping_;
}

void ReplayBackend::Run(PacketSink sink) {
  const uint32_t max_batch = std::max<uint32_t>(1, options_.max_batch);
  const double speed = options_.speed;
  std::vector<std::vector<uint8_t>> frames(max_batch);
  std::vector<Packet> batch(max_batch);
  size_t n = 0;
  const int64_t start_mono = ClockNs(CLOCK_MONOTONIC);
  const int64_t start_real = ClockNs(CLOCK_REALTIME);
  int64_t pass_base = 0;    // offset of this pass's first packet
  int64_t last_offset = 0;  // offset of the latest packet queued

  // Hands the queued packets to the sink; false when Stop() was called.
  auto flush = [&]() -> bool {
    if (n > 0) {
      if (speed == 0) {
        const uint64_t now = static_cast<uint64_t>(ClockNs(CLOCK_REALTIME));
        for (size_t i = 0; i < n; ++i) batch[i].ts_ns = now;
      }
      sink(absl::MakeConstSpan(batch.data(), n));
      replayed_.fetch_add(n, std::memory_order_relaxed);
      n = 0;
    }
    return !Stopping();
  };

  for (;;) {
    absl::StatusOr<PcapHandle> file = ReadFromStart(file_.get(), options_.path);
    if (!file.ok()) {
      MYDEV_LOG(kWarning, "%s: replay stopped: %s", info_.name, file.status().ToString());
      break;
    }
    if (pcap_datalink(file->get()) != dlt_) {
      MYDEV_LOG(kWarning, "%s: replay stopped: '%s' now has link type %d, the device has %d",
                info_.name, options_.path, pcap_datalink(file->get()), dlt_);
      break;
    }
    uint64_t in_pass = 0;
    int64_t first_ts = 0;
    for (;;) {
      pcap_pkthdr* h = nullptr;
      const u_char* data = nullptr;
      int rc = pcap_next_ex(file->get(), &h, &data);
      if (rc == PCAP_ERROR_BREAK) break;  // end of file
      if (rc != 1) {
        MYDEV_LOG(kWarning, "%s: reading '%s' after %d packets: %s; ending this pass",
                  info_.name, options_.path, in_pass, pcap_geterr(file->get()));
        break;
      }
      // Nanosecond precision: tv_usec holds nanoseconds.
      const int64_t ts = static_cast<int64_t>(h->ts.tv_sec) * 1'000'000'000 + h->ts.tv_usec;
      if (in_pass == 0) first_ts = ts;
      ++in_pass;
      if (speed > 0) {
        double scaled = static_cast<double>(ts - first_ts) / speed;
        int64_t delta = scaled <= 0 ? 0
                        : scaled >= static_cast<double>(kMaxOffsetNs)
                            ? kMaxOffsetNs
                            : static_cast<int64_t>(scaled);
        int64_t offset = std::min(kMaxOffsetNs, pass_base + delta);
        last_offset = std::max(last_offset, offset);
        const int64_t due = start_mono + last_offset;
        if (due > ClockNs(CLOCK_MONOTONIC)) {
          if (!flush() || !SleepUntil(due)) return;
        }
      }
      std::vector<uint8_t>& frame = frames[n];
      frame.assign(data, data + h->caplen);
      Packet& p = batch[n];
      p.data = frame.data();
      p.caplen = h->caplen;
      p.len = std::max(h->len, h->caplen);
      p.direction = PacketDirection::kIn;
      p.ts_ns = static_cast<uint64_t>(start_real + last_offset);
      if (++n == max_batch && !flush()) return;
    }
    file->reset();
    if (!flush()) return;
    passes_.fetch_add(1, std::memory_order_relaxed);
    if (!options_.loop) break;
    if (in_pass == 0) {
      MYDEV_LOG(kWarning, "%s: '%s' has no packets; not looping over an empty file",
                info_.name, options_.path);
      break;
    }
    pass_base = last_offset;
  }
  finished_.store(true, std::memory_order_release);
  MYDEV_LOG(kInfo, "%s: replay of '%s' finished after %d packets; the device stays, idle",
            info_.name, options_.path, packets_replayed());
}

}  // namespace mydev::daemon
