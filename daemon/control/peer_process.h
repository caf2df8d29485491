// peer_process.h — what a capture client's process is called, read once from
// /proc when it opens a session (from the pid SO_PEERCRED gave), so an
// operator sees each session as `top` shows a process.
//
//   PeerProcess p = PeerProcess::Read(creds.pid);
//   // p.comm    == "tcpdump"
//   // p.cmdline == "tcpdump -i mydev0 -n udp"   (at most 256 bytes)
//
// Never an error: a pid of 0 (the peer lives in a pid namespace the daemon
// cannot see), a process already gone, a /proc that hides it (hidepid=) or
// that belongs to another pid namespace all give empty strings. What the
// client put in its argv is untrusted: both strings come out as printable
// UTF-8 (control characters and invalid bytes replaced by '?', as ps does),
// safe for a terminal and for a proto3 string field.
#ifndef MYDEV_DAEMON_CONTROL_PEER_PROCESS_H_
#define MYDEV_DAEMON_CONTROL_PEER_PROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace mydev::daemon {

// A client process's names at the time it opened its session.
struct PeerProcess {
  static constexpr size_t kMaxCommBytes = 64;      // the kernel's is 15 (TASK_COMM_LEN - 1)
  static constexpr size_t kMaxCmdlineBytes = 256;  // SessionStats.cmdline's limit

  std::string comm;     // /proc/PID/comm, without its newline
  std::string cmdline;  // /proc/PID/cmdline, arguments joined by spaces

  // Reads /proc/PID/comm and /proc/PID/cmdline (a few hundred bytes at most).
  // Empty strings where they cannot be read (see the file comment).
  static PeerProcess Read(pid_t pid);
};

// raw made printable: NULs (argument separators) become spaces, trailing NULs
// are dropped; printable ASCII and valid UTF-8 of printable code points are
// kept; every other byte (control characters, DEL, C1 controls, invalid
// UTF-8) becomes '?'. Cut at max_bytes, never inside a character.
// PeerProcess::Read applies it to both files; exposed for tests.
std::string PrintableProcessText(absl::string_view raw, size_t max_bytes);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_PEER_PROCESS_H_
