// fd_socket_attacks.cc — abuse of the fd hand-off socket: connections that
// never send a token (`fd-no-token`), wrong, unknown, short and long
// requests (`fd-wrong-token`), hundreds of connections at once while a real
// client attaches (`fd-flood`), and one that connects and stays silent
// (`fd-silent`).
#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "base/unix_socket.h"
#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/raw_handoff.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {

int FdNoToken() {
  const int n = static_cast<int>(NOr(200));
  int connected = 0;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<UniqueFd> s = ConnectUnix(FdSocket());
    if (s.ok()) ++connected;
  }
  Print("attack=fd-no-token tries=" + std::to_string(n) +
        " connected=" + std::to_string(connected));
  return 0;
}

int FdWrongToken(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string line = "attack=fd-wrong-token";
  line += " wrong_token=" +
          std::to_string(RawHandoff(FdSocket(), HandoffBytes(o.session_id(), RandomBytes(32))));
  line += " unknown_session=" +
          std::to_string(RawHandoff(FdSocket(), HandoffBytes(o.session_id() + 99999, o.token())));
  line += " short_request=" + std::to_string(RawHandoff(FdSocket(), std::string(10, 'x')));
  line += " long_request=" +
          std::to_string(RawHandoff(FdSocket(), HandoffBytes(o.session_id(), o.token()) + "extra"));
  // The real owner can still attach after all that.
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  line += " owner_attach=" + std::to_string(a.has_value());
  Print(line);
  CloseSession(stub, Ref(o));
  return 0;
}

// --n connections at once, held while a real client attaches, then half send
// garbage and all close.
int FdFlood(Capture::Stub* stub) {
  const int n = static_cast<int>(NOr(500));
  std::vector<UniqueFd> conns;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<UniqueFd> s = ConnectUnix(FdSocket());
    if (s.ok()) conns.push_back(std::move(*s));
  }
  TimedOpen t = OpenAndAttachTimed(stub);
  for (size_t i = 0; i < conns.size(); i += 2) {
    std::string junk = RandomBytes(40);
    (void)!send(conns[i].get(), junk.data(), junk.size(), MSG_NOSIGNAL);
  }
  conns.clear();
  Print("attack=fd-flood connected=" + std::to_string(n) +
        " attach_during_flood=" + std::to_string(t.attached.has_value()) +
        " attach_ms=" + std::to_string(t.ms) + " error=" + Quote(t.error));
  if (t.status.ok()) CloseSession(stub, Ref(t.open));
  return 0;
}

// Connects and never speaks: how long until the daemon hangs up?
int FdSilent() {
  absl::StatusOr<UniqueFd> s = ConnectUnix(FdSocket());
  if (!s.ok()) return 1;
  const int64_t t0 = NowMs();
  char b;
  ssize_t n = RecvWithTimeout(s->get(), &b, 1, static_cast<int>(absl::GetFlag(FLAGS_wait_ms)));
  Print("attack=fd-silent dropped=" + std::to_string(n == 0 || n == -1) +
        " dropped_after_ms=" + std::to_string(NowMs() - t0));
  return 0;
}

}  // namespace mydev::hostile
