"""netns.py — real interfaces: a veth pair whose far end sits in a network
namespace of the test's own, test frames (frames.build_frames) sent through
raw AF_PACKET sockets on either end, the interface's flags, and kernel
receive timestamps.

    with VethPair() as veth:                       # near end in this netns
        frames = build_frames(b"BYTES", 300, veth.far_mac)
        veth.send_from_far(frames)                 # arrives IN on veth.near
        veth.send_from_near(frames)                # leaves OUT on veth.near
"""
import contextlib
import os
import socket
import struct
import subprocess
import time

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
