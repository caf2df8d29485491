// sll2.h — builds the DLT_LINUX_SLL2 ("Linux cooked capture v2") form of a
// packet that a backend delivered in its default (Ethernet) form together
// with its LinkLayerInfo. Sessions that switched to SLL2 use it per record.
//
// The header is libpcap's struct sll2_header (<pcap/sll.h>, SLL2_HDR_LEN = 20
// bytes, multi-byte fields in network byte order): protocol (ETH_P_*),
// reserved 0, interface index, ARPHRD_* type, packet type (PACKET_*),
// address length, link-layer address (SLL_ADDRLEN = 8 bytes, zero-padded);
// followed by the packet from its network-layer header on (what an
// AF_PACKET SOCK_DGRAM socket would have returned).
//
//   std::vector<uint8_t> buf;
//   uint32_t len, caplen;
//   if (BuildSll2Record(packet, &buf, &len, &caplen)) write(buf.data(), caplen, len);
#ifndef MYDEV_DAEMON_DATAPATH_SLL2_H_
#define MYDEV_DAEMON_DATAPATH_SLL2_H_

#include <pcap/sll.h>

#include <cstdint>
#include <vector>

#include "daemon/backends/backend.h"

namespace mydev::daemon {

// Writes the SLL2 record of p into *out (resized to the captured bytes) and
// its wire and captured lengths. False when p carries no LinkLayerInfo.
bool BuildSll2Record(const Packet& p, std::vector<uint8_t>* out, uint32_t* len, uint32_t* caplen);

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_DATAPATH_SLL2_H_
