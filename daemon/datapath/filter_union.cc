// filter_union.cc — see filter_union.h.
#include "daemon/datapath/filter_union.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace mydev::daemon {
namespace {

// An offset bound past anything a packet can have.
constexpr uint64_t kUnbounded = uint64_t{1} << 40;
// Offsets at or above this are negative as the kernel reads them (SKF_NET_OFF,
// SKF_LL_OFF, SKF_AD_OFF): libpcap's bpf_filter always fails such a load.
constexpr uint64_t kNegativeOffset = 0x80000000;
// X after `ldx 4*([k]&0xf)`.
constexpr uint64_t kMshMax = 4 * 0xf;

bpf_insn Insn(uint32_t code, uint64_t k, uint64_t jt = 0, uint64_t jf = 0) {
  return {static_cast<u_short>(code), static_cast<u_char>(jt), static_cast<u_char>(jf),
          static_cast<bpf_u_int32>(k)};
}

uint32_t LoadSize(uint16_t code) {
  switch (BPF_SIZE(code)) {
    case BPF_W:
      return 4;
    case BPF_H:
      return 2;
    case BPF_B:
      return 1;
    default:
      return 0;
  }
}

// What is known on every path reaching an instruction.
struct Flow {
  bool reached = false;
  uint64_t len_proven = 0;    // the packet is at least this long
  uint64_t x_rel_proven = 0;  // the packet is at least X + this long (0: nothing known)
  uint32_t mem_valid = 0;     // M[] slots written
  bool a_set = false;         // A written (else still the 0 a program starts with)
  bool x_set = false;
  uint64_t x_max = 0;  // X is at most this
};

void Merge(Flow& into, const Flow& from) {
  if (!into.reached) {
    into = from;
    into.reached = true;
    return;
  }
  into.len_proven = std::min(into.len_proven, from.len_proven);
  into.x_rel_proven = std::min(into.x_rel_proven, from.x_rel_proven);
  into.mem_valid &= from.mem_valid;
  into.a_set = into.a_set && from.a_set;
  into.x_set = into.x_set && from.x_set;
  into.x_max = std::max(into.x_max, from.x_max);
}

// The check put before an instruction in the union.
enum class Guard : uint8_t {
  kNone,
  kAbs,         // ld #len; jge #(k+size) else next program
  kInd,         // ld #len; jge #(k+size) else next; sub #(k+size); jge x else next
  kMsh,         // tax; ld #len; jge #(k+1) else next; txa
  kDivX,        // st M[free]; txa; jeq #0 -> next; ld M[free]
  kAlwaysFails  // the load always fails in userland: jump to the next program
};

// What one pass over a program found.
struct Analysis {
  std::string unsupported;  // non-empty: accepted whole in the union, because of this
  uint64_t read_bound = 0;  // the furthest byte a load can read (kUnbounded)
  bool reset_a = false;     // reads A before writing it on some path
  bool reset_x = false;
  int free_slot = -1;  // an M[] slot the program never names
  std::vector<Guard> guard;
  std::vector<bool> reached;
};

Analysis Analyse(const std::vector<bpf_insn>& p) {
  Analysis a;
  const size_t n = p.size();
  a.guard.assign(n, Guard::kNone);
  a.reached.assign(n, false);
  uint32_t named_slots = 0;
  for (const bpf_insn& in : p) {
    const uint16_t c = in.code;
    if ((c == (BPF_LD | BPF_MEM) || c == (BPF_LDX | BPF_MEM) || BPF_CLASS(c) == BPF_ST ||
         BPF_CLASS(c) == BPF_STX) &&
        in.k < BPF_MEMWORDS)
      named_slots |= 1u << in.k;
  }
  for (int m = 0; m < BPF_MEMWORDS; ++m)
    if (!(named_slots & (1u << m))) a.free_slot = m;
  std::vector<Flow> flows(n);
  if (n != 0) flows[0].reached = true;
  auto fail = [&](size_t j, absl::string_view why) {
    a.unsupported = absl::StrCat("instruction ", j, " (code 0x", absl::Hex(p[j].code), "): ", why);
    return a;
  };
  for (size_t j = 0; j < n; ++j) {
    if (!flows[j].reached) continue;
    a.reached[j] = true;
    Flow f = flows[j];
    const bpf_insn& in = p[j];
    const uint16_t c = in.code;
    const uint64_t k = in.k;
    auto read_a = [&] { a.reset_a |= !f.a_set; };
    auto read_x = [&] { a.reset_x |= !f.x_set; };
    bool falls_through = true;
    switch (BPF_CLASS(c)) {
      case BPF_LD: {
        const uint32_t size = LoadSize(c);
        switch (BPF_MODE(c)) {
          case BPF_ABS:
            if (size == 0) return fail(j, "bad load size");
            if (k >= kNegativeOffset) {
              a.guard[j] = Guard::kAlwaysFails;
              falls_through = false;
              break;
            }
            a.read_bound = std::max(a.read_bound, k + size);
            if (k + size > f.len_proven) {
              a.guard[j] = Guard::kAbs;
              f.len_proven = k + size;
            }
            break;
          case BPF_IND:
            if (size == 0) return fail(j, "bad load size");
            read_x();
            if (k >= kNegativeOffset) {
              a.guard[j] = Guard::kAlwaysFails;
              falls_through = false;
              break;
            }
            a.read_bound =
                std::max(a.read_bound, f.x_max >= kUnbounded ? kUnbounded : f.x_max + k + size);
            if (k + size > f.x_rel_proven) {
              a.guard[j] = Guard::kInd;
              f.x_rel_proven = k + size;
              f.len_proven = std::max(f.len_proven, k + size);
            }
            break;
          case BPF_LEN:
          case BPF_IMM:
            if (BPF_SIZE(c) != BPF_W) return fail(j, "bad load size");
            break;
          case BPF_MEM:
            if (k >= BPF_MEMWORDS) return fail(j, "no such scratch slot");
            if (!(f.mem_valid & (1u << k))) return fail(j, "may read M[k] before writing it");
            break;
          default:
            return fail(j, "unknown load mode");
        }
        f.a_set = true;
        break;
      }
      case BPF_LDX:
        switch (BPF_MODE(c)) {
          case BPF_IMM:
            f.x_max = k;
            break;
          case BPF_LEN:
            f.x_max = kUnbounded;
            break;
          case BPF_MEM:
            if (k >= BPF_MEMWORDS) return fail(j, "no such scratch slot");
            if (!(f.mem_valid & (1u << k))) return fail(j, "may read M[k] before writing it");
            f.x_max = kUnbounded;
            break;
          case BPF_MSH:
            if (BPF_SIZE(c) != BPF_B) return fail(j, "bad load size");
            if (k >= kNegativeOffset) {
              a.guard[j] = Guard::kAlwaysFails;
              falls_through = false;
              break;
            }
            a.read_bound = std::max(a.read_bound, k + 1);
            if (k + 1 > f.len_proven) {
              a.guard[j] = Guard::kMsh;
              f.len_proven = k + 1;
            }
            f.x_max = kMshMax;
            break;
          default:
            return fail(j, "unknown load mode");
        }
        f.x_set = true;
        f.x_rel_proven = 0;
        break;
      case BPF_ST:
      case BPF_STX:
        if (k >= BPF_MEMWORDS) return fail(j, "no such scratch slot");
        if (BPF_CLASS(c) == BPF_ST) {
          read_a();
        } else {
          read_x();
        }
        f.mem_valid |= 1u << k;
        break;
      case BPF_ALU: {
        const uint16_t op = BPF_OP(c);
        switch (op) {
          case BPF_ADD:
          case BPF_SUB:
          case BPF_MUL:
          case BPF_DIV:
          case BPF_MOD:
          case BPF_AND:
          case BPF_OR:
          case BPF_XOR:
          case BPF_LSH:
          case BPF_RSH:
          case BPF_NEG:
            break;
          default:
            return fail(j, "unknown ALU operation");
        }
        read_a();
        if (op != BPF_NEG && BPF_SRC(c) == BPF_X) {
          read_x();
          if (op == BPF_DIV || op == BPF_MOD) {
            if (a.free_slot < 0) return fail(j, "divides by X and every scratch slot is in use");
            a.guard[j] = Guard::kDivX;
          }
        } else if ((op == BPF_DIV || op == BPF_MOD) && k == 0) {
          return fail(j, "divides by 0");
        }
        f.a_set = true;
        break;
      }
      case BPF_JMP: {
        const uint16_t op = BPF_OP(c);
        falls_through = false;
        if (op == BPF_JA) {
          if (k >= n - j - 1) return fail(j, "jumps out of the program");
          Merge(flows[j + 1 + k], f);
          break;
        }
        if (op != BPF_JEQ && op != BPF_JGT && op != BPF_JGE && op != BPF_JSET)
          return fail(j, "unknown jump");
        read_a();
        if (BPF_SRC(c) == BPF_X) read_x();
        if (j + 1 + in.jt >= n || j + 1 + in.jf >= n) return fail(j, "jumps out of the program");
        Merge(flows[j + 1 + in.jt], f);
        Merge(flows[j + 1 + in.jf], f);
        break;
      }
      case BPF_RET:
        falls_through = false;
        if (BPF_RVAL(c) == BPF_A) {
          read_a();
        } else if (BPF_RVAL(c) != BPF_K) {
          return fail(j, "unknown return");
        }
        break;
      case BPF_MISC:
        if (BPF_MISCOP(c) == BPF_TAX) {
          read_a();
          f.x_set = true;
          f.x_max = kUnbounded;
          f.x_rel_proven = 0;
        } else if (BPF_MISCOP(c) == BPF_TXA) {
          read_x();
          f.a_set = true;
        } else {
          return fail(j, "unknown operation");
        }
        break;
      default:
        return fail(j, "unknown instruction class");
    }
    if (falls_through) {
      if (j + 1 >= n) return fail(j, "the program does not end with a return");
      Merge(flows[j + 1], f);
    }
  }
  return a;
}

// Instructions with symbolic jump targets; Finish() places them and adds a
// `ja` trampoline after any conditional jump whose target is out of reach.
class Assembler {
 public:
  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Bind(int label) { labels_[label] = static_cast<int64_t>(items_.size()); }
  void Emit(uint16_t code, uint32_t k) { items_.push_back({code, k, -1, -1}); }
  void Jump(uint16_t code, uint32_t k, int jt_label, int jf_label) {
    items_.push_back({code, k, jt_label, jf_label});
  }
  void Ja(int label) { items_.push_back({BPF_JMP | BPF_JA, 0, label, -1}); }
  size_t size() const { return items_.size(); }

  absl::StatusOr<std::vector<bpf_insn>> Finish(uint32_t max_insns) const {
    const size_t n = items_.size();
    std::vector<uint8_t> tramp(n, 0);  // bit 0: true target via a trampoline; bit 1: false
    std::vector<uint64_t> pos(n + 1);
    for (;;) {
      uint64_t p = 0;
      for (size_t i = 0; i < n; ++i) {
        pos[i] = p;
        p += 1 + (tramp[i] & 1) + (tramp[i] >> 1 & 1);
      }
      pos[n] = p;
      if (p > max_insns)
        return absl::ResourceExhaustedError(absl::StrCat(
            "the union needs ", p, " instructions or more, more than the limit of ", max_insns));
      bool changed = false;
      for (size_t i = 0; i < n; ++i) {
        if (!IsConditional(items_[i])) continue;
        for (int t = 0; t < 2; ++t) {
          if (tramp[i] & (1 << t)) continue;
          if (Target(pos, t == 0 ? items_[i].jt : items_[i].jf) - pos[i] - 1 > 255) {
            tramp[i] |= 1 << t;
            changed = true;
          }
        }
      }
      if (!changed) break;
    }
    std::vector<bpf_insn> out;
    out.reserve(pos[n]);
    for (size_t i = 0; i < n; ++i) {
      const Item& it = items_[i];
      if (it.code == (BPF_JMP | BPF_JA)) {
        out.push_back(Insn(it.code, Target(pos, it.jt) - pos[i] - 1));
      } else if (IsConditional(it)) {
        const uint64_t t = Target(pos, it.jt), f = Target(pos, it.jf);
        const bool tt = tramp[i] & 1, tf = tramp[i] & 2;
        const uint64_t jt = tt ? 0 : t - pos[i] - 1;
        const uint64_t jf = tf ? (tt ? 1 : 0) : f - pos[i] - 1;
        out.push_back(Insn(it.code, it.k, jt, jf));
        uint64_t at = pos[i] + 1;
        if (tt) out.push_back(Insn(BPF_JMP | BPF_JA, t - ++at));
        if (tf) out.push_back(Insn(BPF_JMP | BPF_JA, f - ++at));
      } else {
        out.push_back(Insn(it.code, it.k));
      }
    }
    return out;
  }

 private:
  struct Item {
    uint16_t code;
    uint32_t k;
    int jt, jf;  // labels (ja: jt)
  };
  static bool IsConditional(const Item& it) {
    return BPF_CLASS(it.code) == BPF_JMP && BPF_OP(it.code) != BPF_JA;
  }
  uint64_t Target(const std::vector<uint64_t>& pos, int label) const {
    return pos[static_cast<size_t>(labels_[label])];
  }

  std::vector<Item> items_;
  std::vector<int64_t> labels_;  // label -> item index
};

// One member's program, rewritten to return `need` where it accepts and to
// go on to `next` where it rejects or a load would fail.
void EmitMember(const std::vector<bpf_insn>& p, const Analysis& a, bool first, uint32_t need,
                int next, Assembler& as) {
  if (!first && a.reset_a) as.Emit(BPF_LD | BPF_IMM, 0);
  if (!first && a.reset_x) as.Emit(BPF_LDX | BPF_IMM, 0);
  const size_t n = p.size();
  std::vector<int> at(n);
  for (size_t j = 0; j < n; ++j) at[j] = as.NewLabel();
  for (size_t j = 0; j < n; ++j) {
    as.Bind(at[j]);
    if (!a.reached[j]) continue;  // nothing jumps here
    const bpf_insn& in = p[j];
    const uint16_t c = in.code;
    const uint32_t end = static_cast<uint32_t>(in.k + (BPF_CLASS(c) == BPF_LDX ? 1 : LoadSize(c)));
    switch (a.guard[j]) {
      case Guard::kNone:
        break;
      case Guard::kAlwaysFails:
        as.Ja(next);
        continue;
      case Guard::kAbs: {
        as.Emit(BPF_LD | BPF_W | BPF_LEN, 0);
        const int ok = as.NewLabel();
        as.Jump(BPF_JMP | BPF_JGE | BPF_K, end, ok, next);
        as.Bind(ok);
        break;
      }
      case Guard::kInd: {
        as.Emit(BPF_LD | BPF_W | BPF_LEN, 0);
        int ok = as.NewLabel();
        as.Jump(BPF_JMP | BPF_JGE | BPF_K, end, ok, next);
        as.Bind(ok);
        as.Emit(BPF_ALU | BPF_SUB | BPF_K, end);  // len - (k + size) >= X
        ok = as.NewLabel();
        as.Jump(BPF_JMP | BPF_JGE | BPF_X, 0, ok, next);
        as.Bind(ok);
        break;
      }
      case Guard::kMsh: {
        as.Emit(BPF_MISC | BPF_TAX, 0);  // X is about to be replaced: keep A there
        as.Emit(BPF_LD | BPF_W | BPF_LEN, 0);
        const int ok = as.NewLabel();
        as.Jump(BPF_JMP | BPF_JGE | BPF_K, end, ok, next);
        as.Bind(ok);
        as.Emit(BPF_MISC | BPF_TXA, 0);
        break;
      }
      case Guard::kDivX: {
        const uint32_t slot = static_cast<uint32_t>(a.free_slot);
        as.Emit(BPF_ST, slot);
        as.Emit(BPF_MISC | BPF_TXA, 0);
        const int ok = as.NewLabel();
        as.Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, next, ok);
        as.Bind(ok);
        as.Emit(BPF_LD | BPF_MEM, slot);
        break;
      }
    }
    if (BPF_CLASS(c) == BPF_RET) {
      if (BPF_RVAL(c) == BPF_K) {
        if (in.k == 0) {
          as.Ja(next);
        } else {
          as.Emit(BPF_RET | BPF_K, need);
        }
      } else {  // ret A
        const int accept = as.NewLabel();
        as.Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, next, accept);
        as.Bind(accept);
        as.Emit(BPF_RET | BPF_K, need);
      }
    } else if (c == (BPF_JMP | BPF_JA)) {
      as.Ja(at[j + 1 + in.k]);
    } else if (BPF_CLASS(c) == BPF_JMP) {
      as.Jump(c, in.k, at[j + 1 + in.jt], at[j + 1 + in.jf]);
    } else {
      as.Emit(c, in.k);
    }
  }
}

// A member as the union sees it.
struct Prepared {
  uint32_t need = 0;
  std::string accepts_all;  // non-empty: accepts everything in the union, because
  Analysis analysis;
};

Prepared Prepare(const FilterUnionMember& m) {
  Prepared p;
  const uint32_t snaplen = m.snaplen == 0 ? kWholePacket : m.snaplen;
  if (m.program.empty()) {
    p.need = snaplen;
    p.accepts_all = "has no filter";
    return p;
  }
  p.analysis = Analyse(m.program);
  if (!p.analysis.unsupported.empty()) {
    p.need = kWholePacket;
    p.accepts_all =
        absl::StrCat("has a filter the union cannot take (", p.analysis.unsupported, ")");
    return p;
  }
  p.need = static_cast<uint32_t>(
      std::max<uint64_t>(snaplen, std::min<uint64_t>(p.analysis.read_bound, kWholePacket)));
  if (!m.kernel_can_run) p.accepts_all = "filters another link type than the kernel's";
  return p;
}

}  // namespace

uint32_t BytesNeeded(const FilterUnionMember& member) { return Prepare(member).need; }

absl::StatusOr<KernelFilter> UnionOf(absl::Span<const FilterUnionMember> members,
                                     const FilterUnionOptions& options) {
  KernelFilter out;
  if (members.empty()) {
    out.insns = {Insn(BPF_RET | BPF_K, 0)};
    out.kind = KernelFilterKind::kRejectAll;
    return out;
  }
  std::vector<Prepared> prepared;
  prepared.reserve(members.size());
  uint32_t max_need = 0;
  for (const FilterUnionMember& m : members) {
    prepared.push_back(Prepare(m));
    max_need = std::max(max_need, prepared.back().need);
  }
  std::vector<size_t> order(members.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return prepared[a].need > prepared[b].need; });
  Assembler as;
  out.kind = KernelFilterKind::kUnion;
  if (options.accept_vlan_tagged && prepared[order[0]].accepts_all.empty()) {
    as.Emit(BPF_LD | BPF_B | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT));
    const int untagged = as.NewLabel(), tagged = as.NewLabel();
    as.Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, untagged, tagged);
    as.Bind(tagged);
    as.Emit(BPF_RET | BPF_K, max_need);
    as.Bind(untagged);
  }
  bool ended = false;
  for (size_t i = 0; i < order.size(); ++i) {
    const Prepared& p = prepared[order[i]];
    const FilterUnionMember& m = members[order[i]];
    if (!p.accepts_all.empty()) {
      as.Emit(BPF_RET | BPF_K, p.need);
      out.kind = KernelFilterKind::kAcceptAll;
      out.note = absl::StrCat("session ", m.id, " ", p.accepts_all);
      ended = true;
      break;
    }
    const int next = as.NewLabel();
    EmitMember(m.program, p.analysis, i == 0, p.need, next, as);
    as.Bind(next);
  }
  if (!ended) as.Emit(BPF_RET | BPF_K, 0);
  absl::StatusOr<std::vector<bpf_insn>> insns = as.Finish(options.max_insns);
  if (!insns.ok())
    return absl::Status(insns.status().code(),
                        absl::StrCat("the union of ", members.size(),
                                     " session filters: ", insns.status().message()));
  out.insns = *std::move(insns);
  return out;
}

KernelFilter BuildKernelFilter(absl::Span<const FilterUnionMember> members,
                               const FilterUnionOptions& options) {
  absl::StatusOr<KernelFilter> u = UnionOf(members, options);
  if (u.ok()) return *std::move(u);
  uint32_t max_need = 0;
  for (const FilterUnionMember& m : members) max_need = std::max(max_need, BytesNeeded(m));
  KernelFilter out;
  out.insns = {Insn(BPF_RET | BPF_K, max_need)};
  out.kind = KernelFilterKind::kFallback;
  out.note = std::string(u.status().message());
  return out;
}

const char* KernelFilterKindName(KernelFilterKind kind) {
  switch (kind) {
    case KernelFilterKind::kRejectAll:
      return "reject-all";
    case KernelFilterKind::kUnion:
      return "union";
    case KernelFilterKind::kAcceptAll:
      return "accept-all";
    case KernelFilterKind::kFallback:
      return "fallback";
  }
  return "?";
}

}  // namespace mydev::daemon
