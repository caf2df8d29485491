// filter_union.h — one classic BPF program for the kernel below a device (its
// packet socket's SO_ATTACH_FILTER) that lets a packet through when at least
// one session's filter would accept it, and keeps as many bytes of it as the
// accepting session that wants the most needs: the union of the sessions'
// filters, so packets nobody wants never leave the kernel (issue 11, item 4).
// With no session it is `ret #0`: an idle device costs nothing (item 5).
//
// How it is built: the sessions' programs one after the other, the one that
// needs the most bytes first. In each, `ret #k` (k > 0) becomes `ret #need`
// (the bytes that session needs, see below), `ret #0` a jump to the next
// program, `ret A` "next program if A is 0, else `ret #need`"; the last
// program is followed by `ret #0`. The first program that accepts decides,
// and since the programs come in decreasing order of need, what it returns is
// the most any accepting session needs. Jumps are re-aimed; a conditional
// jump whose target ends up more than 255 instructions away goes through a
// `ja` trampoline placed right after it.
//
// Where the kernel and the daemon's userland filter (libpcap's bpf_filter)
// differ, the union is made to follow the daemon:
//   - A load past the packet's end aborts the *whole* program with 0, in the
//     kernel as in libpcap: one session's program reading past a short
//     packet would reject it for every later session. So each packet load
//     is preceded, where the length is not already known to suffice, by a
//     check of `len` that goes to the next program instead (and a division or
//     modulo by X by a check of X against 0, saving A in a scratch slot the
//     program does not use).
//   - The daemon runs each session's filter on the bytes the kernel kept. So a
//     session "needs" max(snaplen, the furthest byte its filter can read):
//     offsets after `ldx 4*([k]&0xf)` (at most 60) and `ldx #k` are bounded;
//     any other indexed load makes it the whole packet (0xffffffff).
//   - Each program starts with A and X as the previous one left them, so a
//     program that reads either before writing it gets `ld #0` / `ldx #0`
//     first. A program that may read a scratch slot M[k] before writing it
//     (the kernel refuses such programs) is taken as accepting everything.
//   - Linux hands a VLAN tag it took out of the frame to packet sockets beside
//     the frame (the daemon puts it back; the kernel's filter sees the frame
//     without it): with `accept_vlan_tagged`, such packets are accepted whole
//     before any session program runs.
// A member whose program cannot run on the frames the kernel sees
// (`kernel_can_run` false: e.g. a session switched to DLT_LINUX_SLL2, whose
// filter runs on a record the daemon builds), has no program, or whose
// program the builder does not handle, accepts everything: the union stops
// there with `ret #need` (kind kAcceptAll). A union longer than `max_insns`
// gives kFallback: `ret #<most any member needs>`, with the reason.
//
//   std::vector<FilterUnionMember> m = {{/*id=*/1, udp53, /*snaplen=*/262144, true},
//                                       {/*id=*/2, tcp80, /*snaplen=*/96, true}};
//   KernelFilter f = BuildKernelFilter(m, FilterUnionOptions{});
//   // f.kind == KernelFilterKind::kUnion; f.insns ready for SO_ATTACH_FILTER
//   absl::StatusOr<std::vector<bpf_insn>> u = UnionOf(m, {});   // the same, or why not
#ifndef MYDEV_DAEMON_DATAPATH_FILTER_UNION_H_
#define MYDEV_DAEMON_DATAPATH_FILTER_UNION_H_

#include <linux/filter.h>  // BPF_MAXINSNS, SKF_AD_*
#include <pcap/pcap.h>     // struct bpf_insn, BPF_* opcodes (pcap/bpf.h)

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace mydev::daemon {

// One session's part of the union.
struct FilterUnionMember {
  uint64_t id = 0;                // the session's id (in notes)
  std::vector<bpf_insn> program;  // empty = no filter (accepts everything)
  uint32_t snaplen = 0;           // bytes the session keeps of a packet
  bool kernel_can_run = true;     // false: accepts everything in the union
};

// How to build it.
struct FilterUnionOptions {
  uint32_t max_insns = BPF_MAXINSNS;  // the kernel's limit
  // Accept packets whose VLAN tag the kernel holds outside the frame
  // (SKF_AD_VLAN_TAG_PRESENT) before any session program runs. Only for
  // Linux socket filters: libpcap's bpf_filter rejects that load.
  bool accept_vlan_tagged = false;
};

// What the built program does.
enum class KernelFilterKind {
  kRejectAll,  // no member: `ret #0`
  kUnion,      // the union of the members' programs
  kAcceptAll,  // a member accepts everything (no filter, another link type, ...)
  kFallback,   // the union could not be built (too long, ...): accepts everything
};

// A program for the kernel, what it does and why.
struct KernelFilter {
  std::vector<bpf_insn> insns;
  KernelFilterKind kind = KernelFilterKind::kRejectAll;
  // kAcceptAll: which member accepts everything and why; kFallback: why the
  // union could not be built. Empty otherwise.
  std::string note;
};

// Returned by a member that needs the whole packet (and by accept-all
// programs): the kernel keeps min(packet length, return value) bytes.
inline constexpr uint32_t kWholePacket = 0xffffffff;

// The bytes a member needs of a packet its filter accepts: max(snaplen, the
// furthest byte its program can read), kWholePacket when that is unbounded or
// the program cannot be analysed.
uint32_t BytesNeeded(const FilterUnionMember& member);

// The union of members' programs (see the top of this file): kRejectAll,
// kUnion or kAcceptAll. RESOURCE_EXHAUSTED when it would be longer than
// options.max_insns. (A member whose program the builder cannot take — an
// unknown opcode, a jump out of the program, a scratch slot read before it is
// written — accepts everything, as a member without a program does.)
absl::StatusOr<KernelFilter> UnionOf(absl::Span<const FilterUnionMember> members,
                                     const FilterUnionOptions& options);

// UnionOf, or when it fails, kFallback: `ret #<most any member needs>` with
// the error as the note. Never fails.
KernelFilter BuildKernelFilter(absl::Span<const FilterUnionMember> members,
                               const FilterUnionOptions& options);

// "reject-all", "union", "accept-all", "fallback".
const char* KernelFilterKindName(KernelFilterKind kind);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_FILTER_UNION_H_
