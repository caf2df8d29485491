// filter_union_test.cc — the kernel pre-filter (filter_union.h): random
// filters compiled from tcpdump expressions over random frames, the union run
// with libpcap's bpf_filter (the same semantics as the kernel's classic BPF:
// a failed load or a division by 0 rejects the whole program) must accept a
// frame exactly when one session's filter does, keep at least the bytes each
// accepting session needs, and leave every session's own verdict unchanged on
// the bytes it kept. Every union is also attached to a socket, so the kernel's
// own checker (bpf_check_classic) accepts it. Long programs force `ja`
// trampolines; too long a union falls back to accept-all.
#include "daemon/datapath/filter_union.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/datapath/bpf_program.h"
#include "daemon/testing/test_util.h"

namespace mydev::daemon {
namespace {

bpf_insn Stmt(uint32_t code, uint32_t k) { return {static_cast<u_short>(code), 0, 0, k}; }
bpf_insn Jump(uint32_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return {static_cast<u_short>(code), jt, jf, k};
}

// 0 when the kernel takes the program as a socket filter, else errno.
int KernelRefuses(const std::vector<bpf_insn>& insns) {
  static_assert(sizeof(bpf_insn) == sizeof(sock_filter));
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return errno;
  sock_fprog prog{static_cast<unsigned short>(insns.size()),
                  reinterpret_cast<sock_filter*>(const_cast<bpf_insn*>(insns.data()))};
  const int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
  const int e = errno;
  close(fd);
  return rc == 0 ? 0 : e;
}

uint32_t Filter(const std::vector<bpf_insn>& p, const std::vector<uint8_t>& pkt, uint32_t caplen) {
  return bpf_filter(p.data(), pkt.data(), static_cast<u_int>(pkt.size()), caplen);
}

// Jumps in range, known opcodes, a final return: what the daemon's own
// validation and libpcap's bpf_validate ask.
bool Valid(const std::vector<bpf_insn>& p) { return BpfProgram::FromInsns(p, BPF_MAXINSNS).ok(); }

class Frames {
 public:
  explicit Frames(uint32_t seed) : rng_(seed) {}

  // A random Ethernet frame: mostly IPv4 TCP/UDP/ICMP to and from a few
  // addresses and ports, some IPv6, ARP, 802.1Q, other ethertypes, options,
  // fragments, and frames cut short anywhere.
  std::vector<uint8_t> Next() {
    std::vector<uint8_t> f;
    const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t mac1[6] = {0x02, 0, 0, 0, 0, 0x01};
    Append(f, Pick(4) == 0 ? bcast : mac1, 6);
    if (Pick(2) == 0) {
      Append(f, mac1, 6);
    } else {
      for (int i = 0; i < 6; ++i) f.push_back(Byte());
    }
    uint32_t kind = Pick(20);
    if (kind == 0) {  // 802.1Q, then IPv4
      Put16(f, 0x8100);
      Put16(f, Pick(2) ? 100 : Pick(4096));
      kind = 1;
    }
    if (kind < 12) {
      Put16(f, 0x0800);
      Ip4(f);
    } else if (kind < 15) {
      Put16(f, 0x86dd);
      Ip6(f);
    } else if (kind < 17) {
      Put16(f, 0x0806);
      for (int i = 0; i < 28; ++i) f.push_back(Byte());
    } else {
      Put16(f, static_cast<uint16_t>(Pick(0x10000)));
    }
    const uint32_t tail = Pick(3) == 0 ? Pick(900) : Pick(40);
    for (uint32_t i = 0; i < tail; ++i) f.push_back(Byte());
    if (Pick(6) == 0) f.resize(1 + Pick(static_cast<uint32_t>(f.size())));  // cut short
    return f;
  }

 private:
  uint32_t Pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }
  uint8_t Byte() { return static_cast<uint8_t>(Pick(256)); }
  static void Append(std::vector<uint8_t>& f, const uint8_t* p, size_t n) {
    f.insert(f.end(), p, p + n);
  }
  static void Put16(std::vector<uint8_t>& f, uint32_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  }
  void Address4(std::vector<uint8_t>& f) {
    static const uint8_t kAddrs[][4] = {
        {10, 0, 0, 1}, {10, 0, 0, 2}, {10, 0, 0, 77}, {192, 168, 1, 1}};
    if (Pick(5) == 0) {
      for (int i = 0; i < 4; ++i) f.push_back(Byte());
    } else {
      Append(f, kAddrs[Pick(4)], 4);
    }
  }
  uint32_t Port() {
    static const uint32_t kPorts[] = {53, 80, 443, 1234, 9, 1500, 2000};
    return Pick(4) == 0 ? Pick(65536) : kPorts[Pick(7)];
  }
  void L4(std::vector<uint8_t>& f, uint32_t proto) {
    if (proto == 6 || proto == 17) {
      Put16(f, Port());
      Put16(f, Port());
      Put16(f, Pick(2) ? 0x1234 : Pick(65536));
      for (int i = 0; i < 14; ++i) f.push_back(Pick(3) == 0 ? 2 : Byte());
    } else if (proto == 1 || proto == 58) {
      f.push_back(Pick(2) ? 8 : Byte());
      for (int i = 0; i < 7; ++i) f.push_back(Byte());
    }
  }
  void Ip4(std::vector<uint8_t>& f) {
    const uint32_t ihl = Pick(4) == 0 ? 5 + Pick(11) : 5;
    const uint32_t proto = std::vector<uint32_t>{6, 17, 1, 47, Pick(256)}[Pick(5)];
    f.push_back(static_cast<uint8_t>(0x40 | ihl));
    f.push_back(Byte());
    Put16(f, Pick(1500));
    Put16(f, Pick(65536));
    Put16(f, Pick(5) == 0 ? Pick(65536) : 0x4000);
    f.push_back(Pick(2) ? 64 : Byte());
    f.push_back(static_cast<uint8_t>(proto));
    Put16(f, 0);
    Address4(f);
    Address4(f);
    for (uint32_t i = 5; i < ihl; ++i) Append(f, std::vector<uint8_t>{1, 1, 1, 1}.data(), 4);
    L4(f, proto);
  }
  void Ip6(std::vector<uint8_t>& f) {
    const uint32_t next = std::vector<uint32_t>{6, 17, 58, Pick(256)}[Pick(4)];
    Put16(f, 0x6000);
    Put16(f, 0);
    Put16(f, Pick(1500));
    f.push_back(static_cast<uint8_t>(next));
    f.push_back(64);
    for (int i = 0; i < 32; ++i) f.push_back(Pick(3) == 0 ? 0 : Byte());
    L4(f, next);
  }

  std::mt19937 rng_;
};

// tcpdump expressions for the random filters: protocols, ports, hosts, nets,
// lengths, byte tests past short frames, scratch memory (arithmetic),
// division and modulo by a packet byte (which may be 0), VLAN.
const char* const kPrimitives[] = {
    "udp",
    "tcp",
    "icmp",
    "arp",
    "ip",
    "ip6",
    "vlan",
    "vlan 100 and udp",
    "udp port 53",
    "tcp port 80",
    "port 443",
    "src port 1234",
    "dst port 9",
    "portrange 1000-2000",
    "host 10.0.0.1",
    "src host 10.0.0.2",
    "dst net 10.0.0.0/24",
    "net 192.168.0.0/16",
    "greater 200",
    "less 100",
    "len > 600",
    "ip[8] = 64",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & tcp-syn != 0",
    "udp[4:2] = 0x1234",
    "ether[100] = 7",
    "ether[700:4] > 5",
    "ip[2:2] - ((ip[0] & 0xf) << 2) > 100",
    "ether broadcast",
    "ether src 02:00:00:00:00:01",
    "ip proto 47",
    "ip[6:2] & 0x1fff != 0",
    "icmp[icmptype] = icmp-echo",
    "ip6 and udp",
    "ip6 and tcp port 80",
    "len % 3 = 0",
    "len / (ip[0] & 0xf) > 30",
    "ether[14] % (ether[15] & 3) = 1",
    "ip[ip[0] & 0xf] > 100",
};

// The program libpcap compiles expr to, or empty when it does not compile
// (e.g. the optimizer finds that it rejects everything).
std::vector<bpf_insn> TryCompile(const std::string& expr) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  bpf_program prog;
  std::vector<bpf_insn> out;
  if (pcap_compile(dead, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0) {
    out.assign(prog.bf_insns, prog.bf_insns + prog.bf_len);
    pcap_freecode(&prog);
  }
  pcap_close(dead);
  return out;
}

std::string RandomExpression(std::mt19937& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const size_t n = 1 + pick(3);
  std::string e;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) e += pick(2) ? " and " : " or ";
    const std::string p = kPrimitives[pick(std::size(kPrimitives))];
    e += pick(5) == 0 ? "not (" + p + ")" : "(" + p + ")";
  }
  return e;
}

// Checks the union of members over frames: see the top of the file.
void CheckUnion(const std::vector<FilterUnionMember>& members, Frames& frames, int count,
                const std::string& what) {
  absl::StatusOr<KernelFilter> u = UnionOf(members, FilterUnionOptions{});
  ASSERT_TRUE(u.ok()) << u.status() << " for " << what;
  ASSERT_EQ(u->kind, KernelFilterKind::kUnion) << what;
  ASSERT_TRUE(Valid(u->insns)) << what;
  ASSERT_EQ(KernelRefuses(u->insns), 0) << strerror(KernelRefuses(u->insns)) << " for " << what;
  for (int f = 0; f < count; ++f) {
    const std::vector<uint8_t> pkt = frames.Next();
    const uint32_t len = static_cast<uint32_t>(pkt.size());
    const uint32_t kept = Filter(u->insns, pkt, len);
    bool any = false;
    for (const FilterUnionMember& m : members) {
      const uint32_t verdict = Filter(m.program, pkt, len);
      if (verdict == 0) continue;
      any = true;
      EXPECT_GE(kept, m.snaplen) << "session " << m.id << " keeps " << m.snaplen << "; " << what;
    }
    ASSERT_EQ(kept != 0, any) << what << "; frame of " << len << " bytes";
    if (kept == 0) continue;
    // The daemon runs each filter on what the kernel kept: same verdicts.
    const uint32_t caplen = std::min(len, kept);
    for (const FilterUnionMember& m : members)
      ASSERT_EQ(Filter(m.program, pkt, caplen), Filter(m.program, pkt, len))
          << "session " << m.id << " on " << caplen << " of " << len << " bytes; " << what;
  }
}

TEST(FilterUnionTest, NoSessionRejectsEverything) {
  absl::StatusOr<KernelFilter> u = UnionOf({}, FilterUnionOptions{});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind, KernelFilterKind::kRejectAll);
  ASSERT_EQ(u->insns.size(), 1u);
  EXPECT_EQ(u->insns[0].code, BPF_RET | BPF_K);
  EXPECT_EQ(u->insns[0].k, 0u);
  EXPECT_EQ(KernelRefuses(u->insns), 0);
}

TEST(FilterUnionTest, SessionWithoutFilterAcceptsEverythingWithItsSnaplen) {
  std::vector<FilterUnionMember> m(2);
  m[0] = {1, CompileFilter("udp"), 96, true};
  m[1] = {2, {}, 1500, true};
  KernelFilter f = BuildKernelFilter(m, FilterUnionOptions{});
  EXPECT_EQ(f.kind, KernelFilterKind::kAcceptAll);
  EXPECT_EQ(f.note, "session 2 has no filter");
  ASSERT_EQ(f.insns.size(), 1u);  // it needs the most: the union is just it
  EXPECT_EQ(f.insns[0].code, BPF_RET | BPF_K);
  EXPECT_EQ(f.insns[0].k, 1500u);
}

TEST(FilterUnionTest, SessionNeedingMoreComesFirstAndKeepsItsBytes) {
  // udp with snaplen 2000 first; then the filterless session's 64 bytes.
  std::vector<FilterUnionMember> m(2);
  m[0] = {1, {}, 64, true};
  m[1] = {2, CompileFilter("udp"), 2000, true};
  KernelFilter f = BuildKernelFilter(m, FilterUnionOptions{});
  EXPECT_EQ(f.kind, KernelFilterKind::kAcceptAll);
  EXPECT_EQ(KernelRefuses(f.insns), 0);
  Frames frames(7);
  int udp = 0, other = 0;
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> pkt = frames.Next();
    const uint32_t len = static_cast<uint32_t>(pkt.size());
    const uint32_t kept = Filter(f.insns, pkt, len);
    if (Filter(m[1].program, pkt, len) != 0) {
      EXPECT_EQ(kept, 2000u);
      ++udp;
    } else {
      EXPECT_EQ(kept, 64u);
      ++other;
    }
  }
  EXPECT_GT(udp, 10);
  EXPECT_GT(other, 10);
}

TEST(FilterUnionTest, AnotherLinkTypeAcceptsEverything) {
  std::vector<FilterUnionMember> m(2);
  m[0] = {1, CompileFilter("udp"), 262144, true};
  m[1] = {7, CompileFilter("tcp"), 100, false};  // e.g. a session switched to SLL2
  KernelFilter f = BuildKernelFilter(m, FilterUnionOptions{});
  EXPECT_EQ(f.kind, KernelFilterKind::kAcceptAll);
  EXPECT_EQ(f.note, "session 7 filters another link type than the kernel's");
  EXPECT_EQ(KernelRefuses(f.insns), 0);
  Frames frames(3);
  for (int i = 0; i < 500; ++i) {
    std::vector<uint8_t> pkt = frames.Next();
    EXPECT_NE(Filter(f.insns, pkt, static_cast<uint32_t>(pkt.size())), 0u);
  }
}

TEST(FilterUnionTest, RandomFiltersAcceptExactlyWhatSomeSessionAccepts) {
  std::mt19937 rng(20261130);
  Frames frames(42);
  for (int round = 0; round < 300; ++round) {
    const size_t n = 1 + rng() % 6;
    std::vector<FilterUnionMember> m(n);
    std::vector<std::string> exprs;
    for (size_t i = 0; i < n; ++i) {
      std::vector<bpf_insn> program;
      while (program.empty()) {
        exprs.push_back(RandomExpression(rng));
        program = TryCompile(exprs.back());
        if (program.empty()) exprs.pop_back();
      }
      static const uint32_t kSnaplens[] = {64, 96, 200, 1500, 262144};
      m[i] = {i + 1, std::move(program), kSnaplens[rng() % 5], true};
    }
    CheckUnion(m, frames, 300, absl::StrCat("round ", round, ": ", absl::StrJoin(exprs, " | ")));
    if (HasFatalFailure()) return;
  }
}

TEST(FilterUnionTest, LoadPastAShortFrameDoesNotHideTheNextSession) {
  // Alone, `ether[100] = 7` rejects a 60-byte frame by failing its load,
  // which in the kernel ends the whole program: the union must go on to udp.
  std::vector<FilterUnionMember> m = {{1, CompileFilter("ether[100] = 7"), 262144, true},
                                      {2, CompileFilter("udp"), 96, true}};
  absl::StatusOr<KernelFilter> u = UnionOf(m, FilterUnionOptions{});
  ASSERT_TRUE(u.ok());
  std::vector<uint8_t> pkt(60, 0);
  pkt[12] = 0x08;
  pkt[14] = 0x45;
  pkt[23] = 17;
  EXPECT_EQ(Filter(m[0].program, pkt, 60), 0u);
  EXPECT_NE(Filter(m[1].program, pkt, 60), 0u);
  EXPECT_NE(Filter(u->insns, pkt, 60), 0u);
}

TEST(FilterUnionTest, DivisionByZeroDoesNotHideTheNextSession) {
  // ldx [14] & 0xf ... ld #100; div x: X is 0 on this frame.
  std::vector<bpf_insn> divides = {Stmt(BPF_LDX | BPF_B | BPF_MSH, 14),
                                   Stmt(BPF_LD | BPF_IMM, 100),
                                   Stmt(BPF_ALU | BPF_DIV | BPF_X, 0),
                                   Jump(BPF_JMP | BPF_JGT | BPF_K, 1, 0, 1),
                                   Stmt(BPF_RET | BPF_K, 1),
                                   Stmt(BPF_RET | BPF_K, 0)};
  std::vector<FilterUnionMember> m = {{1, divides, 262144, true},
                                      {2, {Stmt(BPF_RET | BPF_K, 9)}, 96, true}};
  absl::StatusOr<KernelFilter> u = UnionOf(m, FilterUnionOptions{});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(KernelRefuses(u->insns), 0);
  std::vector<uint8_t> pkt(60, 0);  // [14] = 0: X = 0
  EXPECT_EQ(Filter(divides, pkt, 60), 0u);
  EXPECT_EQ(Filter(u->insns, pkt, 60), 96u);
  pkt[14] = 0x45;  // X = 20: 100 / 20 = 5 > 1
  EXPECT_EQ(Filter(divides, pkt, 60), 1u);
  EXPECT_EQ(Filter(u->insns, pkt, 60), 262144u);
}

TEST(FilterUnionTest, ProgramReadingAOrXFirstSeesZero) {
  // The first leaves A = 5 and X = 7 and rejects; the second returns A
  // (0 at a program's start: reject) and would accept were A still 5.
  std::vector<bpf_insn> first = {Stmt(BPF_LD | BPF_IMM, 5), Stmt(BPF_LDX | BPF_IMM, 7),
                                 Stmt(BPF_RET | BPF_K, 0)};
  std::vector<bpf_insn> returns_a = {Stmt(BPF_MISC | BPF_TXA, 0), Stmt(BPF_RET | BPF_A, 0)};
  std::vector<FilterUnionMember> m = {{1, first, 200, true}, {2, returns_a, 100, true}};
  absl::StatusOr<KernelFilter> u = UnionOf(m, FilterUnionOptions{});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(KernelRefuses(u->insns), 0);
  std::vector<uint8_t> pkt(60, 1);
  EXPECT_EQ(Filter(u->insns, pkt, 60), 0u);
}

TEST(FilterUnionTest, ScratchSlotReadBeforeWrittenAcceptsEverything) {
  std::vector<bpf_insn> reads_m = {Stmt(BPF_LD | BPF_MEM, 3), Stmt(BPF_RET | BPF_A, 0)};
  std::vector<FilterUnionMember> m = {{4, reads_m, 100, true}};
  KernelFilter f = BuildKernelFilter(m, FilterUnionOptions{});
  EXPECT_EQ(f.kind, KernelFilterKind::kAcceptAll);
  EXPECT_NE(f.note.find("session 4 has a filter the union cannot take"), std::string::npos)
      << f.note;
  EXPECT_NE(f.note.find("M[k] before writing"), std::string::npos) << f.note;
  ASSERT_EQ(f.insns.size(), 1u);
  EXPECT_EQ(f.insns[0].k, kWholePacket);
}

TEST(FilterUnionTest, BytesNeededCoversWhatTheFilterReads) {
  EXPECT_EQ(BytesNeeded({1, {}, 96, true}), 96u);
  EXPECT_EQ(BytesNeeded({1, CompileFilter("udp"), 96, true}), 96u);
  // ether[700:4]: bytes up to 704, past the snaplen.
  EXPECT_EQ(BytesNeeded({1, CompileFilter("ether[700:4] = 1"), 96, true}), 704u);
  // tcp port 80: X from the IP header length (at most 60), then [x + 16:2].
  const uint32_t port = BytesNeeded({1, CompileFilter("tcp port 80"), 64, true});
  EXPECT_GT(port, 64u);
  EXPECT_LE(port, 14u + 60 + 20);
  // An offset read from the packet: unbounded.
  EXPECT_EQ(BytesNeeded({1, CompileFilter("ip[ip[0] & 0xf] > 100"), 64, true}), kWholePacket);
  EXPECT_EQ(BytesNeeded({1, {}, 0, true}), kWholePacket);  // snaplen 0: everything
}

// `host a or host b or ...`: one long program with far jumps.
std::vector<bpf_insn> ManyHosts(int first, int count) {
  std::vector<std::string> hosts;
  for (int i = 0; i < count; ++i)
    hosts.push_back(absl::StrCat("host 10.", (first + i) / 250, ".", (first + i) % 250, ".1"));
  return CompileFilter(absl::StrJoin(hosts, " or ").c_str());
}

TEST(FilterUnionTest, FarJumpsGoThroughTrampolines) {
  std::vector<FilterUnionMember> m;
  m.push_back({1, ManyHosts(0, 100), 1500, true});
  m.push_back({2, CompileFilter("ether[100] = 7 or udp port 53"), 1000, true});
  m.push_back({3, ManyHosts(100, 60), 500, true});
  m.push_back({4, CompileFilter("tcp port 80"), 96, true});
  ASSERT_GT(m[0].program.size(), 256u);
  absl::StatusOr<KernelFilter> u = UnionOf(m, FilterUnionOptions{});
  ASSERT_TRUE(u.ok()) << u.status();
  bool trampoline = false;
  for (size_t i = 0; i + 1 < u->insns.size(); ++i) {
    const bpf_insn& in = u->insns[i];
    if (BPF_CLASS(in.code) == BPF_JMP && BPF_OP(in.code) != BPF_JA && (in.jt == 0 || in.jf <= 1) &&
        u->insns[i + 1].code == (BPF_JMP | BPF_JA) && u->insns[i + 1].k > 255)
      trampoline = true;
  }
  EXPECT_TRUE(trampoline) << "no `ja` trampoline in a " << u->insns.size() << "-instruction union";
  Frames frames(99);
  CheckUnion(m, frames, 3000, "long programs");
  // And frames from the hosts themselves.
  for (int h : {0, 59, 99, 100, 159, 160}) {
    std::vector<uint8_t> pkt(60, 0);
    pkt[12] = 0x08;
    pkt[14] = 0x45;
    pkt[23] = 6;
    const uint8_t addr[4] = {10, static_cast<uint8_t>(h / 250), static_cast<uint8_t>(h % 250), 1};
    std::memcpy(&pkt[26], addr, 4);
    bool any = false;
    for (const auto& x : m) any |= Filter(x.program, pkt, 60) != 0;
    EXPECT_EQ(Filter(u->insns, pkt, 60) != 0, any) << "host " << h;
    EXPECT_EQ(any, h != 160) << "host " << h;
  }
}

TEST(FilterUnionTest, TooLongFallsBackToAcceptAllAndSaysWhy) {
  std::vector<FilterUnionMember> m;
  const std::vector<bpf_insn> hosts = ManyHosts(0, 150);  // ~650 instructions (compiling is slow)
  for (int i = 0; i < 12; ++i)
    m.push_back({static_cast<uint64_t>(i + 1), hosts, static_cast<uint32_t>(100 + i), true});
  absl::StatusOr<KernelFilter> u = UnionOf(m, FilterUnionOptions{});
  ASSERT_FALSE(u.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(u.status())) << u.status();
  KernelFilter f = BuildKernelFilter(m, FilterUnionOptions{});
  EXPECT_EQ(f.kind, KernelFilterKind::kFallback);
  EXPECT_NE(f.note.find("the union of 12 session filters"), std::string::npos) << f.note;
  EXPECT_NE(f.note.find("4096"), std::string::npos) << f.note;
  ASSERT_EQ(f.insns.size(), 1u);
  EXPECT_EQ(f.insns[0].code, BPF_RET | BPF_K);
  EXPECT_EQ(f.insns[0].k, 111u);  // the most any session needs
  // A smaller limit gives the same for fewer sessions.
  FilterUnionOptions small;
  small.max_insns = 100;
  EXPECT_TRUE(absl::IsResourceExhausted(UnionOf({m[0]}, small).status()));
}

TEST(FilterUnionTest, VlanTaggedFramesAreAcceptedBeforeAnyProgram) {
  std::vector<FilterUnionMember> m = {{1, CompileFilter("udp port 53"), 300, true},
                                      {2, CompileFilter("tcp"), 96, true}};
  FilterUnionOptions vlan;
  vlan.accept_vlan_tagged = true;
  absl::StatusOr<KernelFilter> with = UnionOf(m, vlan);
  absl::StatusOr<KernelFilter> without = UnionOf(m, FilterUnionOptions{});
  ASSERT_TRUE(with.ok());
  ASSERT_TRUE(without.ok());
  ASSERT_EQ(with->insns.size(), without->insns.size() + 3);
  EXPECT_EQ(with->insns[0].code, BPF_LD | BPF_B | BPF_ABS);
  EXPECT_EQ(with->insns[0].k, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT));
  EXPECT_EQ(with->insns[1].code, BPF_JMP | BPF_JEQ | BPF_K);
  EXPECT_EQ(with->insns[1].k, 0u);
  EXPECT_EQ(with->insns[1].jt, 1);
  EXPECT_EQ(with->insns[1].jf, 0);
  EXPECT_EQ(with->insns[2].code, BPF_RET | BPF_K);
  EXPECT_EQ(with->insns[2].k, 300u);
  for (size_t i = 0; i < without->insns.size(); ++i) {
    EXPECT_EQ(with->insns[i + 3].code, without->insns[i].code) << i;
    EXPECT_EQ(with->insns[i + 3].k, without->insns[i].k) << i;
  }
  EXPECT_EQ(KernelRefuses(with->insns), 0) << "the kernel knows SKF_AD_VLAN_TAG_PRESENT";
  // No prologue when the session needing the most accepts everything anyway
  // (one needing less does not do: tagged frames must still get the most).
  m.push_back({3, {}, 64, true});
  EXPECT_EQ(UnionOf(m, vlan)->insns.size(), UnionOf(m, FilterUnionOptions{})->insns.size() + 3);
  m.push_back({4, {}, 1000, true});
  EXPECT_EQ(UnionOf(m, vlan)->insns.size(), UnionOf(m, FilterUnionOptions{})->insns.size());
}

TEST(FilterUnionTest, KindNames) {
  EXPECT_STREQ(KernelFilterKindName(KernelFilterKind::kRejectAll), "reject-all");
  EXPECT_STREQ(KernelFilterKindName(KernelFilterKind::kUnion), "union");
  EXPECT_STREQ(KernelFilterKindName(KernelFilterKind::kAcceptAll), "accept-all");
  EXPECT_STREQ(KernelFilterKindName(KernelFilterKind::kFallback), "fallback");
}

}  // namespace
}  // namespace mydev::daemon
