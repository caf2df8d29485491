"""frames.py — the test frames and their markers: the sequence number
mydevd's synthetic generator puts in every frame, and the tagged frames the
real-interface tests send through a veth pair (netns.VethPair).

build_frame frames carry E2E_MAGIC + a 5-byte tag + a 4-byte sequence
number, are addressed to FOREIGN_MAC (neither end's address: both kernels
drop them as PACKET_OTHERHOST) and use documentation addresses
(192.0.2.0/24, 2001:db8::/32), so nothing leaves the pair.

    frames = build_frames(b"BYTES", 300, veth.far_mac)
    mine = tagged(read_pcap(path)[1], b"BYTES")
"""
import struct

SEQ_MAGIC = b"MYDEVSEQ"
E2E_MAGIC = b"MYDEVE2E"
FOREIGN_MAC = bytes.fromhex("02005e100001")
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q = 0x0800, 0x86DD, 0x8100


def seq_of(data):
    """The synthetic generator's sequence number in a frame, or None."""
    i = data.find(SEQ_MAGIC)
    if i < 0 or i + 16 > len(data):
        return None
    return struct.unpack_from(">Q", data, i + 8)[0]


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def build_frame(kind, size, tag, seq, src_mac, dst_mac=FOREIGN_MAC):
    """One Ethernet frame of exactly `size` bytes (no FCS): kind "ipv4",
    "ipv6" or "vlan" (802.1Q, VLAN 100 + seq % 8, priority seq % 8, IPv4
    inside), UDP to port 9 carrying E2E_MAGIC, tag and seq."""
    assert len(tag) == 5
    mark = E2E_MAGIC + tag + struct.pack(">I", seq)
    vlan = kind == "vlan"
    l2 = 14 + (4 if vlan else 0)
    l3 = 40 if kind == "ipv6" else 20
    payload_len = size - l2 - l3 - 8
    assert payload_len >= len(mark), "frame too small for its marker"
    payload = (mark * (payload_len // len(mark) + 1))[:payload_len]
    udp_len = 8 + payload_len
    if kind == "ipv6":
        src, dst = bytes.fromhex("20010db8" + "0" * 23 + "1"), bytes.fromhex("20010db8" + "0" * 23 + "2")
        pseudo = src + dst + struct.pack("!IxxxB", udp_len, 17)
        udp = struct.pack("!HHHH", 40000 + seq % 1000, 9, udp_len, 0) + payload
        udp = udp[:6] + struct.pack("!H", _csum(pseudo + udp) or 0xFFFF) + udp[8:]
        l3hdr = struct.pack("!IHBB", 0x60000000 | (seq & 0xFFFFF), udp_len, 17, 64) + src + dst
        ethertype = ETH_P_IPV6
    else:
        udp = struct.pack("!HHHH", 40000 + seq % 1000, 9, udp_len, 0) + payload
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, seq & 0xFFFF, 0, 64, 17, 0,
                          bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
        l3hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
        ethertype = ETH_P_IP
    eth = dst_mac + src_mac
    if vlan:
        eth += struct.pack("!HH", ETH_P_8021Q, ((seq % 8) << 13) | (100 + seq % 8))
    frame = eth + struct.pack("!H", ethertype) + l3hdr + udp
    assert len(frame) == size, (kind, size, len(frame))
    return frame


def build_frames(tag, count, src_mac, kinds=("ipv4", "ipv6", "vlan")):
    """`count` frames cycling through kinds, sizes spread over 60..1514
    (both ends included), sequence numbers 0..count-1."""
    frames = []
    for seq in range(count):
        kind = kinds[seq % len(kinds)]
        # the smallest that holds the marker (VLAN: 4 more bytes than IPv4)
        lo = {"ipv6": 79, "vlan": 63}.get(kind, 60)
        size = 1514 if seq == count - 1 else lo + (seq * 997) % (1514 - lo + 1)
        frames.append(build_frame(kind, size, tag, seq, src_mac))
    return frames


def marker_of(data):
    """(tag, seq) of a build_frame frame, or None."""
    i = data.find(E2E_MAGIC)
    if i < 0 or i + 17 > len(data):
        return None
    return data[i + 8:i + 13], struct.unpack_from(">I", data, i + 13)[0]


def tagged(packets, tag):
    """The packets carrying build_frame tag `tag`."""
    return [p for p in packets if (marker_of(p[3]) or (None,))[0] == tag]


def mac_text(mac):
    return ":".join("%02x" % b for b in mac)
