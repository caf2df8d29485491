// afpacket_backend.cc — see afpacket_backend.h. Socket options follow what
// libpcap's pcap-linux.c sets up for a TPACKET_V3 capture.
#include "daemon/backends/afpacket/afpacket_backend.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>  // PCAP_IF_*
#include <pcap/vlan.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace mydev::daemon {
namespace {

constexpr uint32_t kVlanTagBytes = sizeof(vlan_tag);
static_assert(kVlanTagBytes == VLAN_TAG_LEN);
constexpr uint32_t kMacAddressesBytes = 2 * ETH_ALEN;  // where a VLAN tag goes back

struct InterfaceState {
  int ifindex = 0;
  unsigned flags = 0;   // IFF_*
  uint16_t hatype = 0;  // ARPHRD_*
};

int64_t MonotonicMs() { return ClockNs(CLOCK_MONOTONIC) / 1'000'000; }

// A spin-wait hint to the CPU (the busy poller's loop).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The interface as the kernel sees it now (in this thread's network namespace).
absl::StatusOr<InterfaceState> QueryInterface(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not an interface name"));
  UniqueFd s(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return absl::ErrnoToStatus(errno, "socket for interface ioctls");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  InterfaceState st;
  if (ioctl(s.get(), SIOCGIFINDEX, &ifr) != 0) {
    if (errno == ENODEV)
      return absl::NotFoundError(absl::StrCat("interface ", name, " does not exist"));
    return absl::ErrnoToStatus(errno, absl::StrCat("SIOCGIFINDEX ", name));
  }
  st.ifindex = ifr.ifr_ifindex;
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("SIOCGIFFLAGS ", name));
  st.flags = static_cast<unsigned short>(ifr.ifr_flags);
  if (ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("SIOCGIFHWADDR ", name));
  st.hatype = ifr.ifr_hwaddr.sa_family;
  return st;
}

absl::StatusOr<InterfaceState> QueryUpInterface(const std::string& name) {
  absl::StatusOr<InterfaceState> st = QueryInterface(name);
  if (st.ok() && !(st->flags & IFF_UP))
    return absl::UnavailableError(absl::StrCat("interface ", name, " is down"));
  return st;
}

// Only Ethernet and loopback: DrainBlocks and SLL2 assume their framing.
absl::Status CheckLinkType(const std::string& name, uint16_t hatype) {
  if (hatype == ARPHRD_ETHER || hatype == ARPHRD_LOOPBACK) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("interface ", name, " has link type ARPHRD ", hatype,
                   "; only Ethernet and loopback interfaces are supported"));
}

// One packet's fields as the kernel wrote them, from a tpacket3_hdr (blocks)
// or a tpacket2_hdr (frames).
struct KernelFrame {
  uint8_t* frame;      // where the tpacketN_hdr starts
  uint32_t hdr_bytes;  // TPACKET_ALIGN(sizeof(tpacketN_hdr))
  uint32_t status;     // tp_status
  uint32_t len, snaplen, mac, net, sec, nsec;
  uint16_t vlan_tci, vlan_tpid;
  const sockaddr_ll* sll;
};

KernelFrame FromV3(uint8_t* frame, const tpacket3_hdr& h, const sockaddr_ll& sll) {
  return {frame,
          TPACKET_ALIGN(sizeof(tpacket3_hdr)),
          h.tp_status,
          h.tp_len,
          h.tp_snaplen,
          h.tp_mac,
          h.tp_net,
          h.tp_sec,
          h.tp_nsec,
          static_cast<uint16_t>(h.hv1.tp_vlan_tci),
          static_cast<uint16_t>(h.hv1.tp_vlan_tpid),
          &sll};
}

KernelFrame FromV2(tpacket2_hdr* h) {
  return {reinterpret_cast<uint8_t*>(h),
          TPACKET_ALIGN(sizeof(tpacket2_hdr)),
          h->tp_status,
          h->tp_len,
          h->tp_snaplen,
          h->tp_mac,
          h->tp_net,
          h->tp_sec,
          h->tp_nsec,
          h->tp_vlan_tci,
          h->tp_vlan_tpid,
          &TpacketV2Ring::Address(h)};
}

// Fills p and l from what the kernel wrote; p.link = l.
void FillPacket(const KernelFrame& k, Packet* p, LinkLayerInfo* l) {
  uint8_t* data = k.frame + k.mac;
  p->caplen = k.snaplen;
  p->len = k.len;
  l->payload_offset = k.net >= k.mac ? k.net - k.mac : 0;
  // Put a tag the kernel took out back after the MAC addresses; the reserve
  // in front of the frame leaves room (pcap-linux.c does so).
  const bool vlan = (k.status & TP_STATUS_VLAN_VALID) != 0;
  if (vlan && k.snaplen >= kMacAddressesBytes &&
      k.mac >= k.hdr_bytes + sizeof(sockaddr_ll) + kVlanTagBytes) {
    vlan_tag tag;
    tag.vlan_tpid = htons((k.status & TP_STATUS_VLAN_TPID_VALID) ? k.vlan_tpid : ETH_P_8021Q);
    tag.vlan_tci = htons(k.vlan_tci);
    data -= kVlanTagBytes;
    std::memmove(data, data + kVlanTagBytes, kMacAddressesBytes);
    std::memcpy(data + kMacAddressesBytes, &tag, sizeof tag);
    p->caplen += kVlanTagBytes;
    p->len += kVlanTagBytes;
    l->payload_offset += kVlanTagBytes;
  }
  p->data = data;
  p->ts_ns = static_cast<uint64_t>(k.sec) * 1'000'000'000u + k.nsec;
  const sockaddr_ll& sll = *k.sll;
  p->direction = sll.sll_pkttype == PACKET_OUTGOING ? PacketDirection::kOut : PacketDirection::kIn;
  l->protocol = ntohs(sll.sll_protocol);
  l->hatype = sll.sll_hatype;
  l->ifindex = static_cast<uint32_t>(sll.sll_ifindex);
  l->pkttype = sll.sll_pkttype;
  l->halen = std::min<uint8_t>(sll.sll_halen, sizeof l->addr);
  std::memcpy(l->addr, sll.sll_addr, sizeof l->addr);
  p->link = l;
}

// Binds a packet socket to every protocol on ifindex.
absl::Status BindAll(int fd, int ifindex, const std::string& interface) {
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("binding to ", interface));
  int err = 0;  // a bind to a down interface reports ENETDOWN here
  socklen_t n = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) == 0 && err != 0)
    return absl::ErrnoToStatus(err, absl::StrCat("binding to ", interface));
  return absl::OkStatus();
}

// The interface's MTU (1500 if it cannot be read).
uint32_t InterfaceMtu(const std::string& name) {
  UniqueFd s(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), std::min(name.size(), sizeof ifr.ifr_name - 1));
  if (!s.valid() || ioctl(s.get(), SIOCGIFMTU, &ifr) != 0 || ifr.ifr_mtu <= 0) return 1500;
  return static_cast<uint32_t>(ifr.ifr_mtu);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AfpacketBackend>> AfpacketBackend::Create(
    DeviceInfo info, const AfpacketOptions& options) {
  absl::StatusOr<InterfaceState> st = QueryInterface(options.interface);
  // Missing or down: the device starts gone instead of failing the daemon.
  const bool absent = absl::IsNotFound(st.status());
  if (!st.ok() && !absent)
    return absl::Status(st.status().code(),
                        absl::StrCat("device '", info.name, "': ", st.status().message()));
  if (st.ok()) {
    if (absl::Status s = CheckLinkType(options.interface, st->hatype); !s.ok())
      return absl::Status(s.code(), absl::StrCat("device '", info.name, "': ", s.message()));
  }
  const bool up = st.ok() && (st->flags & IFF_UP);
  info.backend = "afpacket";
  if (info.description.empty()) info.description = "Linux interface " + options.interface;
  info.dlts = {DLT_EN10MB, DLT_LINUX_SLL2};
  info.can_inject = true;
  // As the interface is at start-up (PCAP_IF_DISCONNECTED when missing or down).
  info.pcap_flags = (st.ok() && (st->flags & IFF_LOOPBACK)) ? PCAP_IF_LOOPBACK : 0;
  if (!up) {
    info.pcap_flags |= PCAP_IF_CONNECTION_STATUS_DISCONNECTED;
  } else {
    info.pcap_flags |= PCAP_IF_UP | ((st->flags & IFF_RUNNING)
                                         ? PCAP_IF_RUNNING | PCAP_IF_CONNECTION_STATUS_CONNECTED
                                         : PCAP_IF_CONNECTION_STATUS_DISCONNECTED);
  }
  UniqueFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid() || !wake.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  std::unique_ptr<AfpacketBackend> b(
      new AfpacketBackend(std::move(info), options, std::move(stop), std::move(wake)));
  absl::MutexLock lock(&b->mu_);
  if (!up) {
    const absl::Status why =
        absent ? st.status()
               : absl::UnavailableError(absl::StrCat("interface ", options.interface, " is down"));
    b->health_ = b->GoneStatus(why);
    MYDEV_LOG(kWarning, "%s: %s; starting without it (serving once it is present and up)",
              b->info_.name, why.message());
    return b;
  }
  if (absl::Status s = b->OpenSocket(); !s.ok())
    return absl::Status(s.code(), absl::StrCat("device '", b->info_.name, "' on ",
                                               options.interface, ": ", s.message()));
  return b;
}

AfpacketBackend::AfpacketBackend(DeviceInfo info, const AfpacketOptions& options,
                                 UniqueFd stop_event, UniqueFd wake_event)
    : info_(std::move(info)),
      options_(options),
      stop_event_(std::move(stop_event)),
      wake_event_(std::move(wake_event)) {}

AfpacketBackend::~AfpacketBackend() {
  Stop();
  absl::MutexLock lock(&mu_);
  frame_ring_.reset();
  frame_fd_.reset();
  ring_.reset();
  fd_.reset();
}

absl::Status AfpacketBackend::OpenSocket() {
  absl::StatusOr<InterfaceState> st = QueryUpInterface(options_.interface);
  if (!st.ok()) return st.status();
  if (absl::Status s = CheckLinkType(options_.interface, st->hatype); !s.ok()) return s;
  // Protocol 0: nothing arrives until Bind() names ETH_P_ALL and the interface.
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    int e = errno;
    return absl::ErrnoToStatus(e, e == EPERM ? "opening a packet socket needs CAP_NET_RAW"
                                             : "socket(AF_PACKET, SOCK_RAW)");
  }
  int one = 1;  // VLAN tags and the original length as aux data (pcap-linux.c does this)
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0 &&
      errno != ENOPROTOOPT)
    return absl::ErrnoToStatus(errno, "setsockopt(PACKET_AUXDATA)");
  // Before bind(): no packet the filter rejects ever gets in.
  if (absl::Status s = AttachKernelFilter(fd.get()); !s.ok())
    MYDEV_LOG(kWarning, "%s: %s; the kernel passes every packet", info_.name, s.ToString());
  // Timestamps: the ring carries tp_sec + tp_nsec (software, CLOCK_REALTIME).
  TpacketV3Geometry g = options_.ring;
  g.block_count = WantedBlocks();  // a reopened device keeps what its sessions asked for
  absl::StatusOr<std::unique_ptr<TpacketV3Ring>> ring =
      TpacketV3Ring::Create(fd.get(), g, kVlanTagBytes);
  if (!ring.ok()) return ring.status();
  ring_ = std::move(*ring);
  ring_blocks_ = g.block_count;
  fd_ = std::move(fd);
  ifindex_ = st->ifindex;
  bound_ = false;
  promisc_on_ = false;
  fanout_id_ = -1;
  block_consumed_ = 0;
  return absl::OkStatus();
}

absl::Status AfpacketBackend::Bind() {
  if (absl::Status s = BindAll(fd_.get(), ifindex_, options_.interface); !s.ok()) return s;
  bound_ = true;
  // A fanout group of its own (the kernel picks an unused id), so that a
  // per-frame socket can take its packets over; program: member 0.
  int arg = (PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
  uint32_t val = 0;
  socklen_t n = sizeof val;
  // The answer is id | type << 16 | flags << 24 (the id may be 0): 0 = no group.
  if (setsockopt(fd_.get(), SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0 ||
      getsockopt(fd_.get(), SOL_PACKET, PACKET_FANOUT, &val, &n) != 0 || val == 0) {
    const int e = errno;
    MYDEV_LOG(kWarning,
              "%s: no PACKET_FANOUT_CBPF group (%s); sessions in immediate mode get packets in "
              "blocks of up to %d ms",
              info_.name, strerror(e), options_.ring.retire_timeout_ms);
  } else {
    fanout_id_ = static_cast<int>(val & 0xffff);
    if (absl::Status s = SteerTo(0); !s.ok()) return s;
  }
  return ApplyPromiscuous(promisc_wanted_);
}

absl::Status AfpacketBackend::SteerTo(uint32_t index) {
  sock_filter ret = BPF_STMT(BPF_RET | BPF_K, index);
  sock_fprog prog{1, &ret};
  if (setsockopt(fd_.get(), SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof prog) != 0)
    return absl::ErrnoToStatus(
        errno, absl::StrCat("setsockopt(PACKET_FANOUT_DATA) on ", options_.interface));
  return absl::OkStatus();
}

absl::Status AfpacketBackend::OpenFrameSocket() {
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_PACKET, SOCK_RAW)");
  const uint64_t total = uint64_t{options_.ring.block_bytes} * options_.ring.block_count;
  absl::StatusOr<std::unique_ptr<TpacketV2Ring>> ring = TpacketV2Ring::Create(
      fd.get(), TpacketV2Ring::GeometryFor(InterfaceMtu(options_.interface), kVlanTagBytes, total),
      kVlanTagBytes);
  if (!ring.ok()) return ring.status();
  if (absl::Status s = AttachKernelFilter(fd.get()); !s.ok())  // no filter: a superset
    MYDEV_LOG(kWarning, "%s: per-frame socket: %s; the kernel passes it every packet", info_.name,
              s.ToString());
  if (absl::Status s = BindAll(fd.get(), ifindex_, options_.interface); !s.ok()) return s;
  int arg = fanout_id_ | (PACKET_FANOUT_CBPF << 16);
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
    return absl::ErrnoToStatus(errno, "joining the per-frame socket to the fanout group");
  frame_fd_ = std::move(fd);
  frame_ring_ = std::move(*ring);
  return absl::OkStatus();
}

uint32_t AfpacketBackend::WantedBlocks() const {
  const uint64_t block = options_.ring.block_bytes;
  const uint64_t configured = options_.ring.block_count;
  const uint64_t most = std::max(configured, options_.max_ring_bytes / block);
  return static_cast<uint32_t>(
      std::clamp((ring_bytes_wanted_ + block - 1) / block, configured, most));
}

void AfpacketBackend::SetRingBytesHint(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  if (bytes <= ring_bytes_wanted_) return;  // grows only
  ring_bytes_wanted_ = bytes;
  grow_failed_ = false;
  uint64_t one = 1;
  (void)!write(wake_event_.get(), &one, sizeof one);
}

uint32_t AfpacketBackend::ring_blocks() const {
  absl::MutexLock lock(&mu_);
  return ring_blocks_;
}

uint64_t AfpacketBackend::kernel_ring_bytes() const {
  return uint64_t{ring_blocks()} * options_.ring.block_bytes;
}

absl::Status AfpacketBackend::OpenGroupMember(uint32_t blocks, UniqueFd* out,
                                              std::unique_ptr<TpacketV3Ring>* out_ring) {
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_PACKET, SOCK_RAW)");
  int one = 1;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0 &&
      errno != ENOPROTOOPT)
    return absl::ErrnoToStatus(errno, "setsockopt(PACKET_AUXDATA)");
  TpacketV3Geometry g = options_.ring;
  g.block_count = blocks;
  absl::StatusOr<std::unique_ptr<TpacketV3Ring>> ring =
      TpacketV3Ring::Create(fd.get(), g, kVlanTagBytes);
  if (!ring.ok()) return ring.status();
  // Bound, the socket has a hook of its own until it joins the group: what
  // that hook would deliver is in the old ring too, so nothing may pass.
  sock_filter reject = BPF_STMT(BPF_RET | BPF_K, 0);
  sock_fprog prog{1, &reject};
  if (setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    return absl::ErrnoToStatus(errno, "setsockopt(SO_ATTACH_FILTER) on the new ring's socket");
  if (absl::Status s = BindAll(fd.get(), ifindex_, options_.interface); !s.ok()) return s;
  int arg = fanout_id_ | (PACKET_FANOUT_CBPF << 16);
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
    return absl::ErrnoToStatus(errno, "joining the new ring's socket to the fanout group");
  *out = std::move(fd);
  *out_ring = std::move(*ring);
  return absl::OkStatus();
}

void AfpacketBackend::GrowRing(const PacketSink& sink) {
  UniqueFd fd;
  std::unique_ptr<TpacketV3Ring> ring;
  uint32_t blocks;
  absl::Status s;
  {
    absl::MutexLock lock(&mu_);
    blocks = WantedBlocks();
    s = OpenGroupMember(blocks, &fd, &ring);
    // Re-steering to member 0 waits for a grace period: the new socket's own
    // hook (which delivered nothing) is done with. Then it may take packets:
    // the reject-all makes way for the sessions' union (SetKernelFilter), or
    // for no filter at all.
    if (s.ok()) s = SteerTo(0);
    int unused = 0;  // the kernel wants an int-sized value
    if (s.ok() && !kernel_filter_.empty()) {
      s = AttachKernelFilter(fd.get());
    } else if (s.ok() &&
               setsockopt(fd.get(), SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) != 0) {
      s = absl::ErrnoToStatus(errno, "setsockopt(SO_DETACH_FILTER) on the new ring's socket");
    }
    // Member 1 is the new socket; returns when nothing is on its way into
    // the old ring any more.
    if (s.ok()) s = SteerTo(1);
    // Until the swap, SetKernelFilter() reaches the new socket too (the
    // thread drains the old ring without the lock meanwhile).
    if (s.ok()) grow_fd_ = fd.get();
    if (!s.ok()) {
      grow_failed_ = true;
      if (fd_.valid()) (void)SteerTo(0);
      MYDEV_LOG(kWarning, "%s: cannot grow the kernel ring to %d blocks (%s); keeping %d",
                info_.name, blocks, s.ToString(), ring_blocks_);
      return;  // fd closes: it leaves the group
    }
  }
  DrainOpenBlock(sink);  // the old ring's last packets come before the new ring's first
  UniqueFd old_fd;
  std::unique_ptr<TpacketV3Ring> old_ring;
  {
    absl::MutexLock lock(&mu_);
    ReadKernelStats();  // the old socket's drops
    old_fd = std::move(fd_);
    old_ring = std::move(ring_);
    fd_ = std::move(fd);
    grow_fd_ = -1;
    ring_ = std::move(ring);
    ring_blocks_ = blocks;
    block_consumed_ = 0;
    // Promiscuous mode on the new socket before the old one lets go of it.
    promisc_on_ = false;
    if (absl::Status p = ApplyPromiscuous(promisc_wanted_); !p.ok())
      MYDEV_LOG(kWarning, "%s: %s", info_.name, p.ToString());
    old_ring.reset();
    old_fd.reset();  // leaves the group: the new socket is member 0 (1 % 1 members, meanwhile)
    s = SteerTo(0);
  }
  if (!s.ok()) MYDEV_LOG(kError, "%s: steering to the new ring: %s", info_.name, s.ToString());
  MYDEV_LOG(kInfo, "%s: kernel ring grown to %d x %d bytes for the sessions' buffers", info_.name,
            blocks, options_.ring.block_bytes);
}

absl::Status AfpacketBackend::ApplyPromiscuous(bool on) {
  if (!fd_.valid() || on == promisc_on_) return absl::OkStatus();
  packet_mreq mr{};
  mr.mr_ifindex = ifindex_;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd_.get(), SOL_PACKET, on ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr,
                 sizeof mr) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("turning promiscuous mode ", on ? "on" : "off",
                                                   " on ", options_.interface));
  promisc_on_ = on;
  return absl::OkStatus();
}

absl::Status AfpacketBackend::AttachKernelFilter(int fd) const {
  if (kernel_filter_.empty()) return absl::OkStatus();
  sock_fprog prog{static_cast<unsigned short>(kernel_filter_.size()),
                  const_cast<sock_filter*>(kernel_filter_.data())};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("attaching a ", kernel_filter_.size(),
                                                   "-instruction filter (SO_ATTACH_FILTER) to the "
                                                   "packet socket on ",
                                                   options_.interface));
  return absl::OkStatus();
}

absl::Status AfpacketBackend::SetKernelFilter(absl::Span<const bpf_insn> program) {
  static_assert(sizeof(bpf_insn) == sizeof(sock_filter) &&
                offsetof(bpf_insn, k) == offsetof(sock_filter, k));
  absl::MutexLock lock(&mu_);
  kernel_filter_.clear();
  for (const bpf_insn& in : program) kernel_filter_.push_back({in.code, in.jt, in.jf, in.k});
  absl::Status s;
  if (program.size() > BPF_MAXINSNS)
    s = absl::InvalidArgumentError(absl::StrCat("a ", program.size(),
                                                "-instruction kernel filter is longer than the "
                                                "kernel's limit of ",
                                                BPF_MAXINSNS));
  if (program.empty() || !s.ok()) kernel_filter_.clear();
  if (s.ok() && fd_.valid()) s = AttachKernelFilter(fd_.get());
  if (s.ok() && frame_fd_.valid()) s = AttachKernelFilter(frame_fd_.get());
  if (s.ok() && grow_fd_ >= 0) s = AttachKernelFilter(grow_fd_);
  if (s.ok() && !kernel_filter_.empty()) return s;
  // Failed, or no program: no filter, every packet passes (no session misses one).
  kernel_filter_.clear();
  int unused = 0;
  for (int fd : {fd_.get(), frame_fd_.get(), grow_fd_})
    if (fd >= 0) (void)setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused);
  return s;
}

absl::Status AfpacketBackend::SetPromiscuous(bool on) {
  absl::MutexLock lock(&mu_);
  promisc_wanted_ = on;
  return ApplyPromiscuous(on);
}

absl::Status AfpacketBackend::SetImmediate(bool on) {
  absl::MutexLock lock(&mu_);
  immediate_wanted_ = on;
  frames_failed_ = false;
  uint64_t one = 1;
  (void)!write(wake_event_.get(), &one, sizeof one);
  if (on && fd_.valid() && fanout_id_ < 0)
    return absl::FailedPreconditionError(
        absl::StrCat("device '", info_.name,
                     "': the kernel cannot steer packets to a per-frame socket "
                     "(PACKET_FANOUT_CBPF); immediate sessions get packets in blocks"));
  return absl::OkStatus();
}

bool AfpacketBackend::FramesWanted() const {
  return immediate_wanted_ && fanout_id_ >= 0 && !frames_failed_;
}

bool AfpacketBackend::SwitchSettled() const {
  if (running_ && health_.ok() && active_wanted_ && !fd_.valid()) return false;  // opening
  return !running_ || !fd_.valid() || frames_applied_ == FramesWanted();
}

void AfpacketBackend::AwaitImmediate(absl::Duration limit) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(this, &AfpacketBackend::SwitchSettled), limit);
}

void AfpacketBackend::SetActive(bool active) {
  absl::MutexLock lock(&mu_);
  active_wanted_ = active;
  if (!running_) {  // no thread yet: Start() opens the socket if wanted
    if (!active) CloseSocket();
    return;
  }
  uint64_t one = 1;
  (void)!write(wake_event_.get(), &one, sizeof one);
}

bool AfpacketBackend::ActiveSettled() const {
  return !running_ || !health_.ok() || active_wanted_ == fd_.valid();
}

void AfpacketBackend::AwaitActive(absl::Duration limit) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(this, &AfpacketBackend::ActiveSettled), limit);
}

bool AfpacketBackend::socket_open() const {
  absl::MutexLock lock(&mu_);
  return fd_.valid();
}

void AfpacketBackend::CloseSocket() {
  ReadKernelStats();  // ifdropped() counts what the closing sockets dropped
  frame_ring_.reset();
  frame_fd_.reset();
  per_frame_ = frames_applied_ = false;
  ring_.reset();
  fd_.reset();
  bound_ = promisc_on_ = false;
  fanout_id_ = -1;
  ring_blocks_ = 0;
  block_consumed_ = 0;
}

absl::Status AfpacketBackend::Health() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

absl::Status AfpacketBackend::CheckInterface() const {
  absl::StatusOr<InterfaceState> st = QueryUpInterface(options_.interface);
  if (!st.ok()) return absl::UnavailableError(st.status().message());
  if (st->ifindex != ifindex_)
    return absl::UnavailableError(
        absl::StrCat("interface ", options_.interface, " was removed and re-created"));
  return absl::OkStatus();
}

void AfpacketBackend::ReadKernelStats() {
  if (!fd_.valid()) return;
  tpacket_stats_v3 st{};
  socklen_t n = sizeof st;
  if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &n) == 0)
    ifdropped_.fetch_add(st.tp_drops, std::memory_order_relaxed);
  tpacket_stats v2{};
  n = sizeof v2;
  if (frame_fd_.valid() && getsockopt(frame_fd_.get(), SOL_PACKET, PACKET_STATISTICS, &v2, &n) == 0)
    ifdropped_.fetch_add(v2.tp_drops, std::memory_order_relaxed);
}

absl::Status AfpacketBackend::Start(PacketSink sink) {
  if (thread_.joinable())
    return absl::FailedPreconditionError("device '" + info_.name + "' is already started");
  {
    absl::MutexLock lock(&mu_);
    if (active_wanted_ && health_.ok() && !fd_.valid()) {  // closed while idle, before Start()
      if (absl::Status s = OpenSocket(); !s.ok()) return s;
    }
    if (fd_.valid() && !bound_) {
      if (absl::Status s = Bind(); !s.ok()) return s;
    }
    running_ = true;
  }
  uint64_t drain;
  while (read(stop_event_.get(), &drain, sizeof drain) > 0) {
  }
  thread_ = std::thread([this, sink = std::move(sink)] { Run(sink); });
  return absl::OkStatus();
}

void AfpacketBackend::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_event_.get(), &one, sizeof one);
  thread_.join();
  absl::MutexLock lock(&mu_);
  running_ = false;
}

uint32_t AfpacketBackend::DeliverBlock(tpacket_block_desc* block, uint32_t skip,
                                       const PacketSink& sink) {
  const uint32_t n = block->hdr.bh1.num_pkts;
  if (n <= skip) return n;
  batch_.resize(n);
  links_.resize(n);  // sized before any Packet points into it
  uint32_t index = 0, used = 0;
  bool sane = TpacketV3Ring::ForEachPacket(
      block, ring_->block_bytes(),
      [&](uint8_t* frame, const tpacket3_hdr& h, const sockaddr_ll& sll) {
        if (index == n) return;
        if (index++ < skip) return;
        FillPacket(FromV3(frame, h, sll), &batch_[used], &links_[used]);
        ++used;
      });
  if (!sane)
    MYDEV_LOG(kError, "%s: malformed TPACKET_V3 block from the kernel; %d packets kept", info_.name,
              used);
  if (used != 0) sink(absl::MakeConstSpan(batch_.data(), used));
  return n;
}

void AfpacketBackend::DrainBlocks(const PacketSink& sink) {
  while (tpacket_block_desc* block = ring_->NextUserBlock()) {
    DeliverBlock(block, block_consumed_, sink);
    block_consumed_ = 0;
    ring_->ReleaseBlock();
  }
}

void AfpacketBackend::DrainOpenBlock(const PacketSink& sink) {
  DrainBlocks(sink);
  tpacket_block_desc* block = ring_->CurrentBlock();
  // Retired meanwhile (the kernel's timer): an ordinary block.
  if (__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) {
    DrainBlocks(sink);
    return;
  }
  block_consumed_ = std::max(block_consumed_, DeliverBlock(block, block_consumed_, sink));
}

uint32_t AfpacketBackend::CollectFrames(const TpacketV2Ring& ring, Packet* batch,
                                        LinkLayerInfo* links) {
  uint32_t n = 0;
  while (n < kMaxFrameBatch) {
    tpacket2_hdr* h = ring.UserFrame(n);
    if (h == nullptr) break;
    FillPacket(FromV2(h), &batch[n], &links[n]);
    ++n;
  }
  return n;
}

void AfpacketBackend::DrainFrames(const PacketSink& sink) {
  batch_.resize(kMaxFrameBatch);
  links_.resize(kMaxFrameBatch);
  for (;;) {
    const uint32_t n = CollectFrames(*frame_ring_, batch_.data(), links_.data());
    if (n == 0) return;
    sink(absl::MakeConstSpan(batch_.data(), n));
    frame_ring_->Release(n);
  }
}

void AfpacketBackend::SwitchPath(bool on, const PacketSink& sink) {
  StopPoller();
  absl::Status s;
  if (on) {
    {
      absl::MutexLock lock(&mu_);
      s = OpenFrameSocket();
      // Until it joined the group the new socket had a hook of its own:
      // whatever it got then is also in the blocks. Re-steering to member 0
      // waits for the last of those copies; then they are dropped.
      if (s.ok()) s = SteerTo(0);
    }
    if (s.ok()) {
      while (frame_ring_->UserFrame(0) != nullptr) frame_ring_->Release(1);
      absl::MutexLock lock(&mu_);
      s = SteerTo(1);
    }
    if (s.ok()) {
      DrainOpenBlock(sink);  // the blocks' last packets come before the first frame
      per_frame_ = true;
      {
        absl::MutexLock lock(&mu_);
        frames_applied_ = true;
      }
      MYDEV_LOG(kInfo, "%s: a session is in immediate mode; delivering packet by packet",
                info_.name);
      return;
    }
    MYDEV_LOG(kWarning, "%s: cannot deliver packet by packet (%s); immediate sessions get blocks",
              info_.name, s.ToString());
    absl::MutexLock lock(&mu_);
    frames_failed_ = true;
    if (fd_.valid()) (void)SteerTo(0);
    frame_ring_.reset();
    frame_fd_.reset();
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    s = SteerTo(0);
  }
  if (!s.ok())
    MYDEV_LOG(kError, "%s: steering packets back to the block ring: %s", info_.name, s.ToString());
  DrainFrames(sink);  // every frame predates the next block's packets
  per_frame_ = false;
  absl::MutexLock lock(&mu_);
  frames_applied_ = false;
  ReadKernelStats();
  frame_ring_.reset();
  frame_fd_.reset();
  MYDEV_LOG(kInfo, "%s: no session in immediate mode; delivering in blocks", info_.name);
}

absl::Status AfpacketBackend::GoneStatus(const absl::Status& why) const {
  return absl::UnavailableError(absl::StrCat(why.message(), "; the device serves again when ",
                                             options_.interface, " is present and up"));
}

void AfpacketBackend::GoAway(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    CloseSocket();
    health_ = GoneStatus(why);
  }
  MYDEV_LOG(kWarning, "%s: %s; waiting for it to come back", info_.name, why.message());
  if (gone_) gone_(why);
}

void AfpacketBackend::TryReopen() {
  absl::MutexLock lock(&mu_);
  if (!QueryUpInterface(options_.interface).ok()) return;
  absl::Status s = OpenSocket();
  if (s.ok() && active_wanted_) s = Bind();
  if (!s.ok()) {
    ring_.reset();
    fd_.reset();
    ring_blocks_ = 0;
    if (s.ToString() != reopen_error_)  // once per distinct error, not every recheck
      MYDEV_LOG(kWarning, "%s: %s is back but cannot be opened: %s", info_.name, options_.interface,
                s.ToString());
    reopen_error_ = s.ToString();
    return;
  }
  reopen_error_.clear();
  health_ = absl::OkStatus();
  // No session: the socket only proved the interface can be opened; the
  // next session's SetActive(true) opens it again.
  if (!active_wanted_) CloseSocket();
  MYDEV_LOG(kInfo, "%s: %s is back (ifindex %d); serving again%s", info_.name, options_.interface,
            ifindex_, active_wanted_ ? "" : " (no socket until a session opens)");
}

void AfpacketBackend::Run(PacketSink sink) {
  const int recheck_ms =
      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.recheck)));
  int64_t next_check = MonotonicMs() + recheck_ms;
  // Whatever way Run ends, the poller ends first.
  absl::Cleanup stop_poller = [this] { StopPoller(); };
  for (;;) {
    int fd, frame_fd;
    bool frames_wanted, grow, healthy, active;
    {
      absl::MutexLock lock(&mu_);
      healthy = health_.ok();
      active = active_wanted_;
      fd = fd_.get();
      frame_fd = frame_fd_.get();
      frames_wanted = FramesWanted();
      grow = fanout_id_ >= 0 && !grow_failed_ && WantedBlocks() > ring_blocks_;
    }
    if (poller_.joinable() && poller_done_.load(std::memory_order_acquire)) {
      StopPoller();  // it ended by itself
      if (poller_failed_.load(std::memory_order_relaxed)) {
        // It could not run at SCHED_IDLE (it said why): not again.
        poller_cooldown_until_ns_ = std::numeric_limits<int64_t>::max();
      } else {  // it gave way: starved of CPU
        poller_give_ways_.fetch_add(1, std::memory_order_relaxed);
        poller_cooldown_until_ns_ = ClockNs(CLOCK_MONOTONIC) + kPollerCooldownNs;
        MYDEV_LOG(kWarning,
                  "%s: the busy poller was off the CPU for over half of %d ms (the machine is "
                  "busy); back to waking per packet for %d s",
                  info_.name, kPollerWindowNs / 1'000'000, kPollerCooldownNs / 1'000'000'000);
      }
    }
    const bool normal_path =
        fd >= 0 && active && healthy && frames_wanted == per_frame_ && !(grow && !per_frame_);
    if (!normal_path) StopPoller();  // every change of socket or path: the rings are ours
    if (normal_path && per_frame_ && options_.busy_poll && !poller_.joinable() &&
        ClockNs(CLOCK_MONOTONIC) >= poller_cooldown_until_ns_)
      StartPoller(sink);
    const bool polling = poller_.joinable();
    if (fd >= 0 && !active) {  // the last session closed: no packet socket on the interface
      absl::MutexLock lock(&mu_);
      CloseSocket();
      MYDEV_LOG(kInfo, "%s: no session; packet socket on %s closed", info_.name,
                options_.interface);
      continue;
    }
    if (fd < 0 && active && healthy) {  // the first session: open and bind before it is told OK
      absl::Status s;
      {
        absl::MutexLock lock(&mu_);
        s = OpenSocket();
        if (s.ok()) s = Bind();
        if (!s.ok()) {
          ring_.reset();
          fd_.reset();
          ring_blocks_ = 0;
        }
      }
      if (!s.ok()) {
        GoAway(absl::UnavailableError(
            absl::StrCat("cannot open ", options_.interface, " for a session: ", s.message())));
      } else {
        MYDEV_LOG(kInfo, "%s: a session is open; capturing on %s", info_.name, options_.interface);
      }
      continue;
    }
    if (fd >= 0 && frames_wanted != per_frame_) {
      SwitchPath(frames_wanted, sink);
      continue;
    }
    if (fd >= 0 && grow && !per_frame_) {  // the per-frame socket holds member 1 meanwhile
      GrowRing(sink);
      continue;
    }
    // While the poller runs, the per-frame socket is watched for errors only
    // (no wake-up per packet).
    pollfd fds[4] = {{stop_event_.get(), POLLIN, 0},
                     {wake_event_.get(), POLLIN, 0},
                     {fd, POLLIN, 0},
                     {frame_fd, static_cast<short>(polling ? 0 : POLLIN), 0}};
    const nfds_t nfds = fd < 0 ? 2 : per_frame_ ? 4 : 3;
    int timeout = static_cast<int>(std::max<int64_t>(0, next_check - MonotonicMs()));
    if (poll(fds, nfds, timeout) < 0 && errno != EINTR) {
      GoAway(absl::ErrnoToStatus(errno, "poll on the packet socket"));
      continue;
    }
    if (fds[0].revents & POLLIN) return;
    if (fds[1].revents & POLLIN) {
      uint64_t drain;
      (void)!read(wake_event_.get(), &drain, sizeof drain);
    }
    if (fd < 0) {  // gone or idle: look at the interface now and then
      if (MonotonicMs() >= next_check) {
        if (healthy) {  // idle: no socket to report it, so ask
          absl::Status problem;
          {
            absl::MutexLock lock(&mu_);
            problem = CheckInterface();
          }
          if (!problem.ok()) GoAway(problem);
        } else {
          TryReopen();
        }
        next_check = MonotonicMs() + recheck_ms;
      }
      continue;
    }
    if (!polling) {  // else the poller delivers (and no block fills while frames are wanted)
      DrainBlocks(sink);
      if (per_frame_) DrainFrames(sink);
    }
    absl::Status problem;
    {
      absl::MutexLock lock(&mu_);
      ReadKernelStats();
      const short bad = POLLERR | POLLHUP | POLLNVAL;
      if ((fds[2].revents & bad) || (per_frame_ && (fds[3].revents & bad))) {
        int err = 0;
        socklen_t n = sizeof err;
        getsockopt((fds[2].revents & bad) ? fd : frame_fd, SOL_SOCKET, SO_ERROR, &err, &n);
        problem = absl::UnavailableError(absl::StrCat(
            "interface ", options_.interface, " went away (", err ? strerror(err) : "error", ")"));
      } else if (MonotonicMs() >= next_check) {
        problem = CheckInterface();
        next_check = MonotonicMs() + recheck_ms;
      }
    }
    if (!problem.ok()) {
      StopPoller();
      GoAway(problem);
    }
  }
}

void AfpacketBackend::StartPoller(const PacketSink& sink) {
  poller_stop_.store(false, std::memory_order_relaxed);
  poller_done_.store(false, std::memory_order_relaxed);
  // The ring stays as it is until StopPoller() returns (the backend thread
  // changes it only after stopping the poller).
  poller_ = std::thread([this, &sink, ring = frame_ring_.get()] { BusyPoll(sink, ring); });
}

void AfpacketBackend::StopPoller() {
  if (!poller_.joinable()) return;
  poller_stop_.store(true, std::memory_order_release);
  poller_.join();  // the poller's deliveries happen-before ours from here
  poller_running_.store(false, std::memory_order_release);
}

void AfpacketBackend::BusyPoll(const PacketSink& sink, TpacketV2Ring* ring) {
  // Idle priority: the poller runs only on CPU time nothing else wants, and
  // the scheduler counts its CPU as idle when it places a woken thread.
  sched_param none{};
  if (sched_setscheduler(0, SCHED_IDLE, &none) != 0) {
    MYDEV_LOG(kWarning, "%s: busy polling off: sched_setscheduler(SCHED_IDLE): %s", info_.name,
              strerror(errno));
    poller_failed_.store(true, std::memory_order_relaxed);
    poller_done_.store(true, std::memory_order_release);
    const uint64_t one = 1;
    (void)!write(wake_event_.get(), &one, sizeof one);
    return;
  }
  poller_running_.store(true, std::memory_order_release);
  std::vector<Packet> batch(kMaxFrameBatch);
  std::vector<LinkLayerInfo> links(kMaxFrameBatch);
  int64_t last = ClockNs(CLOCK_MONOTONIC);
  int64_t window_start = last, off_cpu = 0;  // kPollerWindowNs accounting
  for (uint32_t spins = 1; !poller_stop_.load(std::memory_order_acquire); ++spins) {
    const uint32_t n = CollectFrames(*ring, batch.data(), links.data());
    if (n == 0 && spins % 256 != 0) {
      CpuRelax();
      continue;
    }
    // Every few microseconds, and before each delivery: how long was this
    // thread kept off its CPU? Over half of a window: the machine is busy,
    // give way (the frames, not released, are the backend thread's to
    // deliver). A gap of a few microseconds is a reader it woke running.
    const int64_t now = ClockNs(CLOCK_MONOTONIC);
    if (now - last > kPollerGapNs) off_cpu += now - last;
    if (now - window_start >= kPollerWindowNs) {
      if (off_cpu * 2 > now - window_start) break;
      window_start = now;
      off_cpu = 0;
    }
    last = now;
    if (n > 0) {
      sink(absl::MakeConstSpan(batch.data(), n));
      ring->Release(n);
      last = ClockNs(CLOCK_MONOTONIC);  // the delivery was on the CPU
    }
  }
  if (!poller_stop_.load(std::memory_order_acquire)) {  // gave way: tell the backend thread
    poller_done_.store(true, std::memory_order_release);
    const uint64_t one = 1;
    (void)!write(wake_event_.get(), &one, sizeof one);
  }
}

absl::StatusOr<uint32_t> AfpacketBackend::Inject(absl::Span<const uint8_t> frame) {
  absl::MutexLock lock(&mu_);
  if (!health_.ok()) return health_;
  if (!fd_.valid() || !bound_)
    return absl::FailedPreconditionError("device '" + info_.name + "' is not started");
  ssize_t n = send(fd_.get(), frame.data(), frame.size(), MSG_DONTWAIT);
  if (n < 0) {
    int e = errno;
    if (e == EAGAIN || e == ENOBUFS)
      return absl::UnavailableError(
          absl::StrCat(options_.interface, "'s send queue is full; retry"));
    return absl::ErrnoToStatus(
        e, absl::StrCat("sending a ", frame.size(), "-byte frame on ", options_.interface));
  }
  if (static_cast<size_t>(n) != frame.size())
    return absl::InternalError(
        absl::StrCat("sent ", n, " of ", frame.size(), " bytes on ", options_.interface));
  return static_cast<uint32_t>(n);
}

}  // namespace mydev::daemon
