"""e2e_lib.py — helpers for the end-to-end tests: stage the built binaries
where an unprivileged user can run them, run mydevd, run Debian's tcpdump
through mydev-run as `nobody`, and read the pcap files they write.

    with Stage() as stage:
        with stage.daemon(rate_pps=2000) as d:
            out = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "5", "-w", f])
            packets = read_pcap(f)
"""
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

WORKSPACE = "mydev"
SEQ_MAGIC = b"MYDEVSEQ"
# The unprivileged user mydevd switches to when the tests run it as root, as
# in production (tools/install.sh creates the same user).
DAEMON_USER = "mydevd"

# Runfile path -> path under the staged install tree (the install.sh layout).
STAGED = {
    "daemon/mydevd": "bin/mydevd",
    "tools/mydev-run": "bin/mydev-run",
    "tools/stats/mydev-stats": "bin/mydev-stats",
    "pcapmod/libpcap.so.0.8": "lib/mydev/libpcap.so.0.8",
    "pcapmod/libmydev-client.so": "lib/mydev/libmydev-client.so",
    "tests/pcap_api_probe": "bin/pcap_api_probe",
    "tests/pcap_inject_probe": "bin/pcap_inject_probe",
    "tests/hostile_client": "bin/hostile_client",
}


def runfile(path):
    base = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR")
    return os.path.join(base, WORKSPACE, path)


def ensure_daemon_user():
    """Creates the system user DAEMON_USER if missing (as tools/install.sh
    does); safe when several tests race to do it."""
    import pwd
    for _ in range(50):
        try:
            return pwd.getpwnam(DAEMON_USER)
        except KeyError:
            pass
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", DAEMON_USER], capture_output=True, timeout=30)
        time.sleep(0.1)  # another useradd may hold /etc/passwd's lock
    raise AssertionError("could not create the user %s" % DAEMON_USER)


class Daemon:
    _instances = 0
    # argv run in front of mydevd (a subclass may set a wrapper, e.g. prlimit).
    LAUNCHER = []

    def __init__(self, stage, config_text):
        Daemon._instances += 1
        n = Daemon._instances
        self.stage = stage
        self.socket = os.path.join(stage.run_dir, "mydevd%d.sock" % n)
        self.config = os.path.join(stage.root, "mydevd%d.conf" % n)
        with open(self.config, "w") as f:
            f.write(config_text or "")
        self.log_path = os.path.join(stage.root, "mydevd%d.log" % n)
        self.proc = None
        # As root: `mydevd --user DAEMON_USER` (None: no --user flag at all).
        self.user = DAEMON_USER if os.geteuid() == 0 else None

    def start(self):
        args = self.LAUNCHER + [self.stage.bin("mydevd"), "--socket", self.socket]
        if os.path.getsize(self.config):
            args += ["--config", self.config]
        if self.user:
            if self.user == DAEMON_USER:
                ensure_daemon_user()
            args += ["--user", self.user]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mydevd exited at start:\n" + self.log_text())
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket)
                if self.proc.poll() is None:
                    return self
            except OSError:
                time.sleep(0.02)
        raise AssertionError("mydevd did not listen within 10 s:\n" + self.log_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mydevd ignored SIGTERM for 10 s")
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def assert_alive(self):
        assert self.proc.poll() is None, "mydevd died:\n" + self.log_text()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stats(self):
        """Returns ({device: {k: v}}, [session {k: v}]) from mydev-stats."""
        out = subprocess.run([self.stage.bin("mydev-stats"), "--socket", self.socket,
                              "--format=kv"], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        devices, sessions = {}, []
        for line in out.stdout.splitlines():
            kind, _, rest = line.partition(" ")
            kv = dict(item.split("=", 1) for item in rest.split())
            if kind == "device":
                devices[kv["name"]] = kv
            elif kind == "session":
                sessions.append(kv)
        return devices, sessions

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Stage:
    """A world-readable copy of the built binaries in the installed layout."""

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="mydev-e2e-")
        os.chmod(self.root, 0o755)
        for src, dst in STAGED.items():
            src_path = runfile(src)
            if not os.path.exists(src_path):
                continue
            dst_path = os.path.join(self.root, dst)
            os.makedirs(os.path.dirname(dst_path), mode=0o755, exist_ok=True)
            shutil.copy(src_path, dst_path)
            os.chmod(dst_path, 0o755)
        for d in ("bin", "lib", "lib/mydev"):
            p = os.path.join(self.root, d)
            if os.path.isdir(p):
                os.chmod(p, 0o755)
        # As root, mydevd makes run/ itself and gives it to the user it
        # switches to (who creates and removes the sockets in it).
        self.run_dir = os.path.join(self.root, "run")
        if os.geteuid() != 0:
            os.makedirs(self.run_dir, mode=0o755)
        self.out_dir = os.path.join(self.root, "out")
        os.makedirs(self.out_dir, mode=0o777)
        os.chmod(self.out_dir, 0o777)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)

    def bin(self, name):
        return os.path.join(self.root, "bin", name)

    def out(self, name):
        return os.path.join(self.out_dir, name)

    def daemon(self, rate_pps=2000, extra_device_text="", limits_text="", config=None):
        if config is None:
            config = 'device { name: "mydev0" synthetic { rate_pps: %d } }\n' % rate_pps
            config += extra_device_text
            if limits_text:
                config += "limits { %s }\n" % limits_text
        return Daemon(self, config)

    def nobody_cmd(self, argv, socket_path):
        return ["runuser", "-u", "nobody", "--", "env", "MYDEV_SOCKET=" + socket_path,
                self.bin("mydev-run")] + argv

    def popen_as_nobody(self, argv, socket_path, **kw):
        return subprocess.Popen(self.nobody_cmd(argv, socket_path), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kw)

    def run_as_nobody(self, argv, socket_path, timeout=30):
        return subprocess.run(self.nobody_cmd(argv, socket_path), capture_output=True, text=True,
                              timeout=timeout)


def signal_child(proc, sig):
    """Signals the program runuser started (runuser itself does not pass
    SIGINT on, and answers SIGTERM with SIGKILL after 2 s)."""
    deadline = time.time() + 5
    while time.time() < deadline:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        if out.stdout.split():
            os.kill(int(out.stdout.split()[0]), sig)
            return
        time.sleep(0.01)
    raise AssertionError("no child of runuser pid %d" % proc.pid)


def wait_listening(proc, timeout=10):
    """Waits for tcpdump's 'listening on' line (the session is open)."""
    deadline = time.time() + timeout
    line = b""
    while time.time() < deadline:
        line = proc.stderr.readline()
        if b"listening on" in line or not line:
            break
    assert b"listening on" in line, "tcpdump did not start: %r" % line


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


def seq_of(data):
    """The synthetic generator's sequence number in a frame, or None."""
    i = data.find(SEQ_MAGIC)
    if i < 0 or i + 16 > len(data):
        return None
    return struct.unpack_from(">Q", data, i + 8)[0]


def system_tcpdump_filter(src, dst, expr=None):
    """Applies a filter (none: copies every record) with Debian's own
    tcpdump/libpcap, as the reference; src may be pcap or pcapng, dst is pcap."""
    subprocess.run(["/usr/bin/tcpdump", "-r", src, "-w", dst] + ([expr] if expr else []),
                   check=True, capture_output=True, timeout=60)
    return read_pcap(dst)[1]


# ---------------------------------------------------------------------------
# Real interfaces: a veth pair whose far end sits in a network namespace of
# the test's own, test frames sent through raw AF_PACKET sockets, and pcap
# files read while a capture program is still writing them.
#
#     with VethPair() as veth:                       # near end in this netns
#         frames = build_frames(b"BYTES", 300, veth.far_mac)
#         veth.send_from_far(frames)                 # arrives IN on veth.near
#         veth.send_from_near(frames)                # leaves OUT on veth.near
#
# Frames carry E2E_MAGIC + a 5-byte tag + a 4-byte sequence number, are
# addressed to FOREIGN_MAC (neither end's address: both kernels drop them as
# PACKET_OTHERHOST) and use documentation addresses (192.0.2.0/24,
# 2001:db8::/32), so nothing leaves the pair.

E2E_MAGIC = b"MYDEVE2E"
FOREIGN_MAC = bytes.fromhex("02005e100001")
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q = 0x0800, 0x86DD, 0x8100
IFF_PROMISC = 0x100
NETNS_PREFIX = "mydeve2e"

# Runs inside `ip netns exec` (or not): argv[1] = interface; stdin = frames,
# each a 2-byte big-endian length and the bytes. Paced so no queue overflows.
_SENDER = r"""
import socket, struct, sys, time
blob = sys.stdin.buffer.read()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.bind((sys.argv[1], 0))
off = n = 0
while off < len(blob):
    size = struct.unpack_from(">H", blob, off)[0]
    s.send(blob[off + 2:off + 2 + size])
    off += 2 + size
    n += 1
    if n % 16 == 0:
        time.sleep(0.002)
print(n)
"""


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check,
                          timeout=30)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def remove_stale_namespaces():
    """Deletes namespaces of earlier test processes that died without
    cleaning up (named NETNS_PREFIX<pid>x<n>, the pid no longer running)."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(NETNS_PREFIX):
            continue
        pid = name[len(NETNS_PREFIX):].split("x")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            _ip("netns", "del", name, check=False)


class VethPair:
    """A veth pair: `near` in this network namespace, `far` in a new one
    (`ns`). Both ends up, IPv6 off on both (no router solicitations or
    neighbour discovery: the only traffic is the test's). Deleted on exit,
    whatever happened."""

    _count = 0

    def __init__(self):
        VethPair._count += 1
        pid, n = os.getpid(), VethPair._count
        self.ns = "%s%dx%d" % (NETNS_PREFIX, pid, n)
        self.near = "mdv%dx%da" % (pid, n)
        self.far = "mdv%dx%db" % (pid, n)
        assert len(self.near) < 16, self.near

    def __enter__(self):
        remove_stale_namespaces()
        _ip("netns", "add", self.ns)
        try:
            self.create_link()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def create_link(self):
        """(Re-)creates the pair, moves the far end into the namespace and
        brings both ends up."""
        _ip("link", "add", self.near, "type", "veth", "peer", "name", self.far,
            "netns", self.ns)
        self._sysctl(None, "net.ipv6.conf.%s.disable_ipv6=1" % self.near)
        self._sysctl(self.ns, "net.ipv6.conf.%s.disable_ipv6=1" % self.far)
        _ip("link", "set", self.near, "up")
        _ip("-n", self.ns, "link", "set", self.far, "up")
        self.near_mac = self._mac(None, self.near)
        self.far_mac = self._mac(self.ns, self.far)

    def delete_link(self):
        _ip("link", "del", self.near)

    def close(self):
        _ip("link", "del", self.near, check=False)
        _ip("netns", "del", self.ns, check=False)

    @staticmethod
    def _sysctl(ns, setting):
        argv = ["sysctl", "-q", "-w", setting]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        subprocess.run(argv, check=False, capture_output=True, timeout=30)

    @staticmethod
    def _mac(ns, ifname):
        argv = (["-n", ns] if ns else []) + ["-br", "link", "show", "dev", ifname]
        return bytes.fromhex(_ip(*argv).stdout.split()[2].replace(":", ""))

    def in_ns(self, argv):
        """argv run as root inside the far end's namespace."""
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def ifindex(self):
        with open("/sys/class/net/%s/ifindex" % self.near) as f:
            return int(f.read())

    def flags(self):
        with open("/sys/class/net/%s/flags" % self.near) as f:
            return int(f.read(), 16)

    def promiscuous(self):
        return bool(self.flags() & IFF_PROMISC)

    def _send(self, argv_prefix, ifname, frames):
        blob = b"".join(struct.pack(">H", len(f)) + f for f in frames)
        out = subprocess.run(argv_prefix + ["/usr/bin/python3", "-c", _SENDER, ifname],
                             input=blob, capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr.decode(errors="replace")
        assert int(out.stdout) == len(frames), out.stdout

    def send_from_far(self, frames):
        """Sends from the far end: the frames arrive IN on `near`."""
        self._send(["ip", "netns", "exec", self.ns], self.far, frames)

    def send_from_near(self, frames):
        """Sends on `near` itself: the frames leave OUT on `near`."""
        self._send([], self.near, frames)


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


def tagged(packets, tag):
    """The packets carrying build_frame tag `tag`."""
    return [p for p in packets if (marker_of(p[3]) or (None,))[0] == tag]


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def wait_for_line(stream, needle, timeout=10):
    """Reads lines from a pipe until one contains needle (bytes); returns the
    lines read. Fails on EOF or timeout."""
    import select
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([stream], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError("no %r within %ss; got %r" % (needle, timeout, lines))


@contextlib.contextmanager
def kernel_rx_timestamps():
    """Holds a socket with SO_TIMESTAMPNS on, which makes the kernel stamp
    every received skb once, on entry to the stack (net_enable_timestamp);
    every packet socket then reports that same stamp instead of reading the
    clock itself when the packet reaches it."""
    so_timestampns = 35  # SO_TIMESTAMPNS_OLD (asm-generic/socket.h)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, so_timestampns, 1)
        time.sleep(0.2)  # the static key is switched on from a work queue
        yield
    finally:
        s.close()


def afpacket_config(interface, device="mydev1", access_text="", rate_pps=2000):
    """mydev0 (synthetic) plus `device` on a real interface, optionally with
    an `access { ... }` body."""
    text = 'device { name: "mydev0" synthetic { rate_pps: %d } }\n' % rate_pps
    text += 'device { name: "%s" afpacket { interface: "%s" }' % (device, interface)
    if access_text:
        text += " access { %s }" % access_text
    return text + " }\n"


def mac_text(mac):
    return ":".join("%02x" % b for b in mac)


# ---------------------------------------------------------------------------
# Faults and hostile clients (faults_e2e_test.py): tests/hostile_client runs
# one named attack (or a well-behaved role) per invocation, as any uid, and
# prints key=value lines.
#
#     with reference_reader(stage, d.socket) as ref:    # a clean session
#         out = run_hostile(stage, d.socket, "bpf-div-zero", uid=40002)
#     assert out[-1]["code"] == "INVALID_ARGUMENT"
#     assert ref.result["gaps"] == "0" and ref.result["stats_dropped"] == "0"

def as_uid(uid):
    """argv prefix running a command as a bare uid/gid (no passwd entry needed)."""
    if uid is None:
        return []
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups"]


def parse_kv(line):
    """'a=1 b="x y"' -> {'a': '1', 'b': 'x y'}."""
    import shlex
    out = {}
    for item in shlex.split(line):
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


def hostile_cmd(stage, socket_path, attack, uid=None, **flags):
    argv = as_uid(uid) + [stage.bin("hostile_client"), "--socket", socket_path,
                          "--attack", attack]
    for k, v in flags.items():
        argv += ["--" + k, str(v)]
    return argv


def run_hostile(stage, socket_path, attack, uid=None, timeout=60, **flags):
    """Runs one attack to the end; returns its key=value lines as dicts."""
    r = subprocess.run(hostile_cmd(stage, socket_path, attack, uid, **flags),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "hostile_client %s exit %d:\n%s%s" % (
        attack, r.returncode, r.stdout, r.stderr)
    return [parse_kv(l) for l in r.stdout.splitlines() if "=" in l]


class HostileProcess:
    """A long-running hostile_client role (reader, idle, owner): started,
    waited for until it prints ready=1, then stopped with SIGTERM; `result`
    merges every key=value line it printed."""

    def __init__(self, stage, socket_path, attack, uid=None, **flags):
        self.argv = hostile_cmd(stage, socket_path, attack, uid, **flags)
        self.proc = None
        self.ready = {}
        self.result = {}

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        self.ready = parse_kv(line)
        assert self.ready.get("ready") == "1", "%s did not start: %r %s" % (
            self.argv, line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        return self

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)
        for line in out.splitlines():
            self.result.update(parse_kv(line))
        self.stderr = err
        return self.result

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.returncode is None:
            self.stop()


def reference_reader(stage, socket_path, uid=40001, buffer=8 << 20):
    """A well-behaved session reading every packet and checking the
    synthetic sequence numbers (a context manager; see HostileProcess)."""
    return HostileProcess(stage, socket_path, "reader", uid=uid, buffer=buffer)


def assert_clean_reader(result, min_packets=1):
    """The reference session saw consecutive sequence numbers, no drop."""
    assert int(result.get("received", 0)) >= min_packets, result
    assert result["gaps"] == "0" and result["missing"] == "0", result
    assert result["backwards"] == "0" and result["noseq"] == "0", result
    assert result["corrupt"] == "0", result
    assert result["stats_dropped"] == "0" and result["ring_dropped"] == "0", result


def process_resources(pid):
    """(open fd count, VmRSS in KiB) of a process."""
    fds = len(os.listdir("/proc/%d/fd" % pid))
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return fds, rss


# ---------------------------------------------------------------------------
# Privileges: what the kernel says a running mydevd may do.

CAP_NET_RAW_MASK = 1 << 13


def process_status(pid, tid=None):
    """/proc/PID/status (or a thread's, /proc/PID/task/TID/status) as a dict."""
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%d/status" % (pid, tid)
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def assert_privileges(pid, user, caps):
    """Every thread of pid runs as `user` (real, effective, saved and fs
    ids; its groups only) with exactly `caps` permitted, effective and in the
    bounding set, and nothing inheritable or ambient."""
    import grp
    import pwd
    pw = pwd.getpwnam(user)
    groups = sorted({pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem})
    tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    assert tids
    for tid in tids:
        st = process_status(pid, tid)
        where = "mydevd thread %d (%s): %r" % (tid, st.get("Name"), st)
        assert st["Uid"].split() == [str(pw.pw_uid)] * 4, where
        assert st["Gid"].split() == [str(pw.pw_gid)] * 4, where
        assert sorted(int(g) for g in st["Groups"].split()) == groups, where
        for field in ("CapEff", "CapPrm", "CapBnd"):
            assert int(st[field], 16) == caps, "%s %s: %s" % (field, st[field], where)
        assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0, where
    return len(tids)
