"""End-to-end: Debian's tcpdump, run unprivileged (as `nobody`) through
mydev-run and the module-enabled libpcap, capturing from mydevd's synthetic
mydev0 — several sessions at once, each with its own filter and options."""
import os
import signal
import subprocess
import time

import pytest

from e2e.frames import seq_of
from e2e.pcap_files import read_pcap
from e2e.run_as import signal_child
from e2e.tcpdump import system_tcpdump_filter, wait_listening


@pytest.fixture(scope="module")
def daemon(stage):
    with stage.daemon(rate_pps=2000) as d:
        yield d


def test_concurrent_sessions_get_exactly_their_filtered_packets(stage, daemon):
    ref_file = stage.out("all.pcap")
    ref = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-w", ref_file, "-c", "6000"],
                                daemon.socket)
    wait_listening(ref)
    filters = {"udp": 200, "tcp and not ip6": 150, "ip6 or arp": 100, "icmp or icmp6": 40}
    procs = {}
    for i, (expr, count) in enumerate(filters.items()):
        f = stage.out("f%d.pcap" % i)
        procs[expr] = (f, count, stage.popen_as_nobody(
            ["tcpdump", "-i", "mydev0", "-w", f, "-c", str(count), expr], daemon.socket))
    for expr, (f, count, p) in procs.items():
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, (expr, err)
        assert b"%d packets captured" % count in err, err
    signal_child(ref, signal.SIGINT)
    _, ref_err = ref.communicate(timeout=30)
    assert ref.returncode == 0, ref_err
    assert b"0 packets dropped by kernel" in ref_err, ref_err

    _, all_pkts = read_pcap(ref_file)
    seqs = [seq_of(p[3]) for p in all_pkts]
    assert None not in seqs, "every synthetic frame carries a sequence number"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the unfiltered session lost packets"

    for i, (expr, (f, count, _)) in enumerate(procs.items()):
        _, got = read_pcap(f)
        assert len(got) == count
        got_seqs = [seq_of(p[3]) for p in got]
        lo, hi = got_seqs[0], got_seqs[-1]
        assert seqs[0] <= lo and hi <= seqs[-1], "reference must cover %s" % expr
        expected = [p for p in system_tcpdump_filter(ref_file, stage.out("ref%d.pcap" % i), expr)
                    if lo <= seq_of(p[3]) <= hi]
        assert [seq_of(p[3]) for p in expected] == got_seqs, expr
        assert [p[3] for p in expected] == [p[3] for p in got], "same bytes for " + expr


def test_snaplen_truncates(stage, daemon):
    f = stage.out("snap.pcap")
    r = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-s", "96", "-c", "200", "-w", f],
                            daemon.socket)
    assert r.returncode == 0, r.stderr
    _, pkts = read_pcap(f)
    assert len(pkts) == 200
    assert all(p[1] <= 96 for p in pkts)
    assert any(p[2] > 96 for p in pkts), "some frames are longer than the snaplen"
    assert all(p[1] == min(96, p[2]) for p in pkts)


def test_count_exact(stage, daemon):
    f = stage.out("count.pcap")
    r = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "37", "-w", f], daemon.socket)
    assert r.returncode == 0, r.stderr
    assert len(read_pcap(f)[1]) == 37


def test_nanosecond_timestamps(stage, daemon):
    f = stage.out("nano.pcap")
    r = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "--time-stamp-precision=nano", "-c",
                             "100", "-w", f], daemon.socket)
    assert r.returncode == 0, r.stderr
    nano, pkts = read_pcap(f)
    assert nano, "the file says nanosecond precision"
    assert any(p[0] % 1000 for p in pkts), "sub-microsecond digits present"
    now = time.time() * 1e9
    assert all(abs(p[0] - now) < 60e9 for p in pkts), "timestamps are wall-clock time"
    assert [p[0] for p in pkts] == sorted(p[0] for p in pkts)


def test_buffer_size_sets_ring_size(stage, daemon):
    p = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-B", "2048", "-w", "/dev/null"],
                              daemon.socket)
    try:
        wait_listening(p)
        _, sessions = daemon.stats()
        mine = [s for s in sessions if s["uid"] == "65534" and s["ring"] == str(2048 * 1024)]
        assert mine, sessions
    finally:
        signal_child(p, signal.SIGINT)
        p.communicate(timeout=10)


def test_absurd_buffer_size_refused(stage, daemon):
    r = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-B", "200000000", "-c", "1"],
                            daemon.socket)
    assert r.returncode != 0
    assert "buffer" in r.stderr.lower(), r.stderr


def test_list_devices(stage, daemon):
    r = stage.run_as_nobody(["tcpdump", "-D"], daemon.socket)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    names = [l.split(".", 1)[1].split()[0] for l in lines if "." in l]
    assert "mydev0" in names, r.stdout
    assert names[0] != "mydev0", "a mydev device must not become tcpdump's default"


def _device_lines(stdout):
    """`tcpdump -D` output -> {device name: the rest of its line}."""
    devs = {}
    for line in stdout.splitlines():
        if "." not in line:
            continue
        rest = line.split(".", 1)[1]
        devs[rest.split()[0]] = rest
    return devs


def test_list_devices_is_debians_plus_mydev(stage, daemon):
    """Drop-in parity: through mydev-run, `tcpdump -D` lists every device
    Debian's own libpcap lists (bluetooth-monitor, nflog, nfqueue, dbus-*,
    usbmon*, the interfaces), with the same description and flags, plus the
    daemon's mydev devices and nothing else. Debian's listing is taken before
    and after mydev's, so that network interfaces other programs on the machine
    add or remove meanwhile (veth pairs of benchmarks) are not held against it."""
    stock_cmd = ["runuser", "-u", "nobody", "--", "tcpdump", "-D"]
    before = subprocess.run(stock_cmd, capture_output=True, text=True, timeout=30)
    r = stage.run_as_nobody(["tcpdump", "-D"], daemon.socket)
    after = subprocess.run(stock_cmd, capture_output=True, text=True, timeout=30)
    for run in (before, r, after):
        assert run.returncode == 0, run.stderr
    stock1, mine, stock2 = (_device_lines(x.stdout) for x in (before, r, after))
    steady = {n: line for n, line in stock1.items() if stock2.get(n) == line}
    for name, line in steady.items():
        assert mine.get(name) == line, "Debian's libpcap lists %r, mydev's %r\n%s\n%s" % (
            line, mine.get(name), before.stdout, r.stdout)
    extra = set(mine) - set(stock1) - set(stock2)
    assert {n for n in extra if not n.startswith("mydev")} == set(), r.stdout
    assert "mydev0" in extra, r.stdout
    # The same capture sources (bluetooth-monitor has no hardware behind it).
    for name in ("bluetooth-monitor", "nflog", "nfqueue", "dbus-system", "dbus-session"):
        assert (name in stock1) == (name in mine), (name, before.stdout, r.stdout)


def test_immediate_mode_delivers_at_once(stage):
    with stage.daemon(rate_pps=20) as slow:
        p = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "--immediate-mode", "-l", "-n",
                                   "-tt", "-c", "8"], slow.socket)
        lat = []
        for line in p.stdout:
            ts = float(line.split()[0])
            lat.append(time.time() - ts)
        p.communicate(timeout=10)
        assert p.returncode == 0
        assert len(lat) == 8
        lat.sort()
        assert lat[len(lat) // 2] < 0.2, "median delivery latency %.3fs" % lat[len(lat) // 2]


def test_killed_client_session_freed(stage, daemon):
    p = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-w", "/dev/null"], daemon.socket)
    wait_listening(p)
    before = len(daemon.stats()[1])
    assert before >= 1
    signal_child(p, signal.SIGKILL)
    p.communicate(timeout=10)
    deadline = time.time() + 1.0
    while time.time() < deadline and len(daemon.stats()[1]) >= before:
        time.sleep(0.02)
    assert len(daemon.stats()[1]) == before - 1, "session freed within 1 s of kill -9"


def test_pcap_api_probe(stage, daemon):
    r = stage.run_as_nobody([stage.bin("pcap_api_probe"), "mydev0"], daemon.socket, timeout=60)
    failed = [l for l in r.stdout.splitlines() if l.startswith("check ") and " FAIL " in l]
    assert r.returncode == 0 and not failed, r.stdout + r.stderr
    assert "probe done: 0 failed" in r.stdout


def test_daemon_down(stage):
    missing = os.path.join(stage.root, "no-such-dir", "mydevd.sock")
    t0 = time.time()
    r = stage.run_as_nobody(["tcpdump", "-D"], missing)
    assert r.returncode == 0, r.stderr
    assert time.time() - t0 < 2.0
    assert "mydev0" not in r.stdout
    r = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "1"], missing)
    assert r.returncode != 0
    assert missing in r.stderr and "mydevd" in r.stderr, r.stderr


def test_no_config_serves_mydev0_at_1000_pps(stage):
    """The default device makes 1000 packets a second while a session is
    open, and none while nobody listens (its generator pauses)."""
    with stage.daemon(config="") as d:
        time.sleep(0.3)
        idle = int(d.stats()[0]["mydev0"]["packets"])
        f = stage.out("noconf.pcap")
        p = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-c", "1500", "-w", f], d.socket,
                                  text=True)
        try:
            deadline = time.time() + 10
            while int(d.stats()[0]["mydev0"]["packets"]) == idle and time.time() < deadline:
                time.sleep(0.05)
            first = int(d.stats()[0]["mydev0"]["packets"])
            time.sleep(1.0)
            rate = int(d.stats()[0]["mydev0"]["packets"]) - first
            _, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert idle == 0, "%d packets made with no session open" % idle
        assert 800 <= rate <= 1200, "default synthetic rate %d pps" % rate
        assert p.returncode == 0, err
        _, pkts = read_pcap(f)
        sizes = [p[2] for p in pkts]
        assert min(sizes) >= 60 and max(sizes) <= 1514 and len(set(sizes)) > 50
        ethertypes = {p[3][12:14] for p in pkts}
        assert {b"\x08\x00", b"\x86\xdd", b"\x08\x06"} <= ethertypes, "IPv4, IPv6 and ARP"
