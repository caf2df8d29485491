#!/usr/bin/env python3
"""make_seeds.py — (re)writes the fuzzers' seed corpora under
<pkg>/testdata/fuzz/<fuzzer>/ from meaningful inputs: BPF programs compiled by
`tcpdump -dd` (run on sample frames), the example configs, real gRPC request
messages (encoded by hand here, field by field), rings written the way the
daemon writes them, and fd hand-off requests. Files it does not write (saved
crashes: crash-*) are left alone.

    python3 tools/fuzzing/make_seeds.py     # from the repository root
"""
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def out(pkg, fuzzer, name, data):
    d = os.path.join(ROOT, pkg, "testdata", "fuzz", fuzzer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- frames
def ipv4_tcp(dport=80, vlan=False):
    eth = bytes.fromhex("020000000001" "020000000002")
    if vlan:
        eth += bytes.fromhex("8100" "0064")
    eth += b"\x08\x00"
    tcp = struct.pack("!HHIIBBHHH", 40000, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return eth + ip + tcp


def ipv6_udp(dport=53):
    eth = bytes.fromhex("020000000001" "020000000002" "86dd")
    udp = struct.pack("!HHHH", 5353, dport, 8 + 4, 0) + b"ping"
    ip = struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64,
                     bytes(15) + b"\x01", bytes(15) + b"\x02")
    return eth + ip + udp


def tcpdump_dd(expr):
    text = subprocess.run(["tcpdump", "-dd", "-y", "EN10MB", "-i", "lo", expr], check=True,
                          capture_output=True, text=True).stdout
    insns = []
    for line in text.splitlines():
        line = line.strip().strip("{},")
        if not line:
            continue
        code, jt, jf, k = (int(x.strip(" }"), 0) for x in line.split(","))
        insns.append(struct.pack("<HBBI", code, jt, jf, k))
    return insns


def bpf_seed(insns, packet, extra_wire=0):
    return struct.pack("<H", len(insns)) + b"".join(insns) + struct.pack("<H", extra_wire) + packet


def bpf_seeds():
    filters = {
        "tcp_port_80": ("tcp port 80", ipv4_tcp(80)),
        "udp_ip6": ("ip6 and udp port 53", ipv6_udp()),
        "vlan_tcp": ("vlan and tcp", ipv4_tcp(443, vlan=True)),
        "host_net": ("src net 10.0.0.0/8 and not dst host 10.9.9.9", ipv4_tcp()),
        "tcp_flags_syn": ("tcp[tcpflags] & tcp-syn != 0", ipv4_tcp()),
        "len_gt": ("greater 60 and less 1500", ipv4_tcp()),
        "ip_proto_indexed": ("ip[9] = 6 and ip[2:2] > 20", ipv4_tcp()),
        "ether_multicast": ("ether multicast or ether broadcast", ipv4_tcp()),
    }
    for name, (expr, pkt) in filters.items():
        out("daemon/datapath", "bpf_program_fuzzer", name, bpf_seed(tcpdump_dd(expr), pkt, 4))
    # Hand-written edge cases: scratch memory, ALU, division by X, backwards-ish ja.
    ins = lambda c, jt, jf, k: struct.pack("<HBBI", c, jt, jf, k)
    out("daemon/datapath", "bpf_program_fuzzer", "mem_alu_div_x", bpf_seed([
        ins(0x80, 0, 0, 0),          # ld len
        ins(0x02, 0, 0, 3),          # st M[3]
        ins(0x01, 0, 0, 0),          # ldx #0
        ins(0x3c, 0, 0, 0),          # div x  (division by zero at run time -> 0)
        ins(0x64, 0, 0, 33),         # lsh #33
        ins(0x61, 0, 0, 3),          # ldx M[3]
        ins(0xb1, 0, 0, 14),         # ldxb 4*([14]&0xf)
        ins(0x50, 0, 0, 0xfffffff0), # ldb [x + big]
        ins(0x16, 0, 0, 0),          # ret a
    ], ipv4_tcp()))
    out("daemon/datapath", "bpf_program_fuzzer", "ja_to_end", bpf_seed([
        ins(0x05, 0, 0, 1), ins(0x06, 0, 0, 0), ins(0x06, 0, 0, 0xffffffff)], b""))
    out("daemon/datapath", "bpf_program_fuzzer", "ja_wraps", bpf_seed([
        ins(0x05, 0, 0, 0xffffffff), ins(0x06, 0, 0, 0)], b""))
    out("daemon/datapath", "bpf_program_fuzzer", "unknown_misc", bpf_seed([
        ins(0x87, 0, 0, 0), ins(0x06, 0, 0, 0)], b""))


# ---------------------------------------------------------------- config
def config_seeds():
    with open(os.path.join(ROOT, "deploy", "mydevd.example.conf"), "rb") as f:
        out("daemon/control", "config_fuzzer", "example_conf", f.read())
    seeds = {
        "minimal": b'device { name: "mydev0" synthetic {} }\n',
        "limits": b'device { name: "mydev3" synthetic { rate_pps: 0 seed: 9 count: 10 } }\n'
                  b'limits { default_ring_bytes: 65536 max_ring_bytes: 1048576 '
                  b'max_sessions_per_uid: 2 max_bpf_insns: 64 attach_timeout_ms: 20 '
                  b'max_message_bytes: 65536 tick_ms: 1 max_ring_bytes_per_uid: 4194304 }\n',
        "access": b'device { name: "mydev0" synthetic {} access { capture { user: "root" '
                  b'user: "0" group: "adm" } inject { everyone: true } } }\n'
                  b'user_limits { user: "root" max_sessions: 3 max_ring_bytes_total: 1 }\n'
                  b'stats_viewers { group: "root" }\n',
        "replay": b'device { name: "mydev12" replay { path: "/nonexistent.pcap" speed: 0.5 '
                  b'loop: true } }\n',
        "afpacket": b'device { name: "mydev1" afpacket { interface: "lo" block_bytes: 4096 '
                    b'block_count: 2 block_timeout_ms: 1 } }\n',
        "bad_name": b'device { name: "mydev01" synthetic {} }\n',
        "syntax_error": b'device { name: "mydev0" synthetic { rate_pps: -1 }\n',
        "stats_listener": b'device { name: "mydev0" synthetic {} }\n'
                          b'stats_listener { address: "127.0.0.1:9470" plaintext: true '
                          b'tokens_file: "/nonexistent/stats-tokens" health_address: ":9471" '
                          b'max_watchers: 4 reload_interval_s: 1 }\n',
        "stats_listener_tls": b'stats_listener { address: "[::]:9470" tls { cert_file: "/x.crt" '
                              b'key_file: "/x.key" client_ca_file: "/ca.crt" } '
                              b'client_cert_scope: "devices" }\n',
        "stats_listener_plaintext_wildcard": b'stats_listener { address: "0.0.0.0:9470" '
                                             b'plaintext: true tokens_file: "/t" }\n',
    }
    for name, text in seeds.items():
        out("daemon/control", "config_fuzzer", name, text)


# ---------------------------------------------------------------- stats tokens
def stats_tokens_seeds():
    seeds = {
        "valid": b"# dashboards\n0123456789abcdef0123456789abcdef sessions grafana\n"
                 b"ZmFrZS10b2tlbi1mb3ItdGVzdHM= devices\n",
        "short_token": b"short devices\n",
        "bad_scope": b"0123456789abcdef0123456789abcdef admin\n",
        "duplicate": b"a0123456789abcdef0123456789 devices a\na0123456789abcdef0123456789 sessions b\n",
        "empty": b"\r\n\t\n#only comments # here\n",
    }
    for name, text in seeds.items():
        out("daemon/control", "stats_tokens_fuzzer", name, text)


# ---------------------------------------------------------------- gRPC requests
def varint(v):
    b = b""
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            b += bytes([byte | 0x80])
        else:
            return b + bytes([byte])


def fv(num, v):  # varint field (negative int32: 10-byte two's complement)
    return varint(num << 3) + varint(v & 0xFFFFFFFFFFFFFFFF)


def fb(num, data):  # length-delimited field
    return varint(num << 3 | 2) + varint(len(data)) + data


def open_req(device=b"mydev0", snaplen=0, buffer=0, promisc=False, immediate=False,
             timeout=0, direction=0, dlt=0):
    m = fb(1, device)
    for num, v in ((2, snaplen), (3, buffer), (4, int(promisc)), (5, int(immediate)),
                   (6, timeout), (8, direction), (9, dlt)):
        if v:
            m += fv(num, v)
    return m


def service_seed(op, flags, open_msg, op_msg):
    assert len(open_msg) < 256
    return bytes([op, flags, len(open_msg)]) + open_msg + op_msg


def service_seeds():
    ref = fb(1, fv(1, 1) + fb(2, b"x" * 32))  # overwritten when flags bit1 is set
    bpf = b"".join(fb(2, fv(1, c) + fv(2, jt) + fv(3, jf) + fv(4, k)) for c, jt, jf, k in [
        (0x28, 0, 0, 12), (0x15, 0, 1, 0x800), (0x6, 0, 0, 262144), (0x6, 0, 0, 0)])
    seeds = {
        "list_devices": service_seed(0, 0, b"", b""),
        "open_only": service_seed(7, 0, open_req(snaplen=96, buffer=1 << 16, immediate=True,
                                                 timeout=100, direction=1, dlt=1), b""),
        "open_too_big": service_seed(7, 0, open_req(buffer=1 << 40), b""),
        "open_bad_direction": service_seed(7, 0, open_req(direction=7), b""),
        "open_bad_dlt": service_seed(7, 0, open_req(dlt=-5), b""),
        "open_no_device": service_seed(7, 0, open_req(device=b"mydev9"), b""),
        "set_filter": service_seed(1, 3, open_req(), ref + bpf),
        "set_filter_bad": service_seed(1, 3, open_req(), ref + fb(2, fv(1, 0x10000))),
        "set_filter_empty": service_seed(1, 3, open_req(), ref),
        "set_direction": service_seed(2, 3, open_req(), ref + fv(2, 2)),
        "set_direction_bad": service_seed(2, 3, open_req(), ref + fv(2, 99)),
        "set_datalink": service_seed(3, 3, open_req(), ref + fv(2, 276)),
        "set_datalink_bad": service_seed(3, 3, open_req(), ref + fv(2, 105)),
        "set_datalink_zero": service_seed(3, 3, open_req(), ref + fv(2, 0)),
        "set_direction_negative": service_seed(2, 3, open_req(), ref + fv(2, -1)),
        "set_filter_too_long": service_seed(1, 3, open_req(),
                                            ref + fb(2, fv(1, 0x6) + fv(4, 1)) * 4097),
        "inject_wrong_token": service_seed(4, 5, open_req(), ref + fb(2, ipv4_tcp())),
        "inject": service_seed(4, 3, open_req(), ref + fb(2, ipv4_tcp())),
        "inject_empty": service_seed(4, 3, open_req(), ref),
        "stats": service_seed(5, 3, open_req(), ref),
        "stats_wrong_token": service_seed(5, 5, open_req(), ref),
        "close": service_seed(6, 3, open_req(), ref),
        "close_wrong_token": service_seed(6, 5, open_req(), ref),
    }
    for name, data in seeds.items():
        out("daemon/rpc", "capture_service_fuzzer", name, data)


def stats_seeds():
    # Ops of 3 bytes [op][a][b] (see daemon/rpc/stats_service_fuzzer.cc):
    # 0 GetStats(caller a), 1 WatchStats(caller a, interval #b), 2 read(stream a, b%4+1),
    # 3 cancel(stream a), 4 advance(step #b), 5 toggle 3rd session, 6 probe(stream a).
    # Callers: 0 root, 1 owner A, 2 owner B, 3 viewer, 4 stranger, 5 unknown.
    # Intervals: 0 -> 0 (=1000), 1 -> 1 ms, 4 -> 100, 7 -> 1000, 9 -> 60000, 11 -> 2^32-1.
    # Steps: 0 1 ms, 3 100 ms, 6 1 s, 7 60 s, 9 1 h.
    ops = lambda *t: b"".join(bytes(x) for x in t)
    seeds = {
        "get_every_caller": ops(*[(0, c, 0) for c in range(6)]),
        "get_third_session": ops((5, 0, 0), (0, 4, 0), (0, 1, 0), (0, 5, 0), (5, 0, 0), (0, 3, 0)),
        "watch_default_interval": ops((1, 3, 0), (4, 0, 6), (2, 0, 3), (4, 0, 5), (6, 0, 0)),
        "watch_tiny_interval": ops((1, 4, 1), (4, 0, 3), (2, 0, 0), (4, 0, 1), (6, 0, 0)),
        "watch_huge_interval": ops((1, 0, 11), (4, 0, 7), (6, 0, 0), (1, 0, 11), (4, 0, 9),
                                   (2, 0, 3), (3, 0, 0)),
        "watch_per_uid_cap": ops((1, 1, 4), (1, 1, 4), (1, 1, 4), (3, 0, 0), (1, 1, 4),
                                 (1, 5, 7), (1, 5, 7), (1, 5, 7)),
        "watch_total_cap": ops((1, 0, 4), (1, 0, 4), (1, 0, 4), (1, 1, 4), (1, 2, 4),
                               (1, 3, 4), (3, 4, 0), (1, 3, 4)),
        "watch_mixed": ops((1, 4, 4), (1, 2, 9), (5, 0, 0), (4, 0, 3), (2, 0, 1), (2, 1, 1),
                           (0, 4, 0), (5, 0, 0), (4, 0, 7), (2, 1, 3), (3, 0, 0), (6, 0, 0)),
    }
    for name, data in seeds.items():
        out("daemon/rpc", "stats_service_fuzzer", name, data)


# ---------------------------------------------------------------- ring
def record(caplen, wire, flags=0x2, ts=1, payload=None):
    payload = payload if payload is not None else bytes(range(caplen % 256)) * (caplen // 256 + 1)
    body = struct.pack("<IIIIQ", (24 + caplen + 7) & ~7, caplen, wire, flags, ts) + payload[:caplen]
    return body + bytes((-len(body)) % 8)


def ring_seed(log2, consumer, producer, area):
    return bytes([log2 - 3, 0]) + struct.pack("<QQ", consumer, producer) + area


def ring_seeds():
    recs = record(60, 60) + record(100, 1500) + record(0, 64)
    out("shm", "ring_reader_fuzzer", "three_records", ring_seed(10, 0, len(recs), recs))
    # A padding record at the end of a 256-byte area, then a record at 0.
    area = bytearray(256)
    r = record(40, 40)
    area[0:len(r)] = r
    pad = struct.pack("<IIIIQ", 56, 0, 0, 0x1, 0)
    area[200:200 + len(pad)] = pad
    out("shm", "ring_reader_fuzzer", "wrap_with_pad", ring_seed(8, 200, 256 + len(r), bytes(area)))
    # 8 bytes left before the end: the silent skip.
    area = bytearray(256)
    area[0:len(r)] = r
    out("shm", "ring_reader_fuzzer", "silent_skip", ring_seed(8, 248, 256 + len(r), bytes(area)))
    out("shm", "ring_reader_fuzzer", "caplen_too_big",
        ring_seed(8, 0, 32, struct.pack("<IIIIQ", 32, 4000, 4000, 0x2, 0) + bytes(8)))
    out("shm", "ring_reader_fuzzer", "huge_record_bytes",
        ring_seed(8, 0, 256, struct.pack("<IIIIQ", 0xFFFFFFF8, 8, 8, 0x2, 0) + bytes(8)))
    out("shm", "ring_reader_fuzzer", "producer_behind_consumer", ring_seed(8, 512, 8, recs))
    # A corrupt ctl page: consumer_pos not 8-aligned, over a record that
    # would validate there. The reader must report corruption, not read it.
    area = bytearray(256)
    r = record(8, 8)
    area[3:3 + len(r)] = r
    out("shm", "ring_reader_fuzzer", "misaligned_consumer", ring_seed(8, 3, 3 + len(r), bytes(area)))
    hdr = struct.pack("<IIIIQ", 0x5244594D, 1, 4096, 1, 1 << 10) + bytes(40)
    out("shm", "ring_reader_fuzzer", "raw_header",
        bytes([10 - 3, 1]) + struct.pack("<QQ", 0, len(recs)) + hdr + recs)


# ---------------------------------------------------------------- fd hand-off
def handoff_seeds():
    req = struct.pack("<Q", 7) + bytes(range(32))
    for name, flags, data in [("request", 0, req), ("request_split", 2, req),
                              ("request_with_fd", 1, req), ("short", 0, req[:39]),
                              ("long", 0, req + b"!"), ("empty", 0, b""),
                              ("short_no_eof", 4, req[:10]), ("split_fd_long", 3, req * 2)]:
        out("shm", "fd_handoff_fuzzer", name, bytes([flags]) + data)


# ---------------------------------------------------------------- device list answers
def h2_frame(ftype, flags, stream, payload):
    return struct.pack("!I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack("!I", stream) + payload


def hpack_literal(name, value):  # literal, incremental indexing, new name, no Huffman
    return b"\x40" + bytes([len(name)]) + name + bytes([len(value)]) + value


def list_answer_seeds():
    # What a gRPC server sends mydev_list.c for ListDevices (HTTP/2 frames:
    # DATA 0, HEADERS 1, SETTINGS 4, PING 6, WINDOW_UPDATE 8).
    devices = b"".join(
        fb(1, fb(1, b"mydev%d" % i) + fb(2, b"device %d" % i) + fb(3, b"synthetic") +
           fb(4, varint(1)) + fv(5, 0x30 + i) + fv(6, 1)) for i in range(3))
    msg = b"\x00" + struct.pack("!I", len(devices)) + devices  # gRPC message prefix
    settings = h2_frame(4, 0, 0, struct.pack("!HI", 3, 100))
    headers = h2_frame(1, 4, 1, b"\x88" + hpack_literal(b"content-type", b"application/grpc"))
    trailers = h2_frame(1, 5, 1, hpack_literal(b"grpc-status", b"0"))
    ok = settings + h2_frame(4, 1, 0, b"") + headers + h2_frame(0, 0, 1, msg) + trailers
    out("pcapmod", "mydev_list_fuzzer", "valid_answer", ok)
    out("pcapmod", "mydev_list_fuzzer", "valid_answer_split",
        settings + h2_frame(6, 0, 0, b"12345678") + headers + h2_frame(0, 0, 1, msg[:7]) +
        h2_frame(8, 0, 0, struct.pack("!I", 4096)) + h2_frame(0, 0, 1, msg[7:]) + trailers)
    out("pcapmod", "mydev_list_fuzzer", "error_status",  # trailers-only
        settings + h2_frame(1, 5, 1, b"\x88" +
                            hpack_literal(b"content-type", b"application/grpc") +
                            hpack_literal(b"grpc-status", b"14") +
                            hpack_literal(b"grpc-message", b"not%20now")))
    out("pcapmod", "mydev_list_fuzzer", "no_devices",
        settings + headers + h2_frame(0, 0, 1, bytes(5)) + trailers)


if __name__ == "__main__":
    bpf_seeds()
    config_seeds()
    stats_tokens_seeds()
    service_seeds()
    stats_seeds()
    ring_seeds()
    handoff_seeds()
    list_answer_seeds()
    print("seeds written", file=sys.stderr)
