// bpf_program.cc — see bpf_program.h.
#include "daemon/datapath/bpf_program.h"

#include "absl/strings/str_cat.h"

namespace mydev::daemon {
namespace {

// bpf_validate() alone is not enough to run a program safely in userland:
// libpcap's interpreter abort()s on any opcode it has no case for (bpf_validate
// lets every BPF_MISC code and stray high bits through), and a BPF_JA whose
// 32-bit offset wraps jumps backwards (a loop). So every code must be one the
// interpreter runs, and BPF_JA must jump forward, inside the program.
bool Runnable(uint16_t code) {
  switch (code) {
    case BPF_RET | BPF_K:
    case BPF_RET | BPF_A:
    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_H | BPF_ABS:
    case BPF_LD | BPF_B | BPF_ABS:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_W | BPF_LEN:
    case BPF_LD | BPF_W | BPF_IND:
    case BPF_LD | BPF_H | BPF_IND:
    case BPF_LD | BPF_B | BPF_IND:
    case BPF_LDX | BPF_MSH | BPF_B:
    case BPF_LD | BPF_IMM:
    case BPF_LDX | BPF_IMM:
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
    case BPF_JMP | BPF_JA:
    case BPF_JMP | BPF_JGT | BPF_K:
    case BPF_JMP | BPF_JGE | BPF_K:
    case BPF_JMP | BPF_JEQ | BPF_K:
    case BPF_JMP | BPF_JSET | BPF_K:
    case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_X:
    case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_ADD | BPF_K:
    case BPF_ALU | BPF_SUB | BPF_K:
    case BPF_ALU | BPF_MUL | BPF_K:
    case BPF_ALU | BPF_DIV | BPF_K:
    case BPF_ALU | BPF_MOD | BPF_K:
    case BPF_ALU | BPF_AND | BPF_K:
    case BPF_ALU | BPF_OR | BPF_K:
    case BPF_ALU | BPF_XOR | BPF_K:
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_K:
    case BPF_ALU | BPF_NEG:
    case BPF_MISC | BPF_TAX:
    case BPF_MISC | BPF_TXA:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<BpfProgram> BpfProgram::FromProto(
    const google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn>& insns, uint32_t max_insns) {
  if (insns.empty() || static_cast<uint64_t>(insns.size()) > max_insns)
    return absl::InvalidArgumentError(absl::StrCat("BPF program has ", insns.size(),
                                                   " instructions; it must have 1..", max_insns));
  std::vector<bpf_insn> out;
  out.reserve(insns.size());
  for (int i = 0; i < insns.size(); ++i) {
    const mydev::v1::BpfInsn& in = insns[i];
    if (in.code() > 0xffff || in.jt() > 0xff || in.jf() > 0xff)
      return absl::InvalidArgumentError(
          absl::StrCat("BPF instruction ", i, " is out of range (code ", in.code(),
                       " must fit 16 bits, jt ", in.jt(), " and jf ", in.jf(), " 8 bits)"));
    out.push_back(bpf_insn{static_cast<u_short>(in.code()), static_cast<u_char>(in.jt()),
                           static_cast<u_char>(in.jf()), in.k()});
  }
  return FromInsns(std::move(out), max_insns);
}

absl::StatusOr<BpfProgram> BpfProgram::FromInsns(std::vector<bpf_insn> insns, uint32_t max_insns) {
  if (insns.empty() || insns.size() > max_insns)
    return absl::InvalidArgumentError(absl::StrCat("BPF program has ", insns.size(),
                                                   " instructions; it must have 1..", max_insns));
  for (size_t i = 0; i < insns.size(); ++i) {
    const bpf_insn& in = insns[i];
    if (!Runnable(in.code))
      return absl::InvalidArgumentError(
          absl::StrCat("BPF instruction ", i, " has an unknown opcode 0x", absl::Hex(in.code)));
    if (in.code == (BPF_JMP | BPF_JA) && in.k >= insns.size() - i - 1)
      return absl::InvalidArgumentError(absl::StrCat("BPF instruction ", i, " jumps (ja +", in.k,
                                                     ") past the end of the program"));
  }
  if (!bpf_validate(insns.data(), static_cast<int>(insns.size())))
    return absl::InvalidArgumentError(
        "BPF program is not valid (bpf_validate refused it: a jump out of range, a "
        "missing final return, a division by a constant zero, a bad memory slot or an "
        "unknown opcode); compile it with pcap_compile()");
  return BpfProgram(std::move(insns));
}

bool BpfProgram::SameInsns(const BpfProgram& other) const {
  if (insns_.size() != other.insns_.size()) return false;
  for (size_t i = 0; i < insns_.size(); ++i) {
    const bpf_insn &a = insns_[i], &b = other.insns_[i];
    if (a.code != b.code || a.jt != b.jt || a.jf != b.jf || a.k != b.k) return false;
  }
  return true;
}

}  // namespace mydev::daemon
