// token_attacks.cc — attacks on sessions through their id and token: another
// uid using an owner's token on every call (`intruder`), forged tokens
// (`token-forged`), a closed session's token (`token-stale`) and a second
// fd hand-off with a used token (`token-reused`).
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "shm/ring_consumer.h"
#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/raw_handoff.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {

// Another uid, given an owner's session id and token, tries everything.
int Intruder(Capture::Stub* stub) {
  const uint64_t id = absl::GetFlag(FLAGS_session);
  const std::string token = Unhex(absl::GetFlag(FLAGS_token));
  const mydev::v1::SessionRef ref = Ref(id, token);
  auto report = [](const char* call, const grpc::Status& st) {
    Print(std::string("call=") + call + " code=" + CodeName(st.error_code()) +
          " message=" + Quote(st.error_message()));
  };
  {
    mydev::v1::SessionStats out;
    report("stats", GetStats(stub, ref, &out));
  }
  {
    mydev::v1::SetFilterRequest req;
    *req.mutable_session() = ref;
    auto* insn = req.add_insns();
    insn->set_code(0x06);  // BPF_RET|BPF_K 0: drop everything
    mydev::v1::SetFilterResponse resp;
    report("filter", Call(&Capture::Stub::SetFilter, stub, req, &resp));
  }
  {
    mydev::v1::SetDirectionRequest req;
    *req.mutable_session() = ref;
    req.set_direction(mydev::v1::DIRECTION_OUT);
    mydev::v1::SetDirectionResponse resp;
    report("direction", Call(&Capture::Stub::SetDirection, stub, req, &resp));
  }
  {
    mydev::v1::SetDataLinkRequest req;
    *req.mutable_session() = ref;
    req.set_dlt(1);
    mydev::v1::SetDataLinkResponse resp;
    report("datalink", Call(&Capture::Stub::SetDataLink, stub, req, &resp));
  }
  {
    mydev::v1::InjectRequest req;
    *req.mutable_session() = ref;
    req.set_packet(std::string(60, '\xff'));
    mydev::v1::InjectResponse resp;
    report("inject", Call(&Capture::Stub::Inject, stub, req, &resp));
  }
  report("close", CloseSession(stub, ref));
  int fds = RawHandoff(FdSocket(), HandoffBytes(id, token));
  Print("call=fds reply=" + std::to_string(fds));
  return 0;
}

int TokenForged(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  mydev::v1::SessionStats s;
  std::string line = "attack=token-forged";
  line += std::string(" random_token=") +
          CodeName(GetStats(stub, Ref(o.session_id(), RandomBytes(32)), &s).error_code());
  std::string flipped = o.token();
  flipped[31] ^= 1;
  line += std::string(" one_bit_off=") +
          CodeName(GetStats(stub, Ref(o.session_id(), flipped), &s).error_code());
  line += std::string(" empty_token=") +
          CodeName(GetStats(stub, Ref(o.session_id(), ""), &s).error_code());
  line += std::string(" long_token=") +
          CodeName(GetStats(stub, Ref(o.session_id(), o.token() + "x"), &s).error_code());
  line += std::string(" unknown_id=") +
          CodeName(GetStats(stub, Ref(o.session_id() + 100000, o.token()), &s).error_code());
  line += std::string(" close_forged=") +
          CodeName(CloseSession(stub, Ref(o.session_id(), RandomBytes(32))).error_code());
  line += " fds_forged=" +
          std::to_string(RawHandoff(o.fd_socket(), HandoffBytes(o.session_id(), RandomBytes(32))));
  line += std::string(" after=") + CodeName(GetStats(stub, Ref(o), &s).error_code());
  Print(line);
  CloseSession(stub, Ref(o));
  return 0;
}

int TokenStale(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  std::string line = "attack=token-stale attached=" + std::to_string(a.has_value());
  line += std::string(" close=") + CodeName(CloseSession(stub, Ref(o)).error_code());
  const int64_t t0 = NowMs();
  mydev::v1::SessionStats s;
  line += std::string(" stats=") + CodeName(GetStats(stub, Ref(o), &s).error_code());
  mydev::v1::SetFilterRequest f;
  *f.mutable_session() = Ref(o);
  mydev::v1::SetFilterResponse fr;
  line += std::string(" filter=") +
          CodeName(Call(&Capture::Stub::SetFilter, stub, f, &fr).error_code());
  line += std::string(" close_again=") + CodeName(CloseSession(stub, Ref(o)).error_code());
  line +=
      " fds=" + std::to_string(RawHandoff(o.fd_socket(), HandoffBytes(o.session_id(), o.token())));
  if (a) {
    char b;
    ssize_t n = RecvWithTimeout(a->sock.get(), &b, 1, 3000);
    line += " fd_socket_closed=" + std::to_string(n == 0) +
            " fd_socket_closed_ms=" + std::to_string(NowMs() - t0);
  }
  Print(line);
  return 0;
}

int TokenReused(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  std::string line = "attack=token-reused attached=" + std::to_string(a.has_value());
  line += " second_fds=" +
          std::to_string(RawHandoff(o.fd_socket(), HandoffBytes(o.session_id(), o.token())));
  line += " third_fds=" +
          std::to_string(RawHandoff(o.fd_socket(), HandoffBytes(o.session_id(), o.token())));
  const uint64_t got = a ? ReadSomePackets(*a, 1000) : 0;
  mydev::v1::SessionStats s;
  line += " first_still_reads=" + std::to_string(got > 0) +
          " after=" + CodeName(GetStats(stub, Ref(o), &s).error_code());
  Print(line);
  CloseSession(stub, Ref(o));
  return 0;
}

}  // namespace mydev::hostile
