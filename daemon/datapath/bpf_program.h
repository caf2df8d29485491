// bpf_program.h — a client's classic BPF filter: checked once when it arrives
// over gRPC (field ranges, length, libpcap's bpf_validate), then run per
// packet with libpcap's bpf_filter.
//
//   absl::StatusOr<BpfProgram> p = BpfProgram::FromProto(request.insns(), 4096);
//   if (!p.ok()) return p.status();            // INVALID_ARGUMENT, says why
//   uint32_t keep = p->Run(data, wire_len, caplen);   // 0 = reject
//   if (p->SameInsns(other)) ...   // one run's verdict serves both (DeviceFanout)
#ifndef MYDEV_DAEMON_DATAPATH_BPF_PROGRAM_H_
#define MYDEV_DAEMON_DATAPATH_BPF_PROGRAM_H_

#include <pcap/pcap.h>  // struct bpf_insn, bpf_filter(), bpf_validate() (pcap/bpf.h)

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "proto/mydev.pb.h"

namespace mydev::daemon {

class BpfProgram {
 public:
  // An empty list is refused here; callers treat "no instructions" as "no
  // filter" themselves. max_insns must be >= 1.
  static absl::StatusOr<BpfProgram> FromProto(
      const google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn>& insns, uint32_t max_insns);
  static absl::StatusOr<BpfProgram> FromInsns(std::vector<bpf_insn> insns, uint32_t max_insns);

  // Returns the number of bytes to keep (0 = drop). wire_len is the packet's
  // original length, caplen the bytes available at data.
  // A program that is a single `ret #k` (what libpcap compiles for an empty
  // expression: tcpdump without a filter) returns k without the interpreter.
  uint32_t Run(const uint8_t* data, uint32_t wire_len, uint32_t caplen) const {
    if (constant_) return insns_[0].k;
    return bpf_filter(insns_.data(), data, wire_len, caplen);
  }

  // True when the program is a single `ret #k`: its verdict needs no packet.
  bool constant() const { return constant_; }

  // True when both programs have the same instructions (so the same verdict
  // on every packet).
  bool SameInsns(const BpfProgram& other) const;

  size_t size() const { return insns_.size(); }
  const std::vector<bpf_insn>& insns() const { return insns_; }

 private:
  explicit BpfProgram(std::vector<bpf_insn> insns)
      : insns_(std::move(insns)),
        constant_(insns_.size() == 1 && insns_[0].code == (BPF_RET | BPF_K)) {}
  std::vector<bpf_insn> insns_;
  bool constant_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_BPF_PROGRAM_H_
