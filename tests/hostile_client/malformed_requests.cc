// malformed_requests.cc — RPCs with bad contents: malformed BPF programs
// (`bpf-*`), OpenSession with one absurd field (`open-*`), SetDataLink to an
// unknown link type (`set-datalink-unknown`), and requests bigger than the
// daemon's max_message_bytes (`oversized-message`). Each checks the session
// or the daemon is unharmed afterwards.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "shm/ring_consumer.h"
#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {

// Opens a session, sets a filter, reports the code, and checks the session is
// unchanged (still there, no filter).
int BadFilter(Capture::Stub* stub, const std::string& name,
              const std::vector<std::array<uint32_t, 4>>& prog) {
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, DefaultOpen(), &o);
  if (!st.ok()) {
    Print("attack=" + name + " open_code=" + CodeName(st.error_code()));
    return 1;
  }
  mydev::v1::SetFilterRequest req;
  *req.mutable_session() = Ref(o);
  for (const auto& i : prog) {
    auto* insn = req.add_insns();
    insn->set_code(i[0]);
    insn->set_jt(i[1]);
    insn->set_jf(i[2]);
    insn->set_k(i[3]);
  }
  mydev::v1::SetFilterResponse resp;
  st = Call(&Capture::Stub::SetFilter, stub, req, &resp);
  mydev::v1::SessionStats s;
  grpc::Status after = GetStats(stub, Ref(o), &s);
  Print("attack=" + name + " insns=" + std::to_string(prog.size()) +
        " code=" + CodeName(st.error_code()) + " message=" + Quote(st.error_message()) +
        " after=" + CodeName(after.error_code()) + " filter_set=" + std::to_string(s.filter_set()));
  CloseSession(stub, Ref(o));
  return 0;
}

// Opens with one field set to an absurd value.
int BadOpen(Capture::Stub* stub, const std::string& name,
            const std::function<void(mydev::v1::OpenSessionRequest*)>& mutate) {
  mydev::v1::OpenSessionRequest req = DefaultOpen();
  mutate(&req);
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, req, &o);
  std::string line = "attack=" + name + " code=" + CodeName(st.error_code()) +
                     " message=" + Quote(st.error_message());
  if (st.ok()) {
    line +=
        " snaplen=" + std::to_string(o.snaplen()) + " ring_bytes=" + std::to_string(o.ring_bytes());
    // An accepted session must still work: attach and see packets.
    std::string err;
    std::optional<Attached> a = Attach(o, &err);
    const uint64_t got = a ? ReadSomePackets(*a, 1000) : 0;
    line += " attached=" + std::to_string(a.has_value()) + " packets=" + std::to_string(got);
    CloseSession(stub, Ref(o));
  }
  line += std::string(" after=") + CodeName(ListDevices(stub).error_code());
  Print(line);
  return 0;
}

int SetDataLinkUnknown(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  mydev::v1::SetDataLinkRequest req;
  *req.mutable_session() = Ref(o);
  req.set_dlt(static_cast<int32_t>(absl::GetFlag(FLAGS_dlt)));
  mydev::v1::SetDataLinkResponse resp;
  grpc::Status st = Call(&Capture::Stub::SetDataLink, stub, req, &resp);
  mydev::v1::SessionStats s;
  Print("attack=set-datalink-unknown code=" + std::string(CodeName(st.error_code())) + " message=" +
        Quote(st.error_message()) + " after=" + CodeName(GetStats(stub, Ref(o), &s).error_code()));
  CloseSession(stub, Ref(o));
  return 0;
}

// A request bigger than the daemon's max_message_bytes (--bytes).
int OversizedMessage(Capture::Stub* stub) {
  const size_t bytes = absl::GetFlag(FLAGS_bytes);
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string err;
  std::optional<Attached> attached = Attach(o, &err);  // not reaped meanwhile
  mydev::v1::InjectRequest inj;
  *inj.mutable_session() = Ref(o);
  inj.set_packet(std::string(bytes, 'x'));
  mydev::v1::InjectResponse inj_resp;
  grpc::Status a = Call(&Capture::Stub::Inject, stub, inj, &inj_resp);
  mydev::v1::SetFilterRequest f;
  *f.mutable_session() = Ref(o);
  while (f.ByteSizeLong() <= bytes) {
    auto* insn = f.add_insns();
    insn->set_code(0x06);
    insn->set_k(0xffffffffu);
  }
  mydev::v1::SetFilterResponse f_resp;
  grpc::Status b = Call(&Capture::Stub::SetFilter, stub, f, &f_resp);
  mydev::v1::OpenSessionRequest open = DefaultOpen();
  open.set_device(std::string(bytes, 'd'));
  mydev::v1::OpenSessionResponse open_resp;
  grpc::Status c = Open(stub, open, &open_resp);
  mydev::v1::SessionStats s;
  Print("attack=oversized-message bytes=" + std::to_string(bytes) +
        " inject_code=" + CodeName(a.error_code()) + " filter_code=" + CodeName(b.error_code()) +
        " open_code=" + CodeName(c.error_code()) + " message=" + Quote(a.error_message()) +
        " after=" + CodeName(GetStats(stub, Ref(o), &s).error_code()));
  CloseSession(stub, Ref(o));
  return 0;
}

}  // namespace mydev::hostile
