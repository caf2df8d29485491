// bpf_program_test.cc — BPF validation and filtering.
#include "daemon/datapath/bpf_program.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/ip.h>

#include <cstring>
#include <vector>

#include "daemon/testing/test_util.h"

namespace mydev::daemon {
namespace {

// "ret #n"
bpf_insn Ret(uint32_t n) { return BPF_STMT(BPF_RET | BPF_K, n); }

google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn> ToProto(const std::vector<bpf_insn>& v) {
  google::protobuf::RepeatedPtrField<mydev::v1::BpfInsn> out;
  for (const bpf_insn& i : v) {
    mydev::v1::BpfInsn* p = out.Add();
    p->set_code(i.code);
    p->set_jt(i.jt);
    p->set_jf(i.jf);
    p->set_k(i.k);
  }
  return out;
}

// A 64-byte Ethernet/IPv4 frame carrying protocol proto (all else zero).
std::vector<uint8_t> Ip4Frame(uint8_t proto) {
  std::vector<uint8_t> f(64);
  ether_header eth{};
  eth.ether_type = htons(ETHERTYPE_IP);
  std::memcpy(f.data(), &eth, sizeof eth);
  struct ip ip {};
  ip.ip_v = IPVERSION;
  ip.ip_hl = sizeof ip / 4;
  ip.ip_p = proto;
  std::memcpy(f.data() + sizeof eth, &ip, sizeof ip);
  return f;
}

TEST(BpfProgramTest, AcceptsCompiledProgramAndFilters) {
  absl::StatusOr<BpfProgram> p = BpfProgram::FromProto(ToProto(CompileFilter("udp")), 4096);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::vector<uint8_t> udp = Ip4Frame(IPPROTO_UDP);
  const std::vector<uint8_t> tcp = Ip4Frame(IPPROTO_TCP);
  EXPECT_GT(p->Run(udp.data(), udp.size(), udp.size()), 0u);
  EXPECT_EQ(p->Run(tcp.data(), tcp.size(), tcp.size()), 0u);
}

TEST(BpfProgramTest, ReturnsSnapLength) {
  absl::StatusOr<BpfProgram> p = BpfProgram::FromInsns({Ret(96)}, 4096);
  ASSERT_TRUE(p.ok());
  uint8_t pkt[200] = {};
  EXPECT_EQ(p->Run(pkt, sizeof pkt, sizeof pkt), 96u);
}

TEST(BpfProgramTest, ASingleReturnIsConstantAndRunsAsTheInterpreterWould) {
  absl::StatusOr<BpfProgram> all = BpfProgram::FromInsns(CompileFilter(""), 16);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->constant());
  absl::StatusOr<BpfProgram> udp = BpfProgram::FromInsns(CompileFilter("udp"), 64);
  ASSERT_TRUE(udp.ok()) << udp.status();
  EXPECT_FALSE(udp->constant());
  std::vector<uint8_t> f = Ip4Frame(IPPROTO_TCP);
  const std::vector<bpf_insn> insns = CompileFilter("");
  EXPECT_EQ(all->Run(f.data(), 64, 64), bpf_filter(insns.data(), f.data(), 64, 64));
  absl::StatusOr<BpfProgram> zero = BpfProgram::FromInsns({Ret(0)}, 16);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->Run(f.data(), 64, 64), 0u);
}

TEST(BpfProgramTest, SameInsnsComparesEveryField) {
  absl::StatusOr<BpfProgram> a = BpfProgram::FromInsns(CompileFilter("udp"), 64);
  absl::StatusOr<BpfProgram> b = BpfProgram::FromInsns(CompileFilter("udp"), 64);
  absl::StatusOr<BpfProgram> c = BpfProgram::FromInsns(CompileFilter("tcp"), 64);
  absl::StatusOr<BpfProgram> d = BpfProgram::FromInsns(CompileFilter("udp and port 53"), 64);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_TRUE(a->SameInsns(*b));
  EXPECT_FALSE(a->SameInsns(*c));  // same length, another constant
  EXPECT_FALSE(a->SameInsns(*d));
  absl::StatusOr<BpfProgram> r1 = BpfProgram::FromInsns({Ret(1)}, 4);
  absl::StatusOr<BpfProgram> r2 = BpfProgram::FromInsns({Ret(2)}, 4);
  EXPECT_FALSE(r1->SameInsns(*r2));
}

TEST(BpfProgramTest, RejectsJumpOutOfRange) {
  std::vector<bpf_insn> v = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 5, 0), Ret(0)};
  absl::StatusOr<BpfProgram> p = BpfProgram::FromInsns(v, 4096);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BpfProgramTest, RejectsMissingReturn) {
  std::vector<bpf_insn> v = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
                             BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1)};
  EXPECT_EQ(BpfProgram::FromInsns(v, 4096).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BpfProgramTest, RejectsDivisionByConstantZero) {
  std::vector<bpf_insn> v = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
                             BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), Ret(65535)};
  EXPECT_EQ(BpfProgram::FromInsns(v, 4096).status().code(), absl::StatusCode::kInvalidArgument);
  v[1].k = 2;
  EXPECT_TRUE(BpfProgram::FromInsns(v, 4096).ok());
}

TEST(BpfProgramTest, RejectsTooLongAndEmpty) {
  std::vector<bpf_insn> v(11, Ret(1));
  absl::StatusOr<BpfProgram> p = BpfProgram::FromInsns(v, 10);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("1..10"), std::string::npos) << p.status();
  EXPECT_TRUE(BpfProgram::FromInsns(std::vector<bpf_insn>(10, Ret(1)), 10).ok());
  EXPECT_EQ(BpfProgram::FromInsns({}, 10).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BpfProgramTest, RejectsFieldsThatDoNotFit) {
  auto proto = ToProto({Ret(1)});
  proto[0].set_code(0x10006);  // > u16
  EXPECT_EQ(BpfProgram::FromProto(proto, 10).status().code(), absl::StatusCode::kInvalidArgument);
  proto = ToProto({BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0), Ret(1)});
  proto[0].set_jt(256);  // > u8
  EXPECT_EQ(BpfProgram::FromProto(proto, 10).status().code(), absl::StatusCode::kInvalidArgument);
}

// bpf_validate lets these through, but libpcap's interpreter would abort()
// or loop on them: the daemon must refuse them itself.
TEST(BpfProgramTest, RejectsWhatTheInterpreterCannotRun) {
  std::vector<bpf_insn> unknown_misc = {{0xffff, 0, 0, 0}, Ret(1)};
  EXPECT_EQ(BpfProgram::FromInsns(unknown_misc, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<bpf_insn> high_bits = {{BPF_LD | BPF_W | BPF_ABS | 0x100, 0, 0, 0}, Ret(1)};
  EXPECT_EQ(BpfProgram::FromInsns(high_bits, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<bpf_insn> ja_wraps = {BPF_STMT(BPF_LD | BPF_IMM, 0),
                                    BPF_JUMP(BPF_JMP | BPF_JA, 0xffffffffu, 0, 0), Ret(1)};
  EXPECT_EQ(BpfProgram::FromInsns(ja_wraps, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<bpf_insn> ja_ok = {BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0), Ret(0), Ret(7)};
  absl::StatusOr<BpfProgram> p = BpfProgram::FromInsns(ja_ok, 10);
  ASSERT_TRUE(p.ok()) << p.status();
  uint8_t pkt[4] = {};
  EXPECT_EQ(p->Run(pkt, 4, 4), 7u);
}

}  // namespace
}  // namespace mydev::daemon
