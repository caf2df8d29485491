"""pcap_files.py — reading the little-endian pcap files (microsecond or
nanosecond) that tcpdump, tshark and dumpcap write, also while they are
still writing them."""
import os
import struct


def read_pcap(path):
    """Returns (nanosecond_file, [(ts_ns, caplen, orig_len, data)])."""
    with open(path, "rb") as f:
        blob = f.read()
    magic = struct.unpack_from("<I", blob, 0)[0]
    if magic == 0xA1B2C3D4:
        nano = False
    elif magic == 0xA1B23C4D:
        nano = True
    else:
        raise AssertionError("%s: not a little-endian pcap file (magic %#x)" % (path, magic))
    packets, off = [], 24
    while off + 16 <= len(blob):
        sec, frac, caplen, orig = struct.unpack_from("<IIII", blob, off)
        off += 16
        data = blob[off:off + caplen]
        off += caplen
        ts_ns = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        packets.append((ts_ns, caplen, orig, data))
    return nano, packets


def read_pcap_partial(path):
    """Like read_pcap, but for a file still being written: missing or short
    file -> no packets; a record cut short at the end is left out."""
    try:
        if os.path.getsize(path) < 24:
            return False, []
        nano, packets = read_pcap(path)
    except FileNotFoundError:
        return False, []
    if packets and len(packets[-1][3]) < packets[-1][1]:
        packets.pop()
    return nano, packets


def pcap_linktype(path):
    with open(path, "rb") as f:
        return struct.unpack("<I", f.read(24)[20:24])[0]
