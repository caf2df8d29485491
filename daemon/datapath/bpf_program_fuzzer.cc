// bpf_program_fuzzer.cc — libFuzzer target for the BPF program check: a
// client's raw instructions must be refused with a clear error or, once
// accepted, run on any packet without crashing, hanging or reading outside it.
//
// Input: u16 LE instruction count N, N * 8 bytes of bpf_insn {u16 code LE,
// u8 jt, u8 jf, u32 k LE}, u16 LE extra wire bytes, then the packet bytes
// (caplen = what is left). Seeds: testdata/fuzz/bpf_program_fuzzer/
// (tcpdump -dd programs on sample packets; tools/fuzz.sh runs it).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "daemon/datapath/bpf_program.h"
#include "proto/mydev.pb.h"

namespace {

constexpr uint32_t kMaxInsns = 4096;  // Limits::max_bpf_insns' default

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t count = Le16(data);
  data += 2;
  size -= 2;
  if (count * 8 > size) return 0;
  std::vector<bpf_insn> insns;
  mydev::v1::SetFilterRequest request;  // what a client sends over gRPC
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = data + 8 * i;
    insns.push_back(bpf_insn{Le16(p), p[2], p[3], Le32(p + 4)});
    mydev::v1::BpfInsn* in = request.add_insns();
    in->set_code(Le16(p));
    in->set_jt(p[2]);
    in->set_jf(p[3]);
    in->set_k(Le32(p + 4));
  }
  data += 8 * count;
  size -= 8 * count;
  uint32_t extra_wire = 0;
  if (size >= 2) {
    extra_wire = Le16(data);
    data += 2;
    size -= 2;
  }

  absl::StatusOr<mydev::daemon::BpfProgram> from_insns =
      mydev::daemon::BpfProgram::FromInsns(insns, kMaxInsns);
  absl::StatusOr<mydev::daemon::BpfProgram> from_proto =
      mydev::daemon::BpfProgram::FromProto(request.insns(), kMaxInsns);
  // Both entry points must agree: the proto path only adds range checks that
  // 16/8-bit fields always pass.
  if (from_insns.ok() != from_proto.ok()) std::abort();
  if (!from_insns.ok()) {
    if (from_insns.status().message().empty()) std::abort();  // errors say why
    return 0;
  }

  // The packet sits in its own exact-size allocation so ASan sees any read
  // past caplen. wire_len >= caplen, as from a backend.
  std::vector<uint8_t> packet(data, data + size);
  const uint32_t caplen = static_cast<uint32_t>(packet.size());
  const uint32_t wire_len = caplen + extra_wire;
  uint32_t keep = from_insns->Run(packet.data(), wire_len, caplen);
  uint32_t again = from_proto->Run(packet.data(), wire_len, caplen);
  if (keep != again) std::abort();  // a program's verdict is deterministic
  // Also as the fan-out sees a truncated packet: the same bytes, caplen 0.
  (void)from_insns->Run(packet.data(), wire_len, 0);
  return 0;
}
