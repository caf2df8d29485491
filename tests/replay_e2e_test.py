"""End-to-end on replay devices: mydevd plays pcap files the test writes
(root-only files: mydevd opens them as root, before it switches to its
user), Debian's tcpdump captures them unprivileged (as `nobody`) through
mydev-run, and the captured frames must be the file's frames, in file order
from wherever the loop was, at the recorded spacing scaled by `speed`.
Also: a DLT_RAW file makes a RAW device, and with only synthetic and replay
devices mydevd keeps no capability at all."""
import os
import pwd
import struct
import time

import pytest

from e2e.daemon import DAEMON_USER, ensure_daemon_user
from e2e.frames import build_frames
from e2e.pcap_files import pcap_linktype, read_pcap
from e2e.proc_status import assert_privileges
from e2e.stage import Stage

LINKTYPE_ETHERNET, LINKTYPE_RAW = 1, 101
FRAMES = 60
GAPS_US = (10_000, 20_000, 30_000)  # gap before frame k+1: GAPS_US[k % 3]; 20 ms on average
SRC_MAC = bytes.fromhex("020000e2e001")


def write_pcap(path, linktype, frames, gaps_us=GAPS_US):
    """A microsecond pcap file, frame k at 1700000000 s + the gaps before it,
    readable by root only."""
    t = 1_700_000_000 * 1_000_000
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for k, frame in enumerate(frames):
            if k:
                t += gaps_us[(k - 1) % len(gaps_us)]
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            f.write(frame)
    os.chmod(path, 0o600)


def file_frames():
    """60 Ethernet frames: IPv4, IPv6 and 802.1Q, 60..1514 bytes, each unique."""
    return build_frames(b"RPLAY", FRAMES, SRC_MAC)


def raw_ip_frames():
    """The IPv4 ones among file_frames(), without their Ethernet header."""
    return [f[14:] for f in file_frames() if f[12:14] == b"\x08\x00"]


@pytest.fixture(scope="module")
def stage():
    with Stage() as s:
        eth = os.path.join(s.root, "replay-eth.pcap")
        raw = os.path.join(s.root, "replay-raw.pcap")
        write_pcap(eth, LINKTYPE_ETHERNET, file_frames())
        write_pcap(raw, LINKTYPE_RAW, raw_ip_frames(), gaps_us=(20_000,))
        s.eth_file, s.raw_file = eth, raw
        yield s


def replay_device(name, path, speed, loop=True):
    return 'device { name: "%s" replay { path: "%s" speed: %s loop: %s } }\n' % (
        name, path, speed, "true" if loop else "false")


@pytest.fixture(scope="module")
def paced(stage):
    """mydev1 at the recorded pace, mydev2 twice as fast, mydev3 a DLT_RAW
    file; all looping."""
    config = (replay_device("mydev1", stage.eth_file, "1.0") +
              replay_device("mydev2", stage.eth_file, "2.0") +
              replay_device("mydev3", stage.raw_file, "1.0"))
    with stage.daemon(config=config) as d:
        yield d
        d.assert_alive()


def capture(stage, daemon, device, count, name):
    """tcpdump -c count on device as nobody (nanosecond timestamps); returns
    (packets, seconds the whole run took)."""
    f = stage.out(name)
    t0 = time.monotonic()
    r = stage.run_as_nobody(["tcpdump", "-i", device, "-c", str(count), "-B", "16384",
                             "--time-stamp-precision=nano", "-w", f], daemon.socket)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr + daemon.log_text()
    nano, packets = read_pcap(f)
    assert nano, "asked for nanosecond timestamps"
    assert len(packets) == count, r.stderr
    return packets, elapsed


def assert_file_order(got, frames):
    """got (captured records) is frames, in order, from wherever the loop was
    when the capture started, wrapping around; returns the first index."""
    datas = [p[3] for p in got]
    assert all(p[1] == p[2] == len(p[3]) for p in got), "whole frames, original lengths"
    assert datas[0] in frames, "the first captured frame is not in the file"
    first = frames.index(datas[0])
    expected = [frames[(first + i) % len(frames)] for i in range(len(datas))]
    mismatch = [i for i in range(len(datas)) if datas[i] != expected[i]]
    assert not mismatch, "frame %d of the capture is not the file's next frame" % mismatch[0]
    return first


def expected_gap_ns(k, gaps_us, n_frames, speed):
    """The replay's spacing between file frame k and the one after it: the
    recorded gap / speed; a new pass starts at the time the last one ended."""
    if k == n_frames - 1:
        return 0
    return gaps_us[k % len(gaps_us)] * 1000 / speed


def check_paced(stage, daemon, device, speed):
    frames = file_frames()
    count = FRAMES + 30  # crosses the end of the file once
    got, elapsed = capture(stage, daemon, device, count, "%s.pcap" % device)
    first = assert_file_order(got, frames)
    total_ns = 0
    for i in range(count - 1):
        k = (first + i) % FRAMES
        want = expected_gap_ns(k, GAPS_US, FRAMES, speed)
        gap = got[i + 1][0] - got[i][0]
        total_ns += want
        assert abs(gap - want) <= 50_000, (
            "frames %d->%d: %.3f ms apart, the file (speed %s) says %.3f ms" %
            (k, (k + 1) % FRAMES, gap / 1e6, speed, want / 1e6))
    # The frames really were paced, not only stamped: the capture took as
    # long as the spacing adds up to (plus start-up).
    assert total_ns / 1e9 * 0.9 <= elapsed <= total_ns / 1e9 + 3.0, (elapsed, total_ns / 1e9)
    return total_ns


def test_recorded_pace(stage, paced):
    """speed 1.0: the file's frames in order (wrapping), 10/20/30 ms apart."""
    total = check_paced(stage, paced, "mydev1", 1.0)
    assert 1.5e9 < total < 1.9e9


def test_twice_as_fast(stage, paced):
    """speed 2.0: the same frames, every gap halved."""
    total = check_paced(stage, paced, "mydev2", 2.0)
    assert 0.75e9 < total < 0.95e9


def test_raw_ip_file_makes_a_raw_device(stage, paced):
    """A DLT_RAW file: tcpdump -L lists RAW only, and the capture file has
    link type RAW with the file's IP packets, in order."""
    r = stage.run_as_nobody(["tcpdump", "-L", "-i", "mydev3"], paced.socket)
    assert r.returncode == 0, r.stderr
    listing = r.stdout + r.stderr  # Debian's tcpdump 4.99 prints the list on stderr
    types = [l.split()[0] for l in listing.splitlines() if l.startswith((" ", "\t"))]
    assert types == ["RAW"], listing
    f = stage.out("raw.pcap")
    r = stage.run_as_nobody(["tcpdump", "-i", "mydev3", "-c", "8", "-w", f], paced.socket)
    assert r.returncode == 0, r.stderr
    assert pcap_linktype(f) == LINKTYPE_RAW
    assert_file_order(read_pcap(f)[1], raw_ip_frames())


def test_as_fast_as_possible(stage):
    """speed 0, looping: still exactly the file's frames in order; the ring
    (16 MiB) holds the first 150 frames of the session, so none is lost."""
    with stage.daemon(config=replay_device("mydev1", stage.eth_file, "0")) as d:
        got, elapsed = capture(stage, d, "mydev1", 150, "fast.pcap")
        assert_file_order(got, file_frames())
        assert all(got[i + 1][0] >= got[i][0] for i in range(len(got) - 1))
        assert elapsed < 5.0
    assert d.proc.returncode == 0, d.log_text()


def test_without_afpacket_devices_no_capability_is_kept(stage):
    """Synthetic and replay devices only: every thread of mydevd runs as
    mydevd with no capability at all, even in the bounding set; SIGTERM
    still removes the sockets, which the user created in the directory
    mydevd made and gave it."""
    config = ('device { name: "mydev0" synthetic { rate_pps: 1000 } }\n' +
              replay_device("mydev1", stage.eth_file, "1.0"))
    with stage.daemon(config=config) as d:
        assert assert_privileges(d.proc.pid, DAEMON_USER, 0) > 1
        uid = pwd.getpwnam(DAEMON_USER).pw_uid
        for path in (os.path.dirname(d.socket), d.socket, d.socket + ".fds"):
            assert os.stat(path).st_uid == uid, path
        capture(stage, d, "mydev1", 5, "nocaps.pcap")  # the root-only file plays
    assert d.proc.returncode == 0, d.log_text()
    assert not os.path.exists(d.socket) and not os.path.exists(d.socket + ".fds"), d.log_text()


def test_root_without_user_flag_switches_to_mydevd(stage):
    """No --user: as root, mydevd switches to the user mydevd when it exists."""
    ensure_daemon_user()
    d = stage.daemon(rate_pps=1000)
    d.user = None
    with d:
        assert_privileges(d.proc.pid, DAEMON_USER, 0)
    assert d.proc.returncode == 0, d.log_text()
