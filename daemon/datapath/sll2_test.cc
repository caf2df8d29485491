// sll2_test.cc — the SLL2 header layout and the cut at the network header.
#include "daemon/datapath/sll2.h"

#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if_arp.h>

#include <vector>

namespace mydev::daemon {
namespace {

TEST(Sll2, BuildsHeaderAndStripsLinkHeader) {
  std::vector<uint8_t> frame(60);
  for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i);
  LinkLayerInfo l;
  l.protocol = ETH_P_IP;
  l.hatype = ARPHRD_ETHER;
  l.ifindex = 0x01020304;
  l.pkttype = PACKET_OUTGOING;
  l.halen = ETH_ALEN;
  for (int i = 0; i < ETH_ALEN; ++i) l.addr[i] = static_cast<uint8_t>(0xa0 + i);
  l.addr[6] = l.addr[7] = 0xee;  // beyond halen: must not leak into the header
  l.payload_offset = ETH_HLEN;
  Packet p;
  p.data = frame.data();
  p.caplen = 60;
  p.len = 100;
  p.link = &l;
  std::vector<uint8_t> out;
  uint32_t len = 0, caplen = 0;
  ASSERT_TRUE(BuildSll2Record(p, &out, &len, &caplen));
  EXPECT_EQ(caplen, SLL2_HDR_LEN + 46u);
  EXPECT_EQ(len, SLL2_HDR_LEN + 86u);
  ASSERT_EQ(out.size(), caplen);
  // The wire bytes, spelled out: every multi-byte field big-endian.
  const std::vector<uint8_t> header = {0x08, 0x00,           // ETH_P_IP
                                       0,    0,              // reserved
                                       1,    2,    3,    4,  // ifindex
                                       0,    1,              // ARPHRD_ETHER
                                       4,                    // PACKET_OUTGOING
                                       6,                    // halen
                                       0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0, 0};
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + SLL2_HDR_LEN), header);
  EXPECT_EQ(std::vector<uint8_t>(out.begin() + SLL2_HDR_LEN, out.end()),
            std::vector<uint8_t>(frame.begin() + ETH_HLEN, frame.end()));
}

TEST(Sll2, TruncatedBeforeNetworkHeaderKeepsHeaderOnly) {
  uint8_t frame[10] = {};
  LinkLayerInfo l;
  l.payload_offset = ETH_HLEN;
  Packet p;
  p.data = frame;
  p.caplen = 10;
  p.len = 64;
  p.link = &l;
  std::vector<uint8_t> out;
  uint32_t len = 0, caplen = 0;
  ASSERT_TRUE(BuildSll2Record(p, &out, &len, &caplen));
  EXPECT_EQ(caplen, uint32_t{SLL2_HDR_LEN});
  EXPECT_EQ(len, SLL2_HDR_LEN + 50u);
}

TEST(Sll2, NoLinkInfoRefused) {
  uint8_t frame[60] = {};
  Packet p;
  p.data = frame;
  p.caplen = p.len = 60;
  std::vector<uint8_t> out;
  uint32_t len, caplen;
  EXPECT_FALSE(BuildSll2Record(p, &out, &len, &caplen));
}

}  // namespace
}  // namespace mydev::daemon
