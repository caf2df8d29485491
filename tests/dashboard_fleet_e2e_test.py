"""End-to-end: one mydev-dashboard aggregating three mydevd "hosts" over TLS.

Each host is a network namespace of the test's own on a Linux bridge (a veth
pair each; the bridge, in this namespace, holds the dashboard's address):
its own mydevd with a synthetic device at a rate of its own, its own TLS
stats_listener on the host's address (a server certificate with that IP in
its subjectAltName), and a tcpdump as `nobody` on its local socket. The
dashboard (as `nobody`, in this namespace) reads a --targets_file with
per-target settings: host1 and host2 authenticate with a client certificate,
host3 with a bearer token.

Covered: /metrics and the page (headless Chromium, Playwright) show all
three up with their own rates; kill -9 one mydevd: only it goes down
(mydev_target_up 0, its section marked), the other two keep updating; its
restart brings it back. Namespaces and the bridge are removed whatever
happens."""
import os
import pwd
import secrets
import shutil
import signal
import statistics
import subprocess
import time

import pytest

from e2e.browser import Browser, missing_reason, number
from e2e.daemon import DAEMON_USER, Daemon, ensure_daemon_user
from e2e.dashboard import NOBODY, Dashboard, give_to, target_view
from e2e.netns import VethPair, remove_stale_namespaces
from e2e.pki import Pki
from e2e.run_as import signal_child
from e2e.tcpdump import wait_listening
from e2e.waiting import wait_until

PORT = 9470
HOSTS = {"host1": 1000, "host2": 2000, "host3": 3000}  # name: the device's packets/s
DEVICE = "mydev0"
BRIDGE_PREFIX = "mdvbr"
# The dashboard's WatchStats interval: rates from two /metrics reads T apart
# are off by at most one interval's packets over T.
INTERVAL_ARGS = ["--interval", "250ms"]
OUT_DIR = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or "/tmp"


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check,
                          timeout=30)


def remove_stale_bridges():
    """Bridges of earlier test processes that died without cleaning up
    (BRIDGE_PREFIX<pid>, the pid no longer running)."""
    for line in ip("-br", "link", "show", "type", "bridge", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        pid = name[len(BRIDGE_PREFIX):]
        if name.startswith(BRIDGE_PREFIX) and pid.isdigit() and \
                not os.path.exists("/proc/%s" % pid):
            ip("link", "del", name, check=False)


class Fleet:
    """The bridge (BRIDGE_IP, in this namespace) and a VethPair a host, the
    near ends enslaved to the bridge, the far ends holding the hosts' IPs."""

    def __init__(self):
        self.bridge = "%s%d" % (BRIDGE_PREFIX, os.getpid())
        self.prefix = "198.19.%d." % (os.getpid() % 250 + 1)
        self.bridge_ip = self.prefix + "1"
        self.veths = {}
        self.ips = {}

    def __enter__(self):
        remove_stale_bridges()
        remove_stale_namespaces()
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            subprocess.run(["sysctl", "-q", "-w",
                            "net.ipv6.conf.%s.disable_ipv6=1" % self.bridge],
                           capture_output=True, timeout=30)
            ip("addr", "add", self.bridge_ip + "/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for i, name in enumerate(HOSTS):
                v = VethPair().__enter__()
                self.veths[name] = v
                host_ip = self.prefix + str(i + 2)
                self.ips[name] = host_ip
                ip("link", "set", v.near, "master", self.bridge)
                ip("-n", v.ns, "addr", "add", host_ip + "/24", "dev", v.far)
                ip("-n", v.ns, "link", "set", "lo", "up")
            for name, host_ip in self.ips.items():
                assert wait_until(lambda: self.ping(host_ip), 10), "no route to %s" % name
        except BaseException:
            self.close()
            raise
        return self

    def ping(self, host_ip):
        return subprocess.run(["ping", "-c", "1", "-W", "1", host_ip], capture_output=True,
                              timeout=10).returncode == 0 if shutil.which("ping") else True

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for v in self.veths.values():
            v.close()
        ip("link", "del", self.bridge, check=False)


class Host:
    """One mydevd in its namespace: device mydev0 at rate_pps, the TLS
    stats_listener on HOST_IP:PORT, a tokens file (host3's dashboard token)."""

    def __init__(self, stage, fleet, pki, ca, name, rate_pps):
        self.name, self.rate = name, rate_pps
        self.ip = fleet.ips[name]
        self.address = "%s:%d" % (self.ip, PORT)
        server = pki.cert("server-" + name, ca, ips=[self.ip])
        tls_dir = os.path.join(stage.root, "tls-" + name)
        os.makedirs(tls_dir, mode=0o755)
        ensure_daemon_user()
        pw = pwd.getpwnam(DAEMON_USER)
        self.files = {}
        for key, src in (("cert_file", server.crt), ("key_file", server.key),
                         ("client_ca_file", ca.crt)):
            dst = os.path.join(tls_dir, os.path.basename(src))
            shutil.copy(src, dst)
            os.chown(dst, pw.pw_uid, pw.pw_gid)
            os.chmod(dst, 0o600)
            self.files[key] = dst
        self.token = secrets.token_hex(16)
        self.tokens_file = os.path.join(tls_dir, "stats-tokens")
        with open(self.tokens_file, "w") as f:
            f.write("%s sessions dashboard\n" % self.token)
        os.chown(self.tokens_file, pw.pw_uid, pw.pw_gid)
        os.chmod(self.tokens_file, 0o600)
        config = ('device { name: "%s" synthetic { rate_pps: %d } }\n' % (DEVICE, rate_pps) +
                  "stats_listener {\n"
                  '  address: "%s"\n' % self.address +
                  '  tls { cert_file: "%s" key_file: "%s" client_ca_file: "%s" }\n' % (
                      self.files["cert_file"], self.files["key_file"],
                      self.files["client_ca_file"]) +
                  '  tokens_file: "%s"\n' % self.tokens_file +
                  "  reload_interval_s: 1\n"
                  "}\n")
        self.d = Daemon(stage, config)
        self.d.LAUNCHER = fleet.veths[name].in_ns([])
        self.capture = None

    def start(self, stage):
        self.d.start()
        self.capture = stage.popen_as_nobody(["tcpdump", "-i", DEVICE, "-w", "/dev/null"],
                                             self.d.socket)
        wait_listening(self.capture)

    def kill(self):
        """kill -9 mydevd (its tcpdump exits: mydevd went away)."""
        self.d.proc.kill()
        self.d.proc.wait()
        self.d.stop()
        self.stop_capture()

    def stop_capture(self):
        if self.capture is None:
            return
        if self.capture.poll() is None:
            try:
                signal_child(self.capture, signal.SIGINT)
            except AssertionError:
                pass
        try:
            self.capture.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.capture.kill()
            self.capture.communicate()
        self.capture = None

    def stop(self):
        self.stop_capture()
        try:
            self.d.stop()
        finally:
            out = os.path.join(OUT_DIR, "mydevd-%s.log" % self.name)
            if os.path.exists(self.d.log_path):
                shutil.copy(self.d.log_path, out)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def fleet():
    with Fleet() as f:
        yield f


@pytest.fixture(scope="module")
def pki(stage):
    return Pki(os.path.join(stage.root, "pki"))


@pytest.fixture(scope="module")
def ca(pki):
    """The fleet's CA: it signs the hosts' server certificates and the
    dashboard's client certificate."""
    return pki.ca("fleet-ca")


@pytest.fixture(scope="module")
def hosts(stage, fleet, pki, ca):
    hs = {}
    try:
        for name, rate in HOSTS.items():
            hs[name] = Host(stage, fleet, pki, ca, name, rate)
            hs[name].start(stage)
        yield hs
    finally:
        for h in hs.values():
            h.stop()


@pytest.fixture(scope="module")
def dash(stage, hosts, pki, ca):
    """The dashboard, as nobody, with a targets file: host1 and host2 by
    client certificate, host3 by token; every file the dashboard reads is
    nobody's."""
    client = pki.cert("dashboard", ca)
    d = os.path.join(stage.root, "dashboard-creds")
    os.makedirs(d, mode=0o755)
    files = {}
    for key, src in (("ca", ca.crt), ("crt", client.crt), ("key", client.key)):
        files[key] = os.path.join(d, os.path.basename(src))
        shutil.copy(src, files[key])
        give_to(files[key], NOBODY, 0o600 if key == "key" else 0o644)
    files["token"] = os.path.join(d, "host3.token")
    with open(files["token"], "w") as f:
        f.write(hosts["host3"].token + "\n")
    give_to(files["token"], NOBODY, 0o600)
    text = "# three hosts\n"
    for name in ("host1", "host2"):
        text += ('target { address: "%s" name: "%s" ca_file: "%s" cert_file: "%s" '
                 'key_file: "%s" }\n' % (hosts[name].address, name, files["ca"], files["crt"],
                                         files["key"]))
    text += ('target { address: "%s" name: "host3" ca_file: "%s" token_file: "%s" }\n' % (
        hosts["host3"].address, files["ca"], files["token"]))
    targets = os.path.join(d, "targets.textproto")
    with open(targets, "w") as f:
        f.write(text)
    give_to(targets, NOBODY, 0o644)
    with Dashboard(stage, ["--targets_file", targets, "--session_metrics"] + INTERVAL_ARGS,
                   name="dashboard-fleet") as dash:
        yield dash


@pytest.fixture(scope="module")
def browser(stage):
    why = missing_reason()
    if why:
        pytest.fail("the browser cannot run: " + why)
    with Browser(log_path=os.path.join(stage.root, "browser.log")) as b:
        yield b


# ------------------------------------------------------------------ helpers


def all_up(m, names=HOSTS):
    return all(m.value("mydev_target_up", target=n) == 1 for n in names)


def counters(m):
    return {n: m.value("mydev_device_packets_total", target=n, device=DEVICE) for n in HOSTS}


def metric_rates(dash, seconds=4.0):
    """Packets/s of each host's device from two /metrics reads `seconds`
    apart (None for a host missing from either)."""
    t0, a = time.time(), counters(dash.metrics())
    time.sleep(seconds)
    t1, b = time.time(), counters(dash.metrics())
    return {n: (b[n] - a[n]) / (t1 - t0) if a[n] is not None and b[n] is not None else None
            for n in HOSTS}


def page_state(snap, name):
    dev = snap.device(name, DEVICE)
    return snap.up(name), number(dev["pps"]) if dev else None


# ------------------------------------------------------------------ tests


def test_all_three_up_with_their_rates(hosts, dash, browser):
    ok, m = dash.wait_metrics(lambda x: all_up(x) and all(
        (v or 0) > 0 for v in counters(x).values()), timeout=20)
    assert ok, "not all three hosts up in /metrics:\n%r\n%s" % (m, dash.log_text()[-3000:])
    for name, h in hosts.items():
        info = m.get("mydev_target_info", target=name)
        assert len(info) == 1 and info[0][0]["address"] == h.address, info
        assert m.value("mydev_device_sessions", target=name, device=DEVICE) == 1, m
        # The tcpdump's session, its owner seen through TLS (scope sessions).
        sess = m.get("mydev_session_packets_total", target=name)
        assert len(sess) == 1 and sess[0][0]["uid"] == str(NOBODY), sess
    rates = metric_rates(dash)
    for name, rate in HOSTS.items():
        # Two reads of counters updated every interval (250 ms): off by one
        # interval's packets over the 4 s between them at most (6 %), plus
        # the reads' own timing.
        assert abs(rates[name] - rate) <= 0.15 * rate, (name, rates)
    state = dash.state()
    for name in HOSTS:
        t = target_view(state, name)
        assert t and t.get("up") is True and t.get("scope") == "sessions", t

    assert browser.open(dash.url + "/") == 200

    def page_ok(s):
        return all(page_state(s, n)[0] and (page_state(s, n)[1] or 0) > 0 for n in HOSTS)

    ok, snap = browser.wait_snapshot(page_ok, timeout=20)
    assert ok, "the page never showed all three up with rates:\n%r" % snap
    # Each shown rate is one 250 ms interval's count: the median of nine.
    seen, snap = browser.sample(lambda s: {n: page_state(s, n)[1] or 0 for n in HOSTS}, 9)
    for name, rate in HOSTS.items():
        pps = statistics.median(v[name] for v in seen)
        assert 0.8 * rate <= pps <= 1.2 * rate, (name, seen, snap)
        assert len(snap.sessions(name)) == 1, snap
    browser.screenshot(os.path.join(OUT_DIR, "fleet.png"))
    print("rates from /metrics: %s" % {n: round(r) for n, r in rates.items()})


def test_one_host_killed_goes_down_alone_and_comes_back(stage, hosts, dash, browser):
    victim = hosts["host2"]
    others = ["host1", "host3"]
    ok, _ = dash.wait_metrics(all_up, timeout=20)
    assert ok
    snap0 = browser.snapshot()
    victim.kill()
    t0 = time.time()
    ok, m = dash.wait_metrics(lambda x: x.value("mydev_target_up", target="host2") == 0,
                              timeout=15)
    down_s = time.time() - t0
    assert ok, "host2 never went down in /metrics:\n%r" % m
    assert all_up(m, others), m
    # The page marks it; the others keep updating.
    ok, snap = browser.wait_snapshot(lambda s: s.up("host2") is False, timeout=15)
    assert ok, "the page never marked host2 down:\n%r" % snap
    assert "down" in (snap.target("host2")["status"] or "").lower(), snap.target("host2")
    assert snap.up("host1") and snap.up("host3"), snap
    assert snap.connection == "live", snap
    rates = metric_rates(dash, 3.0)
    for name in others:
        assert abs(rates[name] - HOSTS[name]) <= 0.2 * HOSTS[name], (name, rates)
    ok, snap = browser.wait_snapshot(
        lambda s: s.version > snap0.version + 2 and
        all((page_state(s, n)[1] or 0) > 0.8 * HOSTS[n] for n in others), timeout=10)
    assert ok, snap
    t = target_view(dash.state(), "host2")
    assert not t.get("up", False) and t.get("down_reason"), t
    browser.screenshot(os.path.join(OUT_DIR, "fleet-host2-down.png"))

    # Back: mydevd restarted in its namespace.
    victim.start(stage)
    t0 = time.time()
    ok, m = dash.wait_metrics(lambda x: all_up(x), timeout=30)
    up_s = time.time() - t0
    assert ok, "host2 never came back in /metrics:\n%r" % m
    ok, snap = browser.wait_snapshot(
        lambda s: all(page_state(s, n)[0] for n in HOSTS) and
        (page_state(s, "host2")[1] or 0) > 0, timeout=15)
    assert ok, "the page never showed host2 up again:\n%r" % snap
    rates = metric_rates(dash, 3.0)
    for name, rate in HOSTS.items():
        assert abs(rates[name] - rate) <= 0.2 * rate, (name, rates)
    browser.screenshot(os.path.join(OUT_DIR, "fleet-back.png"))
    dash.assert_alive()
    print("host2: down in /metrics %.1f s after kill -9, up %.1f s after its restart" % (
        down_s, up_s))


def test_a_stopped_host_goes_down_without_stalling_the_rest(hosts, dash, browser):
    """SIGSTOP one mydevd: its TCP connection stays open but no snapshot
    comes; the dashboard must call it down by itself (stall timeout) while
    /metrics and the page keep answering at once for the others."""
    victim = hosts["host1"]
    others = ["host2", "host3"]
    ok, _ = dash.wait_metrics(all_up, timeout=30)
    assert ok
    slowest = [0.0]
    os.kill(victim.d.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        m = None
        while time.time() - t0 < 20:
            t = time.time()
            m = dash.metrics()
            slowest[0] = max(slowest[0], time.time() - t)
            if m.value("mydev_target_up", target="host1") == 0:
                break
            time.sleep(0.2)
        down_s = time.time() - t0
        assert m.value("mydev_target_up", target="host1") == 0, \
            "a stopped host1 never went down:\n%r" % m
        assert all_up(m, others), m
        assert slowest[0] < 1.0, "a /metrics read took %.2f s" % slowest[0]
        ok, snap = browser.wait_snapshot(lambda s: s.up("host1") is False, timeout=10)
        assert ok, snap
        assert snap.up("host2") and snap.up("host3") and snap.connection == "live", snap
        rates = metric_rates(dash, 3.0)
        for name in others:
            assert abs(rates[name] - HOSTS[name]) <= 0.2 * HOSTS[name], (name, rates)
    finally:
        os.kill(victim.d.proc.pid, signal.SIGCONT)
    t0 = time.time()
    ok, m = dash.wait_metrics(all_up, timeout=30)
    assert ok, "host1 never came back after SIGCONT:\n%r" % m
    print("host1 stopped: down in /metrics after %.1f s (slowest /metrics read %.0f ms), "
          "up %.1f s after SIGCONT" % (down_s, slowest[0] * 1000, time.time() - t0))
