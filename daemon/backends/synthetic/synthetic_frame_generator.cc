// synthetic_frame_generator.cc — frame templates and in-place stamping.
#include "daemon/backends/synthetic/synthetic_frame_generator.h"


#include <algorithm>
#include <cstring>
#include <random>

#include "absl/time/time.h"

namespace mydev::daemon {
namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kIp4Header = 20;
constexpr size_t kIp6Header = 40;
constexpr size_t kUdpHeader = 8;
constexpr size_t kTcpHeader = 20;
constexpr size_t kIcmpHeader = 8;
constexpr size_t kArpBody = 28;
constexpr size_t kSeqBytes = 16;  // magic + u64
constexpr size_t kTemplateAlign = 64;  // a cache line: each template starts on one
constexpr size_t kPrefetchAhead = 64;  // frames

void Put16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, v >> 16);
  Put16(p + 2, v & 0xffff);
}
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

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
  size_t alen = v6 ? 16 : 4;
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

// Draws one frame's kind, direction, size, addresses and ports from rng.
BuiltTemplate BuildTemplate(std::mt19937_64& rng) {
  auto Rand = [&rng](uint64_t n) { return rng() % n; };
  BuiltTemplate out_t;
  uint64_t r = Rand(100);
  SyntheticKind kind = r < 25   ? SyntheticKind::kUdp4
                       : r < 50 ? SyntheticKind::kTcp4
                       : r < 60 ? SyntheticKind::kIcmp4
                       : r < 72 ? SyntheticKind::kUdp6
                       : r < 84 ? SyntheticKind::kTcp6
                       : r < 92 ? SyntheticKind::kIcmp6
                                : SyntheticKind::kArp;
  const bool out = Rand(2) == 0;
  out_t.kind = kind;
  out_t.direction = out ? PacketDirection::kOut : PacketDirection::kIn;

  // Size: a mix of small, medium and full-size frames, with both extremes.
  uint64_t b = Rand(20);
  uint32_t target = b == 0   ? kSyntheticMinFrame
                    : b == 1 ? kSyntheticMaxFrame
                    : b < 10 ? 60 + Rand(69)        // 60..128
                    : b < 15 ? 129 + Rand(472)      // 129..600
                             : 601 + Rand(914);     // 601..1514

  const uint8_t peer = static_cast<uint8_t>(2 + Rand(250));
  const uint8_t subnet = static_cast<uint8_t>(Rand(4));
  const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, peer};
  const uint8_t dev_ip4[4] = {10, 0, 0, 1};
  const uint8_t peer_ip4[4] = {10, 0, subnet, peer};
  uint8_t dev_ip6[16] = {0xfd, 0x00};
  dev_ip6[15] = 1;
  uint8_t peer_ip6[16] = {0xfd, 0x00};
  peer_ip6[13] = subnet;
  peer_ip6[15] = peer;
  static constexpr uint16_t kServices[] = {53, 80, 443, 123, 22, 5353, 8080, 3306};
  uint16_t service = b % 3 == 0 ? static_cast<uint16_t>(1024 + Rand(8000))
                                : kServices[Rand(sizeof kServices / sizeof kServices[0])];
  uint16_t ephemeral = static_cast<uint16_t>(32768 + Rand(28000));

  const bool v6 = kind == SyntheticKind::kUdp6 || kind == SyntheticKind::kTcp6 ||
                  kind == SyntheticKind::kIcmp6;
  size_t l3_header = kind == SyntheticKind::kArp ? kArpBody : v6 ? kIp6Header : kIp4Header;
  size_t l4_header = 0;
  uint8_t proto = 0;
  switch (kind) {
    case SyntheticKind::kUdp4:
    case SyntheticKind::kUdp6:
      l4_header = kUdpHeader, proto = 17;
      break;
    case SyntheticKind::kTcp4:
    case SyntheticKind::kTcp6:
      l4_header = kTcpHeader, proto = 6;
      break;
    case SyntheticKind::kIcmp4:
      l4_header = kIcmpHeader, proto = 1;
      break;
    case SyntheticKind::kIcmp6:
      l4_header = kIcmpHeader, proto = 58;
      break;
    case SyntheticKind::kArp:
      target = kSyntheticMinFrame;
      break;
  }
  size_t min_size = std::max<size_t>(kSyntheticMinFrame,
                                     kEthHeader + l3_header + l4_header + kSeqBytes);
  size_t size = std::max<size_t>(min_size, target);
  out_t.bytes.assign(size, 0);
  uint8_t* f = out_t.bytes.data();

  // Ethernet.
  const uint8_t* src_mac = out ? kDeviceMac : peer_mac;
  const uint8_t* dst_mac = out ? peer_mac : kDeviceMac;
  static constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  if (kind == SyntheticKind::kArp && out) dst_mac = kBroadcast;  // who-has
  std::memcpy(f, dst_mac, 6);
  std::memcpy(f + 6, src_mac, 6);
  Put16(f + 12, kind == SyntheticKind::kArp ? 0x0806 : v6 ? 0x86dd : 0x0800);

  if (kind == SyntheticKind::kArp) {
    uint8_t* a = f + kEthHeader;
    Put16(a, 1);
    Put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    Put16(a + 6, out ? 1 : 2);  // request out, reply in
    std::memcpy(a + 8, src_mac, 6);
    std::memcpy(a + 14, out ? dev_ip4 : peer_ip4, 4);
    if (!out) std::memcpy(a + 18, kDeviceMac, 6);
    std::memcpy(a + 24, out ? peer_ip4 : dev_ip4, 4);
    std::memcpy(f + kEthHeader + kArpBody, kSeqMagic, sizeof kSeqMagic);
    out_t.seq_at = kEthHeader + kArpBody + sizeof kSeqMagic;
    return out_t;
  }

  const uint8_t* src_ip = v6 ? (out ? dev_ip6 : peer_ip6) : (out ? dev_ip4 : peer_ip4);
  const uint8_t* dst_ip = v6 ? (out ? peer_ip6 : dev_ip6) : (out ? peer_ip4 : dev_ip4);
  const size_t l4 = kEthHeader + l3_header;
  const uint32_t l4_len = static_cast<uint32_t>(size - l4);
  uint8_t* ip = f + kEthHeader;
  if (v6) {
    Put32(ip, 0x60000000u | static_cast<uint32_t>(Rand(1 << 20)));
    Put16(ip + 4, static_cast<uint16_t>(l4_len));
    ip[6] = proto;
    ip[7] = 64;
    std::memcpy(ip + 8, src_ip, 16);
    std::memcpy(ip + 24, dst_ip, 16);
  } else {
    ip[0] = 0x45;
    Put16(ip + 2, static_cast<uint16_t>(size - kEthHeader));
    out_t.ip_id_at = kEthHeader + 4;  // the ID: seq, stamped per frame
    Put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = proto;
    std::memcpy(ip + 12, src_ip, 4);
    std::memcpy(ip + 16, dst_ip, 4);
    out_t.ip_csum_at = kEthHeader + 10;
    out_t.ip_base_sum = SumWords(ip, kIp4Header, 0);
  }

  uint8_t* t = f + l4;
  uint16_t sport = out ? ephemeral : service;
  uint16_t dport = out ? service : ephemeral;
  size_t csum_at = 0;
  switch (proto) {
    case 17:
      Put16(t, sport);
      Put16(t + 2, dport);
      Put16(t + 4, static_cast<uint16_t>(l4_len));
      csum_at = 6;
      break;
    case 6:
      Put16(t, sport);
      Put16(t + 2, dport);
      Put32(t + 4, static_cast<uint32_t>(rng()));
      Put32(t + 8, static_cast<uint32_t>(rng()));
      t[12] = (kTcpHeader / 4) << 4;
      t[13] = 0x18;  // PSH|ACK
      Put16(t + 14, 65535);
      csum_at = 16;
      break;
    default:  // ICMP / ICMPv6 echo request (out) or reply (in)
      t[0] = proto == 1 ? (out ? 8 : 0) : (out ? 128 : 129);
      Put16(t + 4, static_cast<uint16_t>(0x4d59));
      out_t.echo_seq_at = l4 + 6;  // the echo sequence: seq, stamped per frame
      csum_at = 2;
      break;
  }
  uint8_t* payload = t + l4_header;
  std::memcpy(payload, kSeqMagic, sizeof kSeqMagic);
  out_t.seq_at = l4 + l4_header + sizeof kSeqMagic;
  const uint8_t fill = static_cast<uint8_t>(Rand(256));
  for (size_t i = kSeqBytes; i < size - l4 - l4_header; ++i)
    payload[i] = static_cast<uint8_t>(fill + i);

  out_t.udp = proto == 17;
  out_t.l4_csum_at = l4 + csum_at;
  uint32_t sum = proto == 1 ? 0 : PseudoSum(v6, src_ip, dst_ip, proto, l4_len);
  out_t.l4_base_sum = SumWords(t, l4_len, sum);
  return out_t;
}

}  // namespace

std::optional<uint64_t> FindSequence(const uint8_t* f, size_t caplen) {
  if (caplen < kEthHeader) return std::nullopt;
  size_t off = 0;
  uint16_t ethertype = Get16(f + 12);
  uint8_t proto = 0;
  size_t l4 = 0;
  if (ethertype == 0x0800) {
    if (caplen < kEthHeader + kIp4Header) return std::nullopt;
    size_t ihl = (f[kEthHeader] & 0x0f) * 4u;
    if (ihl < kIp4Header) return std::nullopt;
    proto = f[kEthHeader + 9];
    l4 = kEthHeader + ihl;
  } else if (ethertype == 0x86dd) {
    if (caplen < kEthHeader + kIp6Header) return std::nullopt;
    proto = f[kEthHeader + 6];
    l4 = kEthHeader + kIp6Header;
  } else if (ethertype == 0x0806) {
    off = kEthHeader + kArpBody;
  } else {
    return std::nullopt;
  }
  if (ethertype != 0x0806) {
    switch (proto) {
      case 17:
        off = l4 + kUdpHeader;
        break;
      case 6:
        if (caplen < l4 + kTcpHeader) return std::nullopt;
        off = l4 + (f[l4 + 12] >> 4) * 4u;
        break;
      case 1:
      case 58:
        off = l4 + kIcmpHeader;
        break;
      default:
        return std::nullopt;
    }
  }
  if (caplen < off + kSeqBytes || std::memcmp(f + off, kSeqMagic, sizeof kSeqMagic) != 0)
    return std::nullopt;
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq = (seq << 8) | f[off + 8 + i];
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
