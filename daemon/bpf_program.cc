// bpf_program.cc — see bpf_program.h.
#include "daemon/bpf_program.h"

#include "absl/strings/str_cat.h"

namespace mydev::daemon {

absl::StatusOr<BpfProgram> BpfProgram::FromProto(
    const google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn>& insns, uint32_t max_insns) {
  if (insns.empty() || static_cast<uint64_t>(insns.size()) > max_insns)
    return absl::InvalidArgumentError(
        absl::StrCat("BPF program has ", insns.size(), " instructions; it must have 1..",
                     max_insns));
  std::vector<bpf_insn> out;
  out.reserve(insns.size());
  for (int i = 0; i < insns.size(); ++i) {
    const mydev::v1::BpfInsn& in = insns[i];
    if (in.code() > 0xffff || in.jt() > 0xff || in.jf() > 0xff)
      return absl::InvalidArgumentError(absl::StrCat(
          "BPF instruction ", i, " is out of range (code ", in.code(), " must fit 16 bits, jt ",
          in.jt(), " and jf ", in.jf(), " 8 bits)"));
    out.push_back(bpf_insn{static_cast<u_short>(in.code()), static_cast<u_char>(in.jt()),
                           static_cast<u_char>(in.jf()), in.k()});
  }
  return FromInsns(std::move(out), max_insns);
}

absl::StatusOr<BpfProgram> BpfProgram::FromInsns(std::vector<bpf_insn> insns,
                                                 uint32_t max_insns) {
  if (insns.empty() || insns.size() > max_insns)
    return absl::InvalidArgumentError(
        absl::StrCat("BPF program has ", insns.size(), " instructions; it must have 1..",
                     max_insns));
  if (!bpf_validate(insns.data(), static_cast<int>(insns.size())))
    return absl::InvalidArgumentError(
        "BPF program is not valid (bpf_validate refused it: a jump out of range, a "
        "missing final return, a division by a constant zero, a bad memory slot or an "
        "unknown opcode); compile it with pcap_compile()");
  return BpfProgram(std::move(insns));
}

}  // namespace mydev::daemon
