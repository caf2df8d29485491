// sll2.cc — see sll2.h.
#include "daemon/datapath/sll2.h"

#include <algorithm>
#include <cstring>

namespace mydev::daemon {

bool BuildSll2Record(const Packet& p, std::vector<uint8_t>* out, uint32_t* len,
                     uint32_t* caplen) {
  if (p.link == nullptr) return false;
  const LinkLayerInfo& l = *p.link;
  const uint32_t off = l.payload_offset;
  const uint32_t body = p.caplen > off ? p.caplen - off : 0;
  out->resize(kSll2HeaderBytes + body);
  uint8_t* h = out->data();
  h[0] = static_cast<uint8_t>(l.protocol >> 8);
  h[1] = static_cast<uint8_t>(l.protocol);
  h[2] = h[3] = 0;
  for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<uint8_t>(l.ifindex >> (24 - 8 * i));
  h[8] = static_cast<uint8_t>(l.hatype >> 8);
  h[9] = static_cast<uint8_t>(l.hatype);
  h[10] = l.pkttype;
  h[11] = l.halen;
  std::memset(h + 12, 0, 8);
  std::memcpy(h + 12, l.addr, std::min<size_t>(l.halen, 8));
  if (body != 0) std::memcpy(h + kSll2HeaderBytes, p.data + off, body);
  *caplen = kSll2HeaderBytes + body;
  *len = kSll2HeaderBytes + (p.len > off ? p.len - off : 0);
  return true;
}

}  // namespace mydev::daemon
