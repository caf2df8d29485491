// afpacket_backend.cc — see afpacket_backend.h. Socket options follow what
// libpcap's pcap-linux.c sets up for a TPACKET_V3 capture.
#include "daemon/backends/afpacket/afpacket_backend.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>  // PCAP_IF_*
#include <pcap/vlan.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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
  if (!stop.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  std::unique_ptr<AfpacketBackend> b(
      new AfpacketBackend(std::move(info), options, std::move(stop)));
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
                                 UniqueFd stop_event)
    : info_(std::move(info)), options_(options), stop_event_(std::move(stop_event)) {}

AfpacketBackend::~AfpacketBackend() {
  Stop();
  absl::MutexLock lock(&mu_);
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
  // Timestamps: the ring carries tp_sec + tp_nsec (software, CLOCK_REALTIME).
  absl::StatusOr<std::unique_ptr<TpacketV3Ring>> ring =
      TpacketV3Ring::Create(fd.get(), options_.ring, kVlanTagBytes);
  if (!ring.ok()) return ring.status();
  ring_ = std::move(*ring);
  fd_ = std::move(fd);
  ifindex_ = st->ifindex;
  bound_ = false;
  promisc_on_ = false;
  return absl::OkStatus();
}

absl::Status AfpacketBackend::Bind() {
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex_;
  if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("binding to ", options_.interface));
  int err = 0;  // a bind to a down interface reports ENETDOWN here
  socklen_t n = sizeof err;
  if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &n) == 0 && err != 0)
    return absl::ErrnoToStatus(err, absl::StrCat("binding to ", options_.interface));
  bound_ = true;
  return ApplyPromiscuous(promisc_wanted_);
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

absl::Status AfpacketBackend::SetPromiscuous(bool on) {
  absl::MutexLock lock(&mu_);
  promisc_wanted_ = on;
  return ApplyPromiscuous(on);
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
}

absl::Status AfpacketBackend::Start(PacketSink sink) {
  if (thread_.joinable())
    return absl::FailedPreconditionError("device '" + info_.name + "' is already started");
  {
    absl::MutexLock lock(&mu_);
    if (fd_.valid() && !bound_) {
      if (absl::Status s = Bind(); !s.ok()) return s;
    }
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
}

void AfpacketBackend::DrainBlocks(const PacketSink& sink) {
  while (tpacket_block_desc* block = ring_->NextUserBlock()) {
    const uint32_t n = block->hdr.bh1.num_pkts;
    batch_.resize(n);
    links_.resize(n);  // sized before any Packet points into it
    uint32_t used = 0;
    bool sane = TpacketV3Ring::ForEachPacket(
        block, ring_->block_bytes(),
        [&](uint8_t* frame, const tpacket3_hdr& h, const sockaddr_ll& sll) {
          if (used == n) return;
          Packet& p = batch_[used];
          LinkLayerInfo& l = links_[used];
          uint8_t* data = frame + h.tp_mac;
          p.caplen = h.tp_snaplen;
          p.len = h.tp_len;
          l.payload_offset = h.tp_net >= h.tp_mac ? h.tp_net - h.tp_mac : 0;
          // Put a tag the kernel took out back after the MAC addresses; the
          // reserve in front of the frame leaves room (pcap-linux.c does so).
          const bool vlan = (h.tp_status & TP_STATUS_VLAN_VALID) != 0;
          if (vlan && h.tp_snaplen >= kMacAddressesBytes &&
              h.tp_mac >=
                  TPACKET_ALIGN(sizeof(tpacket3_hdr)) + sizeof(sockaddr_ll) + kVlanTagBytes) {
            vlan_tag tag;
            tag.vlan_tpid =
                htons((h.tp_status & TP_STATUS_VLAN_TPID_VALID) ? h.hv1.tp_vlan_tpid : ETH_P_8021Q);
            tag.vlan_tci = htons(h.hv1.tp_vlan_tci);
            data -= kVlanTagBytes;
            std::memmove(data, data + kVlanTagBytes, kMacAddressesBytes);
            std::memcpy(data + kMacAddressesBytes, &tag, sizeof tag);
            p.caplen += kVlanTagBytes;
            p.len += kVlanTagBytes;
            l.payload_offset += kVlanTagBytes;
          }
          p.data = data;
          p.ts_ns = static_cast<uint64_t>(h.tp_sec) * 1'000'000'000u + h.tp_nsec;
          p.direction =
              sll.sll_pkttype == PACKET_OUTGOING ? PacketDirection::kOut : PacketDirection::kIn;
          l.protocol = ntohs(sll.sll_protocol);
          l.hatype = sll.sll_hatype;
          l.ifindex = static_cast<uint32_t>(sll.sll_ifindex);
          l.pkttype = sll.sll_pkttype;
          l.halen = std::min<uint8_t>(sll.sll_halen, sizeof l.addr);
          std::memcpy(l.addr, sll.sll_addr, sizeof l.addr);
          p.link = &l;
          ++used;
        });
    if (!sane)
      MYDEV_LOG(kError, "%s: malformed TPACKET_V3 block from the kernel; %d packets kept",
                info_.name, used);
    if (used != 0) sink(absl::MakeConstSpan(batch_.data(), used));
    ring_->ReleaseBlock();
  }
}

absl::Status AfpacketBackend::GoneStatus(const absl::Status& why) const {
  return absl::UnavailableError(absl::StrCat(why.message(), "; the device serves again when ",
                                             options_.interface, " is present and up"));
}

void AfpacketBackend::GoAway(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    ReadKernelStats();
    ring_.reset();
    fd_.reset();
    bound_ = promisc_on_ = false;
    health_ = GoneStatus(why);
  }
  MYDEV_LOG(kWarning, "%s: %s; waiting for it to come back", info_.name, why.message());
  if (gone_) gone_(why);
}

void AfpacketBackend::TryReopen() {
  absl::MutexLock lock(&mu_);
  if (!QueryUpInterface(options_.interface).ok()) return;
  absl::Status s = OpenSocket();
  if (s.ok()) s = Bind();
  if (!s.ok()) {
    ring_.reset();
    fd_.reset();
    if (s.ToString() != reopen_error_)  // once per distinct error, not every recheck
      MYDEV_LOG(kWarning, "%s: %s is back but cannot be opened: %s", info_.name, options_.interface,
                s.ToString());
    reopen_error_ = s.ToString();
    return;
  }
  reopen_error_.clear();
  health_ = absl::OkStatus();
  MYDEV_LOG(kInfo, "%s: %s is back (ifindex %d); serving again", info_.name, options_.interface,
            ifindex_);
}

void AfpacketBackend::Run(PacketSink sink) {
  const int recheck_ms =
      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.recheck)));
  int64_t next_check = MonotonicMs() + recheck_ms;
  for (;;) {
    int fd;
    {
      absl::MutexLock lock(&mu_);
      fd = fd_.get();
    }
    pollfd fds[2] = {{stop_event_.get(), POLLIN, 0}, {fd, POLLIN, 0}};
    int timeout = static_cast<int>(std::max<int64_t>(0, next_check - MonotonicMs()));
    if (poll(fds, fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR) {
      GoAway(absl::ErrnoToStatus(errno, "poll on the packet socket"));
      continue;
    }
    if (fds[0].revents & POLLIN) return;
    if (fd < 0) {  // gone: look for the interface now and then
      if (MonotonicMs() >= next_check) {
        TryReopen();
        next_check = MonotonicMs() + recheck_ms;
      }
      continue;
    }
    DrainBlocks(sink);
    absl::Status problem;
    {
      absl::MutexLock lock(&mu_);
      ReadKernelStats();
      if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        int err = 0;
        socklen_t n = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n);
        problem = absl::UnavailableError(absl::StrCat(
            "interface ", options_.interface, " went away (", err ? strerror(err) : "error", ")"));
      } else if (MonotonicMs() >= next_check) {
        problem = CheckInterface();
        next_check = MonotonicMs() + recheck_ms;
      }
    }
    if (!problem.ok()) GoAway(problem);
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
