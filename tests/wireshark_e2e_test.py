"""End-to-end: Debian's Wireshark capture tools — dumpcap, and tshark (which
runs dumpcap) — run unprivileged (as `nobody`) through mydev-run, capturing
from mydevd's synthetic mydev0. HOME points at a scratch directory: nobody's
own (/nonexistent) cannot hold Wireshark's profile."""
import glob
import os
import subprocess

import pytest

from e2e.frames import seq_of
from e2e.tcpdump import system_tcpdump_filter


@pytest.fixture(scope="module")
def daemon(stage):
    with stage.daemon(rate_pps=2000) as d:
        yield d
        d.assert_alive()


@pytest.fixture(scope="module")
def home(stage):
    h = os.path.join(stage.root, "home")
    os.makedirs(h, mode=0o777)
    os.chmod(h, 0o777)
    return h


def wireshark_tool(stage, daemon, home, argv, timeout=60):
    """Runs dumpcap/tshark ARGV as nobody through mydev-run."""
    return stage.run_as_nobody(["env", "HOME=" + home] + argv, daemon.socket, timeout=timeout)


def packets_of(path):
    """Records of a pcap or pcapng file, rewritten as pcap by Debian's own
    tcpdump (system libpcap) so e2e.pcap_files.read_pcap can read them."""
    return system_tcpdump_filter(path, path + ".pcap")


def test_dumpcap_lists_mydev0(stage, daemon, home):
    r = wireshark_tool(stage, daemon, home, ["dumpcap", "-D"])
    assert r.returncode == 0, r.stderr
    names = [l.split(".", 1)[1].split()[0] for l in r.stdout.splitlines() if "." in l]
    assert "mydev0" in names, r.stdout


def test_dumpcap_filter_and_count(stage, daemon, home):
    f = stage.out("dumpcap-udp.pcapng")
    r = wireshark_tool(stage, daemon, home, ["dumpcap", "-q", "-i", "mydev0", "-f", "udp", "-c",
                                             "50", "-w", f])
    assert r.returncode == 0, r.stderr
    pkts = packets_of(f)
    assert len(pkts) == 50
    udp_only = system_tcpdump_filter(f, f + ".udp", "udp")
    assert [p[3] for p in udp_only] == [p[3] for p in pkts], "all UDP"
    seqs = [seq_of(p[3]) for p in pkts]
    assert None not in seqs and seqs == sorted(seqs), "synthetic frames, in order"
    t = subprocess.run(["tshark", "-r", f, "-Y", "udp", "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOME=home))
    assert t.returncode == 0, t.stderr
    assert t.stdout.split() == [str(i) for i in range(1, 51)], "tshark reads 50 UDP frames"


def test_dumpcap_ring_buffer(stage, daemon, home):
    ring_dir = stage.out("ring")
    os.makedirs(ring_dir, mode=0o777)
    os.chmod(ring_dir, 0o777)
    r = wireshark_tool(stage, daemon, home, ["dumpcap", "-q", "-i", "mydev0", "-b",
                                             "packets:100", "-c", "450", "-w",
                                             os.path.join(ring_dir, "ring.pcapng")])
    assert r.returncode == 0, r.stderr
    files = sorted(glob.glob(os.path.join(ring_dir, "ring_*.pcapng")))
    counts = [len(packets_of(f)) for f in files]
    assert counts == [100, 100, 100, 100, 50], (files, counts)
    seqs = [seq_of(p[3]) for f in files for p in packets_of(f)]
    assert seqs == list(range(seqs[0], seqs[0] + 450)), "no packet lost between files"


def test_tshark_live_capture(stage, daemon, home):
    r = wireshark_tool(stage, daemon, home, ["tshark", "-i", "mydev0", "-c", "20", "-n"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 20, r.stdout
    assert [int(l.split()[0]) for l in lines] == list(range(1, 21)), "one summary line each"
    assert "20 packets captured" in r.stderr, r.stderr
