// sll2.cc — see sll2.h.
#include "daemon/datapath/sll2.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace mydev::daemon {

static_assert(sizeof(sll2_header) == SLL2_HDR_LEN);
static_assert(sizeof(LinkLayerInfo::addr) == SLL_ADDRLEN);

bool BuildSll2Record(const Packet& p, std::vector<uint8_t>* out, uint32_t* len, uint32_t* caplen) {
  if (p.link == nullptr) return false;
  const LinkLayerInfo& l = *p.link;
  const uint32_t off = l.payload_offset;
  const uint32_t body = p.caplen > off ? p.caplen - off : 0;
  sll2_header h{};
  h.sll2_protocol = htons(l.protocol);
  h.sll2_reserved_mbz = 0;
  h.sll2_if_index = htonl(l.ifindex);
  h.sll2_hatype = htons(l.hatype);
  h.sll2_pkttype = l.pkttype;
  h.sll2_halen = l.halen;
  std::memcpy(h.sll2_addr, l.addr, std::min<size_t>(l.halen, sizeof h.sll2_addr));  // rest 0
  out->resize(SLL2_HDR_LEN + body);
  std::memcpy(out->data(), &h, SLL2_HDR_LEN);
  if (body != 0) std::memcpy(out->data() + SLL2_HDR_LEN, p.data + off, body);
  *caplen = SLL2_HDR_LEN + body;
  *len = SLL2_HDR_LEN + (p.len > off ? p.len - off : 0);
  return true;
}

}  // namespace mydev::daemon
