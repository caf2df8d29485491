// main.cc — hostile_client: a mydevd client that misbehaves on purpose, for
// tests/faults_e2e_test.py. Each invocation performs one named attack (or one
// well-behaved role: a reference reader, an idle reader, a session owner) and
// prints what happened as "key=value" lines; the test asserts on them.
//
//   hostile_client --socket S --attack reader --seconds 3
//     ready=1 session=7
//     received=5999 first_seq=1200 last_seq=7198 gaps=0 missing=0 noseq=0 ring_dropped=0 ...
//   hostile_client --socket S --attack bpf-div-zero
//     attack=bpf-div-zero code=INVALID_ARGUMENT message="..." after=OK
//
// This file: the command line (flags.h), the stop signals (run_control.h)
// and the table below from attack name to the function that runs it; the
// attacks themselves are in one file per family (attacks.h lists them).
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {
namespace {

// What an attack runs, given the Capture stub and the attack's own name.
using Attack = std::function<int(Capture::Stub* stub, const std::string& name)>;

Attack WithStub(int (*run)(Capture::Stub*)) {
  return [run](Capture::Stub* stub, const std::string&) { return run(stub); };
}

Attack WithoutStub(int (*run)()) {
  return [run](Capture::Stub*, const std::string&) { return run(); };
}

// bpf-*: SetFilter with `prog`.
Attack Filter(std::vector<Insn> prog) {
  return
      [prog](Capture::Stub* stub, const std::string& name) { return BadFilter(stub, name, prog); };
}

// open-*: OpenSession with one field changed by `mutate`.
Attack OpenWith(std::function<void(mydev::v1::OpenSessionRequest*)> mutate) {
  return [mutate](Capture::Stub* stub, const std::string& name) {
    return BadOpen(stub, name, mutate);
  };
}

// BPF opcodes (linux/filter.h values, spelled out for clarity).
constexpr uint32_t kLdImm = 0x00, kLdMem = 0x60, kAluDivK = 0x34, kAluModK = 0x94, kJa = 0x05,
                   kJeqK = 0x15, kRetK = 0x06, kRetA = 0x16;

using Req = mydev::v1::OpenSessionRequest;

const std::map<std::string, Attack>& Attacks() {
  static const auto* attacks = new std::map<std::string, Attack>{
      // well_behaved.cc
      {"reader", WithStub(Reader)},
      {"idle", WithStub(HoldSession)},
      {"owner", WithStub(HoldSession)},
      {"open-timed", WithStub(OpenTimed)},
      // token_attacks.cc
      {"intruder", WithStub(Intruder)},
      {"token-forged", WithStub(TokenForged)},
      {"token-stale", WithStub(TokenStale)},
      {"token-reused", WithStub(TokenReused)},
      // malformed_requests.cc
      {"bpf-jump-out-of-range", Filter({{kJa, 0, 0, 5}, {kRetK, 0, 0, 65535}})},
      {"bpf-cond-jump-out-of-range", Filter({{kJeqK, 200, 0, 1}, {kRetK, 0, 0, 0}})},
      {"bpf-div-zero", Filter({{kLdImm, 0, 0, 7}, {kAluDivK, 0, 0, 0}, {kRetA, 0, 0, 0}})},
      {"bpf-mod-zero", Filter({{kLdImm, 0, 0, 7}, {kAluModK, 0, 0, 0}, {kRetA, 0, 0, 0}})},
      {"bpf-no-return", Filter({{kLdImm, 0, 0, 1}})},
      {"bpf-bad-opcode", Filter({{0xffff, 0, 0, 0}, {kRetK, 0, 0, 1}})},
      {"bpf-bad-scratch", Filter({{kLdMem, 0, 0, 16}, {kRetA, 0, 0, 0}})},
      {"bpf-field-overflow", Filter({{kJeqK, 256, 0, 1}, {kRetK, 0, 0, 0}, {kRetK, 0, 0, 1}})},
      {"bpf-oversized",  // --n instructions (default 4097)
       [](Capture::Stub* stub, const std::string& name) {
         return BadFilter(stub, name,
                          std::vector<Insn>(static_cast<size_t>(NOr(4097)), {kRetK, 0, 0, 1}));
       }},
      {"open-huge-snaplen", OpenWith([](Req* r) { r->set_snaplen(0xffffffffu); })},
      {"open-huge-buffer", OpenWith([](Req* r) { r->set_buffer_size(1ull << 62); })},
      {"open-max-buffer", OpenWith([](Req* r) { r->set_buffer_size(~0ull); })},
      {"open-huge-timeout", OpenWith([](Req* r) { r->set_timeout_ms(0xffffffffu); })},
      {"open-unknown-device", OpenWith([](Req* r) { r->set_device("mydev99"); })},
      {"open-unknown-dlt", OpenWith([](Req* r) { r->set_dlt(12345); })},
      {"open-negative-dlt", OpenWith([](Req* r) { r->set_dlt(-1); })},
      {"open-bad-direction",
       OpenWith([](Req* r) { r->set_direction(static_cast<mydev::v1::Direction>(7)); })},
      {"set-datalink-unknown", WithStub(SetDataLinkUnknown)},
      {"oversized-message", WithStub(OversizedMessage)},
      // ring_scribble.cc
      {"ring-scribble", WithStub(RingScribble)},
      // fd_socket_attacks.cc
      {"fd-no-token", WithoutStub(FdNoToken)},
      {"fd-wrong-token", WithStub(FdWrongToken)},
      {"fd-flood", WithStub(FdFlood)},
      {"fd-silent", WithoutStub(FdSilent)},
      // session_exhaustion.cc
      {"churn", WithStub(Churn)},
      {"session-limit", WithStub(SessionLimit)},
      // socket_floods.cc
      {"conn-flood", WithStub(ConnFlood)},
      {"watch-flood", WithoutStub(WatchFlood)},
  };
  return *attacks;
}

int Run(const std::string& attack) {
  std::unique_ptr<Capture::Stub> stub = NewStub();
  auto it = Attacks().find(attack);
  if (it == Attacks().end()) {
    std::fprintf(stderr, "hostile_client: unknown attack '%s'\n", attack.c_str());
    return 2;
  }
  return it->second(stub.get(), attack);
}

}  // namespace
}  // namespace mydev::hostile

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("--socket PATH --attack NAME [--key value]...");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "hostile_client: unexpected argument '%s'\n", rest[1]);
    return 2;
  }
  if (absl::GetFlag(FLAGS_attack).empty() || absl::GetFlag(FLAGS_socket).empty()) {
    std::fprintf(stderr, "usage: hostile_client --socket PATH --attack NAME [--key value]...\n");
    return 2;
  }
  mydev::hostile::InstallSignalHandlers();
  return mydev::hostile::Run(absl::GetFlag(FLAGS_attack));
}
