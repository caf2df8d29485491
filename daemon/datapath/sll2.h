// sll2.h — builds the DLT_LINUX_SLL2 ("Linux cooked capture v2") form of a
// packet that a backend delivered in its default (Ethernet) form together
// with its LinkLayerInfo. Sessions that switched to SLL2 use it per record.
//
// The 20-byte header (all multi-byte fields big-endian), as in libpcap's
// sll.h and the LINKTYPE_LINUX_SLL2 spec:
//   0  protocol (ETH_P_*)      2  reserved, 0        4  interface index
//   8  ARPHRD_* type          10  packet type       11  address length
//  12  link-layer address (8 bytes, zero-padded)
// followed by the packet from its network-layer header on (what an
// AF_PACKET SOCK_DGRAM socket would have returned).
//
//   std::vector<uint8_t> buf;
//   uint32_t len, caplen;
//   if (BuildSll2Record(packet, &buf, &len, &caplen)) write(buf.data(), caplen, len);
#ifndef MYDEV_DAEMON_DATAPATH_SLL2_H_
#define MYDEV_DAEMON_DATAPATH_SLL2_H_

#include <cstdint>
#include <vector>

#include "daemon/backends/backend.h"

namespace mydev::daemon {

inline constexpr uint32_t kSll2HeaderBytes = 20;

// Writes the SLL2 record of p into *out (resized to the captured bytes) and
// its wire and captured lengths. False when p carries no LinkLayerInfo.
bool BuildSll2Record(const Packet& p, std::vector<uint8_t>* out, uint32_t* len,
                     uint32_t* caplen);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_SLL2_H_
