// synthetic_frame_generator.cc — frame templates and in-place stamping.
#include "daemon/backends/synthetic/synthetic_frame_generator.h"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <random>

namespace mydev::daemon {
namespace {

// Header sizes, from the system's header structs (IPv4 and TCP without options).
constexpr size_t kEthHeader = sizeof(ether_header);
constexpr size_t kIp4Header = sizeof(struct ip);
constexpr size_t kIp6Header = sizeof(ip6_hdr);
constexpr size_t kUdpHeader = sizeof(udphdr);
constexpr size_t kTcpHeader = sizeof(tcphdr);
constexpr size_t kIcmpHeader = sizeof(icmphdr);  // an echo's; ICMPv6's is as long
static_assert(sizeof(icmp6_hdr) == kIcmpHeader);
constexpr size_t kArpBody = sizeof(ether_arp);  // Ethernet/IPv4 ARP
constexpr size_t kSeqBytes = 16;                // magic + u64
constexpr size_t kTemplateAlign = 64;           // a cache line: each template starts on one
constexpr size_t kPrefetchAhead = 64;           // frames

constexpr uint8_t kBroadcastMac[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr uint8_t kHopLimit = IPDEFTTL;  // IPv4 TTL and IPv6 hop limit: 64
constexpr uint32_t kIp6Version = 6;      // the top 4 bits of ip6_flow
constexpr uint16_t kEchoId = 0x4d59;     // "MY": the ICMP / ICMPv6 echo identifier

void Put16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, v >> 16);
  Put16(p + 2, v & 0xffff);
}
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// Copies a header struct (its fields already in network byte order) into the
// frame, and back out of it; frames have no alignment to rely on.
template <typename Header>
void PutHeader(uint8_t* at, const Header& h) {
  std::memcpy(at, &h, sizeof h);
}
template <typename Header>
Header GetHeader(const uint8_t* at) {
  Header h;
  std::memcpy(&h, at, sizeof h);
  return h;
}

// One's-complement sum of 16-bit big-endian words (an odd tail is padded).
uint32_t SumWords(const uint8_t* p, size_t n, uint32_t sum) {
  for (; n >= 2; p += 2, n -= 2) sum += Get16(p);
  if (n) sum += p[0] << 8;
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Sum of the IPv4 or IPv6 pseudo-header for an L4 checksum.
uint32_t PseudoSum(bool v6, const uint8_t* src, const uint8_t* dst, uint8_t proto,
                   uint32_t l4_len) {
  size_t alen = v6 ? sizeof(in6_addr) : sizeof(in_addr);
  uint32_t sum = SumWords(src, alen, 0);
  sum = SumWords(dst, alen, sum);
  sum += proto;
  sum += l4_len >> 16;
  sum += l4_len & 0xffff;
  return sum;
}

void Put64(uint8_t* p, uint64_t v) {
  Put32(p, static_cast<uint32_t>(v >> 32));
  Put32(p + 4, static_cast<uint32_t>(v));
}

// One template as BuildTemplate makes it: the frame with every
// sequence-dependent field zero (checksums too), where those fields sit, and
// the sums of everything else their checksums cover.
struct BuiltTemplate {
  std::vector<uint8_t> bytes;
  SyntheticKind kind = SyntheticKind::kUdp4;
  PacketDirection direction = PacketDirection::kIn;
  bool udp = false;
  size_t seq_at = 0, ip_id_at = 0, ip_csum_at = 0, echo_seq_at = 0, l4_csum_at = 0;
  uint32_t ip_base_sum = 0, l4_base_sum = 0;
};

// ---------------------------------------------------------------- the draws
// Everything random about a template comes from the seed's rng, in a fixed
// order: first FrameChoice (DrawFrameChoice), then, for IP frames, the IPv6
// flow label, the TCP sequence and acknowledgement numbers and the payload's
// fill byte, in the order the builders below write them. That order is what
// makes a seed's frames: changing it changes every frame.

uint64_t Rand(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

// What a template is, drawn before any byte of it is written.
struct FrameChoice {
  SyntheticKind kind = SyntheticKind::kUdp4;
  bool out = false;          // sent by the device (OUT), else received (IN)
  uint64_t size_class = 0;   // 0..19: the size range; also which kind of service port
  uint32_t target_size = 0;  // the frame's size unless its headers need more (ARP: unused)
  uint8_t peer = 0;          // the peer's host byte (MAC, IPv4, IPv6)
  uint8_t subnet = 0;        // the peer's subnet byte (IPv4, IPv6)
  uint16_t service = 0;      // the server side's port
  uint16_t ephemeral = 0;    // the client side's port
};

SyntheticKind DrawKind(std::mt19937_64& rng) {
  const uint64_t r = Rand(rng, 100);
  return r < 25   ? SyntheticKind::kUdp4
         : r < 50 ? SyntheticKind::kTcp4
         : r < 60 ? SyntheticKind::kIcmp4
         : r < 72 ? SyntheticKind::kUdp6
         : r < 84 ? SyntheticKind::kTcp6
         : r < 92 ? SyntheticKind::kIcmp6
                  : SyntheticKind::kArp;
}

// A mix of small, medium and full-size frames, with both extremes.
uint32_t DrawTargetSize(std::mt19937_64& rng, uint64_t size_class) {
  const uint64_t b = size_class;
  return static_cast<uint32_t>(b == 0   ? kSyntheticMinFrame
                               : b == 1 ? kSyntheticMaxFrame
                               : b < 10 ? 60 + Rand(rng, 69)      // 60..128
                               : b < 15 ? 129 + Rand(rng, 472)    // 129..600
                                        : 601 + Rand(rng, 914));  // 601..1514
}

// A well-known port, or (one size class in three) a random unprivileged one.
uint16_t DrawServicePort(std::mt19937_64& rng, uint64_t size_class) {
  static constexpr uint16_t kServices[] = {53, 80, 443, 123, 22, 5353, 8080, 3306};
  return size_class % 3 == 0 ? static_cast<uint16_t>(1024 + Rand(rng, 8000))
                             : kServices[Rand(rng, std::size(kServices))];
}

FrameChoice DrawFrameChoice(std::mt19937_64& rng) {
  FrameChoice c;
  c.kind = DrawKind(rng);
  c.out = Rand(rng, 2) == 0;
  c.size_class = Rand(rng, 20);
  c.target_size = DrawTargetSize(rng, c.size_class);
  c.peer = static_cast<uint8_t>(2 + Rand(rng, 250));
  c.subnet = static_cast<uint8_t>(Rand(rng, 4));
  c.service = DrawServicePort(rng, c.size_class);
  c.ephemeral = static_cast<uint16_t>(32768 + Rand(rng, 28000));
  return c;
}

// ---------------------------------------------------------------- addresses
// Source and destination of a frame: the device on one side (kDeviceMac,
// 10.0.0.1, fd00::1), the peer on the other (02:00:00:00:01:<peer>,
// 10.0.<subnet>.<peer>, fd00::<subnet>:<peer>), as the direction says.
struct Endpoints {
  uint8_t src_mac[ETH_ALEN], dst_mac[ETH_ALEN];
  uint8_t src_ip4[sizeof(in_addr)], dst_ip4[sizeof(in_addr)];
  uint8_t src_ip6[sizeof(in6_addr)], dst_ip6[sizeof(in6_addr)];
  uint16_t sport, dport;
};

Endpoints EndpointsFor(const FrameChoice& c) {
  const uint8_t peer_mac[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x01, c.peer};
  const uint8_t dev_ip4[sizeof(in_addr)] = {10, 0, 0, 1};
  const uint8_t peer_ip4[sizeof(in_addr)] = {10, 0, c.subnet, c.peer};
  uint8_t dev_ip6[sizeof(in6_addr)] = {0xfd, 0x00};
  dev_ip6[15] = 1;
  uint8_t peer_ip6[sizeof(in6_addr)] = {0xfd, 0x00};
  peer_ip6[13] = c.subnet;
  peer_ip6[15] = c.peer;
  Endpoints e;
  auto set = [out = c.out](const uint8_t* device, const uint8_t* peer, size_t n, uint8_t* src,
                           uint8_t* dst) {
    std::memcpy(src, out ? device : peer, n);
    std::memcpy(dst, out ? peer : device, n);
  };
  set(kDeviceMac, peer_mac, ETH_ALEN, e.src_mac, e.dst_mac);
  set(dev_ip4, peer_ip4, sizeof(in_addr), e.src_ip4, e.dst_ip4);
  set(dev_ip6, peer_ip6, sizeof(in6_addr), e.src_ip6, e.dst_ip6);
  e.sport = c.out ? c.ephemeral : c.service;
  e.dport = c.out ? c.service : c.ephemeral;
  return e;
}

// ---------------------------------------------------------------- headers
// Each writes one header at `at`; the sequence-dependent fields (IPv4 ID, echo
// sequence) and the checksums stay zero.

void PutEthernet(uint8_t* at, const uint8_t* dst, const uint8_t* src, uint16_t ethertype) {
  ether_header h;
  std::memcpy(h.ether_dhost, dst, ETH_ALEN);
  std::memcpy(h.ether_shost, src, ETH_ALEN);
  h.ether_type = htons(ethertype);
  PutHeader(at, h);
}

void PutIp4Header(uint8_t* at, uint8_t proto, size_t total_len, const Endpoints& e) {
  struct ip h {};
  h.ip_v = IPVERSION;
  h.ip_hl = kIp4Header / 4;
  h.ip_len = htons(static_cast<uint16_t>(total_len));
  h.ip_off = htons(IP_DF);
  h.ip_ttl = kHopLimit;
  h.ip_p = proto;
  std::memcpy(&h.ip_src, e.src_ip4, sizeof h.ip_src);
  std::memcpy(&h.ip_dst, e.dst_ip4, sizeof h.ip_dst);
  PutHeader(at, h);
}

// Draws the flow label.
void PutIp6Header(uint8_t* at, uint8_t proto, uint32_t payload_len, const Endpoints& e,
                  std::mt19937_64& rng) {
  ip6_hdr h{};
  h.ip6_flow = htonl(kIp6Version << 28 | static_cast<uint32_t>(Rand(rng, 1 << 20)));
  h.ip6_plen = htons(static_cast<uint16_t>(payload_len));
  h.ip6_nxt = proto;
  h.ip6_hlim = kHopLimit;
  std::memcpy(&h.ip6_src, e.src_ip6, sizeof h.ip6_src);
  std::memcpy(&h.ip6_dst, e.dst_ip6, sizeof h.ip6_dst);
  PutHeader(at, h);
}

// Where an L4 header's per-frame fields sit, as offsets into it (0 = none).
struct L4Fields {
  size_t csum_at = 0;
  size_t echo_seq_at = 0;
};

L4Fields PutUdpHeader(uint8_t* at, const Endpoints& e, uint32_t udp_len) {
  udphdr h{};
  h.uh_sport = htons(e.sport);
  h.uh_dport = htons(e.dport);
  h.uh_ulen = htons(static_cast<uint16_t>(udp_len));
  PutHeader(at, h);
  return {offsetof(udphdr, uh_sum), 0};
}

// Draws the sequence and acknowledgement numbers.
L4Fields PutTcpHeader(uint8_t* at, const Endpoints& e, std::mt19937_64& rng) {
  tcphdr h{};
  h.th_sport = htons(e.sport);
  h.th_dport = htons(e.dport);
  h.th_seq = htonl(static_cast<uint32_t>(rng()));
  h.th_ack = htonl(static_cast<uint32_t>(rng()));
  h.th_off = kTcpHeader / 4;
  h.th_flags = TH_PUSH | TH_ACK;
  h.th_win = htons(TCP_MAXWIN);
  PutHeader(at, h);
  return {offsetof(tcphdr, th_sum), 0};
}

// Echo request when the device sends, reply when it receives.
L4Fields PutIcmpEcho(uint8_t* at, bool out) {
  icmphdr h{};
  h.type = out ? ICMP_ECHO : ICMP_ECHOREPLY;
  h.un.echo.id = htons(kEchoId);
  PutHeader(at, h);
  return {offsetof(icmphdr, checksum), offsetof(icmphdr, un.echo.sequence)};
}

L4Fields PutIcmp6Echo(uint8_t* at, bool out) {
  icmp6_hdr h{};
  h.icmp6_type = out ? ICMP6_ECHO_REQUEST : ICMP6_ECHO_REPLY;
  h.icmp6_id = htons(kEchoId);
  PutHeader(at, h);
  return {offsetof(icmp6_hdr, icmp6_cksum), offsetof(icmp6_hdr, icmp6_seq)};
}

// The sequence's place (the magic; the number is stamped per frame) and, after
// it, a byte pattern from a drawn fill byte.
void PutPayload(uint8_t* at, size_t n, std::mt19937_64& rng) {
  std::memcpy(at, kSeqMagic, sizeof kSeqMagic);
  const uint8_t fill = static_cast<uint8_t>(Rand(rng, 256));
  for (size_t i = kSeqBytes; i < n; ++i) at[i] = static_cast<uint8_t>(fill + i);
}

// ---------------------------------------------------------------- templates

bool IsIp6(SyntheticKind kind) {
  return kind == SyntheticKind::kUdp6 || kind == SyntheticKind::kTcp6 ||
         kind == SyntheticKind::kIcmp6;
}

// The protocol number (IPPROTO_*) and header size of an IP kind's L4.
struct L4Kind {
  uint8_t proto = 0;
  size_t header = 0;
};

L4Kind L4KindOf(SyntheticKind kind) {
  switch (kind) {
    case SyntheticKind::kUdp4:
    case SyntheticKind::kUdp6:
      return {IPPROTO_UDP, kUdpHeader};
    case SyntheticKind::kTcp4:
    case SyntheticKind::kTcp6:
      return {IPPROTO_TCP, kTcpHeader};
    case SyntheticKind::kIcmp4:
      return {IPPROTO_ICMP, kIcmpHeader};
    case SyntheticKind::kIcmp6:
      return {IPPROTO_ICMPV6, kIcmpHeader};
    case SyntheticKind::kArp:
      break;
  }
  return {};
}

// ARP: a who-has broadcast by the device (OUT) or a reply addressed to it
// (IN), minimum size; the sequence sits in the trailer after the ARP body.
BuiltTemplate BuildArpTemplate(const FrameChoice& c, const Endpoints& e) {
  BuiltTemplate t;
  t.bytes.assign(std::max<size_t>(kSyntheticMinFrame, kEthHeader + kArpBody + kSeqBytes), 0);
  uint8_t* f = t.bytes.data();
  PutEthernet(f, c.out ? kBroadcastMac : e.dst_mac, e.src_mac, ETHERTYPE_ARP);
  ether_arp a{};
  a.arp_hrd = htons(ARPHRD_ETHER);
  a.arp_pro = htons(ETHERTYPE_IP);
  a.arp_hln = ETH_ALEN;
  a.arp_pln = sizeof a.arp_spa;
  a.arp_op = htons(c.out ? ARPOP_REQUEST : ARPOP_REPLY);
  std::memcpy(a.arp_sha, e.src_mac, sizeof a.arp_sha);
  std::memcpy(a.arp_spa, e.src_ip4, sizeof a.arp_spa);
  if (!c.out) std::memcpy(a.arp_tha, e.dst_mac, sizeof a.arp_tha);  // a request leaves it 0
  std::memcpy(a.arp_tpa, e.dst_ip4, sizeof a.arp_tpa);
  PutHeader(f + kEthHeader, a);
  std::memcpy(f + kEthHeader + kArpBody, kSeqMagic, sizeof kSeqMagic);
  t.seq_at = kEthHeader + kArpBody + sizeof kSeqMagic;
  return t;
}

// IPv4 or IPv6 carrying UDP, TCP or an ICMP / ICMPv6 echo, at least as big
// as its headers and the sequence need; the sequence starts the L4 payload.
BuiltTemplate BuildIpTemplate(const FrameChoice& c, const Endpoints& e, std::mt19937_64& rng) {
  const bool v6 = IsIp6(c.kind);
  const L4Kind l4_kind = L4KindOf(c.kind);
  const size_t l4 = kEthHeader + (v6 ? kIp6Header : kIp4Header);
  const size_t size =
      std::max<size_t>({kSyntheticMinFrame, l4 + l4_kind.header + kSeqBytes, c.target_size});
  const uint32_t l4_len = static_cast<uint32_t>(size - l4);
  BuiltTemplate t;
  t.bytes.assign(size, 0);
  uint8_t* f = t.bytes.data();

  PutEthernet(f, e.dst_mac, e.src_mac, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IP);
  if (v6) {
    PutIp6Header(f + kEthHeader, l4_kind.proto, l4_len, e, rng);
  } else {
    PutIp4Header(f + kEthHeader, l4_kind.proto, size - kEthHeader, e);
    t.ip_id_at = kEthHeader + offsetof(struct ip, ip_id);  // seq, stamped per frame
    t.ip_csum_at = kEthHeader + offsetof(struct ip, ip_sum);
    t.ip_base_sum = SumWords(f + kEthHeader, kIp4Header, 0);
  }

  uint8_t* l4_header = f + l4;
  L4Fields fields;
  switch (l4_kind.proto) {
    case IPPROTO_UDP:
      fields = PutUdpHeader(l4_header, e, l4_len);
      break;
    case IPPROTO_TCP:
      fields = PutTcpHeader(l4_header, e, rng);
      break;
    case IPPROTO_ICMP:
      fields = PutIcmpEcho(l4_header, c.out);
      break;
    default:  // IPPROTO_ICMPV6
      fields = PutIcmp6Echo(l4_header, c.out);
      break;
  }
  PutPayload(l4_header + l4_kind.header, l4_len - l4_kind.header, rng);
  t.seq_at = l4 + l4_kind.header + sizeof kSeqMagic;
  if (fields.echo_seq_at != 0) t.echo_seq_at = l4 + fields.echo_seq_at;  // seq, per frame

  t.udp = l4_kind.proto == IPPROTO_UDP;
  t.l4_csum_at = l4 + fields.csum_at;
  const uint32_t pseudo = l4_kind.proto == IPPROTO_ICMP  // ICMP (v4) has no pseudo-header
                              ? 0
                              : PseudoSum(v6, v6 ? e.src_ip6 : e.src_ip4,
                                          v6 ? e.dst_ip6 : e.dst_ip4, l4_kind.proto, l4_len);
  t.l4_base_sum = SumWords(l4_header, l4_len, pseudo);
  return t;
}

// Draws one frame's kind, direction, size, addresses and ports from rng, and
// builds it.
BuiltTemplate BuildTemplate(std::mt19937_64& rng) {
  const FrameChoice c = DrawFrameChoice(rng);
  const Endpoints e = EndpointsFor(c);
  BuiltTemplate t =
      c.kind == SyntheticKind::kArp ? BuildArpTemplate(c, e) : BuildIpTemplate(c, e, rng);
  t.kind = c.kind;
  t.direction = c.out ? PacketDirection::kOut : PacketDirection::kIn;
  return t;
}

}  // namespace

std::optional<uint64_t> FindSequence(const uint8_t* f, size_t caplen) {
  if (caplen < kEthHeader) return std::nullopt;
  size_t off = 0;
  const uint16_t ethertype = ntohs(GetHeader<ether_header>(f).ether_type);
  uint8_t proto = 0;
  size_t l4 = 0;
  if (ethertype == ETHERTYPE_IP) {
    if (caplen < kEthHeader + kIp4Header) return std::nullopt;
    const struct ip ip = GetHeader<struct ip>(f + kEthHeader);
    size_t ihl = ip.ip_hl * 4u;
    if (ihl < kIp4Header) return std::nullopt;
    proto = ip.ip_p;
    l4 = kEthHeader + ihl;
  } else if (ethertype == ETHERTYPE_IPV6) {
    if (caplen < kEthHeader + kIp6Header) return std::nullopt;
    proto = GetHeader<ip6_hdr>(f + kEthHeader).ip6_nxt;
    l4 = kEthHeader + kIp6Header;
  } else if (ethertype == ETHERTYPE_ARP) {
    off = kEthHeader + kArpBody;
  } else {
    return std::nullopt;
  }
  if (ethertype != ETHERTYPE_ARP) {
    switch (proto) {
      case IPPROTO_UDP:
        off = l4 + kUdpHeader;
        break;
      case IPPROTO_TCP:
        if (caplen < l4 + kTcpHeader) return std::nullopt;
        off = l4 + GetHeader<tcphdr>(f + l4).th_off * 4u;
        break;
      case IPPROTO_ICMP:
      case IPPROTO_ICMPV6:
        off = l4 + kIcmpHeader;
        break;
      default:
        return std::nullopt;
    }
  }
  if (caplen < off + kSeqBytes || std::memcmp(f + off, kSeqMagic, sizeof kSeqMagic) != 0)
    return std::nullopt;
  uint64_t seq = 0;
  for (size_t i = 0; i < sizeof seq; ++i) seq = (seq << 8) | f[off + sizeof kSeqMagic + i];
  return seq;
}

SyntheticFrameGenerator::SyntheticFrameGenerator(uint64_t seed, size_t pool_size) {
  std::mt19937_64 rng(seed);
  pool_size = std::max<size_t>(1, pool_size);
  std::vector<BuiltTemplate> built;
  built.reserve(pool_size);
  size_t bytes = 0;
  for (size_t i = 0; i < pool_size; ++i) {
    built.push_back(BuildTemplate(rng));
    bytes += (built.back().bytes.size() + kTemplateAlign - 1) & ~(kTemplateAlign - 1);
  }
  // One extra alignment unit so the first template can start aligned.
  storage_.assign(bytes + kTemplateAlign, 0);
  const size_t base =
      (kTemplateAlign - reinterpret_cast<uintptr_t>(storage_.data()) % kTemplateAlign) %
      kTemplateAlign;
  templates_.reserve(pool_size);
  size_t at = base;
  for (const BuiltTemplate& b : built) {
    std::memcpy(storage_.data() + at, b.bytes.data(), b.bytes.size());
    Template t;
    t.offset = at;
    t.size = static_cast<uint32_t>(b.bytes.size());
    t.kind = b.kind;
    t.direction = b.direction;
    t.udp = b.udp;
    t.seq_at = static_cast<uint16_t>(b.seq_at);
    t.ip_id_at = static_cast<uint16_t>(b.ip_id_at);
    t.ip_csum_at = static_cast<uint16_t>(b.ip_csum_at);
    t.echo_seq_at = static_cast<uint16_t>(b.echo_seq_at);
    t.l4_csum_at = static_cast<uint16_t>(b.l4_csum_at);
    t.ip_base_sum = b.ip_base_sum;
    t.l4_base_sum = b.l4_base_sum;
    templates_.push_back(t);
    at += (b.bytes.size() + kTemplateAlign - 1) & ~(kTemplateAlign - 1);
  }
}

SyntheticFrame SyntheticFrameGenerator::NextInPlace() {
  const uint64_t seq = seq_++;
  const Template& t = templates_[next_template_];
  if (++next_template_ == templates_.size()) next_template_ = 0;
  uint8_t* f = storage_.data() + t.offset;
  // The session rings streaming through the cache evict templates: fetch the
  // head of a template (where the stamped fields are) before its turn.
  const size_t ahead = (next_template_ + kPrefetchAhead) % templates_.size();
  const uint8_t* next = storage_.data() + templates_[ahead].offset;
  __builtin_prefetch(next, 1);
  __builtin_prefetch(next + 64, 1);
  // The sums below add at most five 16-bit words to the precomputed 32-bit
  // sums, so they equal a full recomputation's sum exactly (no overflow).
  const uint16_t seq16 = static_cast<uint16_t>(seq);
  const uint32_t seq_sum = static_cast<uint32_t>(seq >> 48) +
                           static_cast<uint32_t>((seq >> 32) & 0xffff) +
                           static_cast<uint32_t>((seq >> 16) & 0xffff) + seq16;
  Put64(f + t.seq_at, seq);
  if (t.ip_id_at != 0) {
    Put16(f + t.ip_id_at, seq16);
    Put16(f + t.ip_csum_at, Fold(t.ip_base_sum + seq16));
  }
  if (t.l4_csum_at != 0) {
    uint32_t sum = t.l4_base_sum + seq_sum;
    if (t.echo_seq_at != 0) {
      Put16(f + t.echo_seq_at, seq16);
      sum += seq16;
    }
    uint16_t csum = Fold(sum);
    if (t.udp && csum == 0) csum = 0xffff;
    Put16(f + t.l4_csum_at, csum);
  }
  return SyntheticFrame{f, t.size, t.direction, t.kind};
}

SyntheticKind SyntheticFrameGenerator::Next(std::vector<uint8_t>* frame,
                                            PacketDirection* direction) {
  SyntheticFrame f = NextInPlace();
  frame->assign(f.data, f.data + f.size);
  *direction = f.direction;
  return f.kind;
}

}  // namespace mydev::daemon
