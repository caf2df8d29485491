// peer_process.cc — see peer_process.h.
#include "daemon/control/peer_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mydev::daemon {
namespace {

// Length of the valid UTF-8 sequence of a printable code point (>= U+00A0)
// at s[0], or 0 if there is none (invalid, overlong, surrogate, beyond
// U+10FFFF, truncated, or a C1 control character).
size_t PrintableUtf8Length(absl::string_view s) {
  const auto byte = [&s](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  size_t n;
  uint32_t cp;
  if (lead >= 0xc2 && lead <= 0xdf) {
    n = 2;
    cp = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    n = 3;
    cp = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    n = 4;
    cp = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  if (cp < 0xa0) return 0;  // C1 controls (U+0080..U+009F): a terminal may act on them
  return n;
}

// Up to max_bytes of the file, or "" if it cannot be read.
std::string ReadSmallFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return "";
  std::string out(max_bytes, '\0');
  size_t got = 0;
  while (got < max_bytes) {
    const ssize_t n = ::read(fd, out.data() + got, max_bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF, or the process went away (ESRCH) mid-read
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

// True when /proc is the procfs of the daemon's own pid namespace, so the
// pid SO_PEERCRED gave (translated into that namespace) names the right
// process there.
bool ProcMatchesOurPidNamespace() {
  char buf[32];
  const ssize_t n = ::readlink("/proc/self", buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return false;
  int self = 0;
  return absl::SimpleAtoi(absl::string_view(buf, static_cast<size_t>(n)), &self) &&
         self == ::getpid();
}

}  // namespace

std::string PrintableProcessText(absl::string_view raw, size_t max_bytes) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  std::string out;
  out.reserve(std::min(raw.size(), max_bytes));
  size_t i = 0;
  while (i < raw.size()) {
    const uint8_t c = static_cast<uint8_t>(raw[i]);
    if (c == '\0' || (c >= 0x20 && c < 0x7f)) {
      if (out.size() + 1 > max_bytes) break;
      out.push_back(c == '\0' ? ' ' : static_cast<char>(c));
      ++i;
      continue;
    }
    const size_t n = c >= 0x80 ? PrintableUtf8Length(raw.substr(i)) : 0;
    if (n == 0) {
      if (out.size() + 1 > max_bytes) break;
      out.push_back('?');
      ++i;
      continue;
    }
    if (out.size() + n > max_bytes) break;
    out.append(raw.data() + i, n);
    i += n;
  }
  return out;
}

PeerProcess PeerProcess::Read(pid_t pid) {
  PeerProcess p;
  if (pid <= 0 || !ProcMatchesOurPidNamespace()) return p;
  const std::string dir = absl::StrCat("/proc/", pid, "/");
  std::string comm = ReadSmallFile(dir + "comm", kMaxCommBytes + 1);
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  p.comm = PrintableProcessText(comm, kMaxCommBytes);
  // Every byte read gives one byte of text or none (trailing NULs), so a few
  // times the limit is enough even with NUL padding (setproctitle).
  p.cmdline =
      PrintableProcessText(ReadSmallFile(dir + "cmdline", 4 * kMaxCmdlineBytes), kMaxCmdlineBytes);
  return p;
}

}  // namespace mydev::daemon
