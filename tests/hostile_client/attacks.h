// attacks.h — every attack and role hostile_client runs, by the file that
// holds it; main.cc maps the --attack names to them. Each prints its result
// as key=value lines (report.h) and returns the exit status: 0 when the
// attack ran (whatever the daemon answered), 1 when it could not start.
#ifndef MYDEV_TESTS_HOSTILE_CLIENT_ATTACKS_H_
#define MYDEV_TESTS_HOSTILE_CLIENT_ATTACKS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/hostile_client/session.h"

namespace mydev::hostile {

// One classic BPF instruction: code, jt, jf, k.
using Insn = std::array<uint32_t, 4>;

// well_behaved.cc
int Reader(Capture::Stub* stub);       // reader: every packet, sequence numbers checked
int HoldSession(Capture::Stub* stub);  // idle, owner: open, attach, never read
int OpenTimed(Capture::Stub* stub);    // open-timed: one open + attach, timed

// malformed_requests.cc
int BadFilter(Capture::Stub* stub, const std::string& name,
              const std::vector<Insn>& prog);  // bpf-*
int BadOpen(Capture::Stub* stub, const std::string& name,
            const std::function<void(mydev::v1::OpenSessionRequest*)>& mutate);  // open-*
int SetDataLinkUnknown(Capture::Stub* stub);  // set-datalink-unknown
int OversizedMessage(Capture::Stub* stub);    // oversized-message

// token_attacks.cc
int Intruder(Capture::Stub* stub);     // intruder: another uid with an owner's token
int TokenForged(Capture::Stub* stub);  // token-forged
int TokenStale(Capture::Stub* stub);   // token-stale
int TokenReused(Capture::Stub* stub);  // token-reused

// ring_scribble.cc
int RingScribble(Capture::Stub* stub);  // ring-scribble

// fd_socket_attacks.cc
int FdNoToken();                        // fd-no-token
int FdWrongToken(Capture::Stub* stub);  // fd-wrong-token
int FdFlood(Capture::Stub* stub);       // fd-flood
int FdSilent();                         // fd-silent

// session_exhaustion.cc
int Churn(Capture::Stub* stub);         // churn
int SessionLimit(Capture::Stub* stub);  // session-limit

// socket_floods.cc
int ConnFlood(Capture::Stub* stub);  // conn-flood
int WatchFlood();                    // watch-flood (exits the process itself)

}  // namespace mydev::hostile

#endif  // MYDEV_TESTS_HOSTILE_CLIENT_ATTACKS_H_
