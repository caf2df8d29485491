"""End-to-end: mydev-dashboard watching a real mydevd (a synthetic device at
RATE_PPS, on its local socket) while Debian's tcpdump captures as `nobody`
with different filters; the dashboard runs as `nobody` too, as an operator
would run it.

Covered: /metrics (the text exposition format) has the target, device and
session series with the right labels; a real Prometheus (Debian's package)
scraping it every second answers rate() queries that match what each tcpdump
wrote to its file over the same window, and the device's configured rate;
per-session series leave /metrics (and Prometheus marks them stale) once
their tcpdump ends; --max_session_series cuts and counts; /api/state and
/events; the page in Debian's headless Chromium driven by Playwright shows
the target, the device and the sessions with moving numbers, a killed mydevd
turns the target down while the page stays live, and the restarted one brings
it back (screenshots in the test outputs, the up one also at
/tmp/dashboard.png for the README figure); a --targets_file rewritten to add
a second (down) target, then broken (the old list is kept)."""
import json
import os
import shutil
import signal
import statistics
import time

import pytest

from e2e.browser import Browser, missing_reason, number, text
from e2e.dashboard import Dashboard, target_view
from e2e.pcap_files import read_pcap
from e2e.prometheus import Prometheus
from e2e.run_as import signal_child
from e2e.tcpdump import wait_listening
from e2e.waiting import wait_until

RATE_PPS = 2000
DEVICE = "mydev0"
NOBODY = 65534
# The dashboard's WatchStats interval: a counter in /metrics is the daemon's
# value at the dashboard's last snapshot, up to one interval older than the
# scrape that reads it.
INTERVAL_ARGS = ["--interval", "250ms"]
INTERVAL_S = 0.25
WINDOW_S = 20       # the rate window compared with the capture files
SNAPLEN = 128       # the capture files only need the timestamps
OUT_DIR = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or "/tmp"


def keep(path, name):
    """Copies a file into the test's undeclared outputs."""
    if os.path.exists(path):
        shutil.copy(path, os.path.join(OUT_DIR, name))


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def daemon(stage):
    d = stage.daemon(rate_pps=RATE_PPS)
    try:
        with d:
            yield d
    finally:
        keep(d.log_path, "mydevd.log")


@pytest.fixture(scope="module")
def target(daemon):
    """The target's name: its address, as no name was given."""
    return "unix:" + daemon.socket


class Capture:
    """A tcpdump as nobody writing a file, and its session in mydevd."""

    def __init__(self, stage, daemon, name, expr):
        self.name, self.expr = name, expr
        self.path = stage.out("%s.pcap" % name)
        before = {s["id"] for s in daemon.stats()[1]}
        argv = ["tcpdump", "-i", DEVICE, "-s", str(SNAPLEN), "-B", "8192", "-w", self.path]
        self.proc = stage.popen_as_nobody(argv + ([expr] if expr else []), daemon.socket)
        wait_listening(self.proc)
        new = [s for s in daemon.stats()[1] if s["id"] not in before]
        assert len(new) == 1, new
        self.session = new[0]["id"]
        self.stderr = b""
        self.done = False

    def stop(self):
        """SIGINT; returns tcpdump's stderr (its counts)."""
        if self.done:
            return self.stderr
        if self.proc.poll() is None:
            signal_child(self.proc, signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        self.stderr += err
        self.done = True
        return self.stderr

    def kill(self):
        if self.done:
            return
        if self.proc.poll() is None:
            try:
                signal_child(self.proc, signal.SIGKILL)
            except AssertionError:
                pass
            self.proc.kill()
        self.proc.communicate(timeout=10)
        self.done = True


def start_captures(stage, daemon, specs):
    caps = {}
    try:
        for name, expr in specs:
            caps[name] = Capture(stage, daemon, name, expr)
    except BaseException:
        for c in caps.values():
            c.kill()
        raise
    return caps


@pytest.fixture(scope="module")
def captures(stage, daemon):
    """Three tcpdumps on mydev0: every packet, udp only, tcp only."""
    caps = start_captures(stage, daemon, [("all", None), ("udp", "udp"), ("tcp", "tcp")])
    yield caps
    for c in caps.values():
        c.kill()


@pytest.fixture(scope="module")
def dash(stage, daemon, captures):
    with Dashboard(stage, ["--target", "unix:" + daemon.socket, "--session_metrics"] +
                   INTERVAL_ARGS, name="dashboard-main") as d:
        yield d


@pytest.fixture(scope="module")
def prom(stage, dash):
    p = Prometheus(os.path.join(stage.root, "prometheus"), [dash.address])
    try:
        with p:
            yield p
    finally:
        keep(p.log_path, "prometheus.log")


# ------------------------------------------------------------------ /metrics


def session_labels(m, session):
    got = m.get("mydev_session_packets_total", session=session)
    return got[0][0] if len(got) == 1 else None


def test_metrics_have_target_device_and_session_series(daemon, captures, dash, target):
    want_sessions = {c.session for c in captures.values()}

    def complete(m):
        have = {l.get("session") for l, _ in m.get("mydev_session_packets_total")}
        return (m.value("mydev_target_up", target=target) == 1 and
                (m.value("mydev_device_packets_total", target=target, device=DEVICE) or 0) > 0
                and want_sessions <= have)

    ok, m = dash.wait_metrics(complete, timeout=15)
    assert ok, "target, device and the three sessions never all showed:\n%r" % m
    # The families and their types.
    types = m.meta["types"]
    for name, kind in (("mydev_target_up", "gauge"), ("mydev_device_packets_total", "counter"),
                       ("mydev_device_bytes_total", "counter"),
                       ("mydev_device_ifdrops_total", "counter"),
                       ("mydev_device_sessions", "gauge"), ("mydev_device_up", "gauge"),
                       ("mydev_device_kernel_ring_bytes", "gauge"),
                       ("mydev_session_packets_total", "counter"),
                       ("mydev_session_bytes_total", "counter"),
                       ("mydev_session_drops_total", "counter"),
                       ("mydev_session_ring_fill_ratio", "gauge")):
        family = name[:-len("_total")] if kind == "counter" else name
        assert types.get(family) == kind or types.get(name) == kind, (name, types)
    # The target's labels.
    info = m.get("mydev_target_info", target=target)
    assert len(info) == 1, m
    assert info[0][0].get("address") == "unix:" + daemon.socket, info
    assert info[0][0].get("host") == os.uname().nodename, info
    # The device's series: labels {target, device} exactly.
    for name in ("mydev_device_packets_total", "mydev_device_bytes_total",
                 "mydev_device_ifdrops_total", "mydev_device_sessions", "mydev_device_up",
                 "mydev_device_kernel_ring_bytes"):
        got = m.get(name, target=target)
        assert [l for l, _ in got] == [{"target": target, "device": DEVICE}], (name, got)
    assert m.value("mydev_device_sessions", target=target, device=DEVICE) == 3
    assert m.value("mydev_device_up", target=target, device=DEVICE) == 1
    assert m.value("mydev_device_ifdrops_total", target=target, device=DEVICE) == 0
    # A synthetic device reads no kernel ring.
    assert m.value("mydev_device_kernel_ring_bytes", target=target, device=DEVICE) == 0
    bytes_total = m.value("mydev_device_bytes_total", target=target, device=DEVICE)
    assert bytes_total >= 60 * m.value("mydev_device_packets_total", target=target, device=DEVICE)
    # Each session: {target, device, session, uid, comm}, low cardinality (no
    # pid, no command line).
    for c in captures.values():
        labels = session_labels(m, c.session)
        assert labels == {"target": target, "device": DEVICE, "session": c.session,
                          "uid": str(NOBODY), "comm": "tcpdump"}, (c.name, labels)
        for name in ("mydev_session_bytes_total", "mydev_session_drops_total",
                     "mydev_session_ring_fill_ratio"):
            got = m.get(name, session=c.session)
            assert len(got) == 1 and got[0][0] == labels, (name, got)
        assert m.value("mydev_session_drops_total", session=c.session) == 0
        fill = m.value("mydev_session_ring_fill_ratio", session=c.session)
        assert 0 <= fill <= 1, fill
    # Counters move.
    before = m.value("mydev_device_packets_total", target=target, device=DEVICE)
    ok, m2 = dash.wait_metrics(lambda x: (x.value("mydev_device_packets_total", target=target,
                                                  device=DEVICE) or 0) > before + RATE_PPS / 2,
                               timeout=5)
    assert ok, m2
    dash.assert_alive()


def test_api_state_and_server_sent_events(daemon, captures, dash, target):
    state = dash.state()
    t = target_view(state, target)
    assert t is not None, state
    assert t["up"] is True and t["address"] == "unix:" + daemon.socket, t
    assert [d["name"] for d in t["devices"]] == [DEVICE], t
    dev = t["devices"][0]
    assert isinstance(dev["packets_total"], str), dev  # 64-bit integers as strings
    assert 0.7 * RATE_PPS <= dev["packets_per_second"] <= 1.3 * RATE_PPS, dev
    ids = {s["session_id"] for s in t["sessions"]}
    assert {c.session for c in captures.values()} <= ids, t["sessions"]
    for s in t["sessions"]:
        if s["session_id"] in {c.session for c in captures.values()}:
            assert s["user"] == "nobody" and s["comm"] == "tcpdump" and s["uid"] == NOBODY, s
    # /events: one JSON DashboardState per event, versions increasing.
    events = dash.events(3, timeout=10)
    assert len(events) == 3, events
    versions = [int(json.loads(data)["version"]) for _, data in events]
    assert versions == sorted(versions) and versions[-1] > versions[0], versions


# ------------------------------------------------------------------ Prometheus


def pcap_rate(path, t0, t1):
    """Packets per second in a capture file between two wall-clock times."""
    _, packets = read_pcap(path)
    lo, hi = int(t0 * 1e9), int(t1 * 1e9)
    n = sum(1 for p in packets if lo <= p[0] <= hi)
    first = packets[0][0] / 1e9 if packets else None
    last = packets[-1][0] / 1e9 if packets else None
    return n / (t1 - t0), n, first, last


def test_prometheus_rates_match_the_captures(stage, daemon, captures, dash, prom, target):
    prom.wait_target_up()
    # Enough scrapes for a WINDOW_S window of every session's series.
    sel = 'mydev_session_packets_total{target="%s"}' % target
    prom.wait_samples(sel, WINDOW_S + 2, timeout=WINDOW_S + 30)
    at = time.time()
    # The raw samples of the window, and rate() over it.
    raw = prom.api("query", query="%s[%ds]" % (sel, WINDOW_S), time="%.3f" % at)
    assert raw["resultType"] == "matrix", raw
    samples = {r["metric"]["session"]: [(float(t), float(v)) for t, v in r["values"]]
               for r in raw["result"]}
    rates = {l["session"]: v for l, v in
             prom.query("rate(%s[%ds])" % (sel, WINDOW_S), at=at)}
    dev_rate = prom.query_one('rate(mydev_device_packets_total{target="%s",device="%s"}[%ds])' %
                              (target, DEVICE, WINDOW_S), at=at)
    up = prom.query_one('mydev_target_up{target="%s"}' % target, at=at)
    # The capture files cover the window and a little more.
    time.sleep(1.5)
    # tcpdump -w buffers: the files are complete only at the end.
    for c in captures.values():
        err = c.stop()
        assert b"\n0 packets dropped by kernel" in err, (c.name, err)

    rows = []
    # Tolerance: a counter in /metrics is the daemon's value at the
    # dashboard's last snapshot, 0..INTERVAL_S (+ a few ms of scrape jitter)
    # older than the scrape's timestamp, so the difference between two
    # samples can be off by up to one interval's packets at each end relative
    # to the same wall-clock window in the file: 2 x INTERVAL_S / WINDOW_S
    # = 2.5 %; plus 1.5 % for the generator's pacing in batches and the
    # filter's share of a 1024-frame template cycle not being uniform within
    # a window: 4 %.
    tol = 2 * INTERVAL_S / WINDOW_S + 0.015
    for name, c in captures.items():
        pts = samples.get(c.session)
        assert pts and len(pts) >= WINDOW_S - 2, (name, pts)
        (t0, v0), (t1, v1) = pts[0], pts[-1]
        prom_rate = (v1 - v0) / (t1 - t0)
        file_rate, n, first, last = pcap_rate(c.path, t0, t1)
        assert first < t0 - 1 and last > t1, (name, first, t0, t1, last)
        rows.append("%-4s session %s: prometheus %.1f pkt/s (raw samples, %d over %.1f s), "
                    "rate() %.1f; capture file %.1f pkt/s (%d packets)" % (
                        name, c.session, prom_rate, len(pts), t1 - t0, rates.get(c.session, -1),
                        file_rate, n))
        assert abs(prom_rate - file_rate) <= tol * file_rate, rows[-1]
        assert abs(rates[c.session] - file_rate) <= (tol + 0.02) * file_rate, rows[-1]
    rows.append("device: rate() %.1f pkt/s (configured %d)" % (dev_rate, RATE_PPS))
    print("\n".join(rows))
    # The device's configured rate; the unfiltered session saw it all; udp
    # and tcp are each a part of it.
    assert abs(dev_rate - RATE_PPS) <= 0.03 * RATE_PPS, rows
    assert abs(rates[captures["all"].session] - dev_rate) <= 0.05 * dev_rate, rows
    for name in ("udp", "tcp"):
        assert 0.05 * dev_rate < rates[captures[name].session] < 0.9 * dev_rate, rows
    assert up == 1


def test_session_series_vanish_when_the_capture_ends(stage, daemon, dash, prom, target):
    cap = start_captures(stage, daemon, [("late", "udp")])["late"]
    sid = cap.session
    try:
        ok, m = dash.wait_metrics(lambda x: session_labels(x, sid) is not None, timeout=10)
        assert ok, m
        assert wait_until(lambda: prom.query('mydev_session_packets_total{session="%s"}' % sid),
                          10), "prometheus never scraped session %s" % sid
        cap.stop()
    finally:
        cap.kill()
    # Every session series of the ended session leaves /metrics ...
    t0 = time.time()
    ok, m = dash.wait_metrics(
        lambda x: not any(l.get("session") == sid for _, l, _ in x.samples), timeout=10)
    assert ok, "session %s's series are still in /metrics:\n%r" % (sid, m)
    gone_s = time.time() - t0
    # ... and Prometheus marks them stale at its next scrape: an instant
    # query no longer returns them (not for 5 minutes, as a series that just
    # stops being updated would).
    assert wait_until(lambda: not prom.query('mydev_session_packets_total{session="%s"}' % sid),
                      10), "prometheus still returns session %s" % sid
    print("session %s's series left /metrics %.1f s after its tcpdump ended" % (sid, gone_s))
    # The device's series stay.
    assert dash.metrics().value("mydev_device_packets_total", target=target, device=DEVICE) > 0


def test_session_series_are_opt_in_and_capped(stage, daemon, target):
    caps = start_captures(stage, daemon, [("cap1", None), ("cap2", "tcp")])
    try:
        ids = {c.session for c in caps.values()}
        with Dashboard(stage, ["--target", "unix:" + daemon.socket, "--session_metrics",
                               "--max_session_series", "1"] + INTERVAL_ARGS,
                       name="dashboard-capped") as capped, \
                Dashboard(stage, ["--target", "unix:" + daemon.socket] + INTERVAL_ARGS,
                          name="dashboard-nosessions") as plain:
            def cut(m):
                v = m.value("mydev_session_series_cut_total", target=target)
                return v is not None and v >= 1
            ok, m = capped.wait_metrics(cut, timeout=10)
            assert ok, "no series cut counted:\n%r" % m
            shown = {l["session"] for l, _ in m.get("mydev_session_packets_total")}
            # The oldest session is the one kept.
            assert shown == {min(ids, key=int)}, (shown, ids)
            for name in ("mydev_session_bytes_total", "mydev_session_drops_total",
                         "mydev_session_ring_fill_ratio"):
                assert {l["session"] for l, _ in m.get(name)} == shown, (name, m)
            # The device series are never cut.
            assert m.value("mydev_device_sessions", target=target, device=DEVICE) == 2
            # Without --session_metrics: no session series at all.
            ok, pm = plain.wait_metrics(
                lambda x: x.value("mydev_device_sessions", target=target, device=DEVICE) == 2,
                timeout=10)
            assert ok, pm
            assert not [n for n in pm.names() if n.startswith("mydev_session_") and
                        n != "mydev_session_series_cut_total"], pm
    finally:
        for c in caps.values():
            c.stop()


# ------------------------------------------------------------------ the page


@pytest.fixture(scope="module")
def browser(stage):
    why = missing_reason()
    if why:
        pytest.fail("the browser cannot run: " + why)
    with Browser(log_path=os.path.join(stage.root, "browser.log")) as b:
        yield b
        logs = b.logs()
    with open(os.path.join(OUT_DIR, "browser-console.json"), "w") as f:
        json.dump(logs, f, indent=1)


def test_page_shows_live_numbers_and_a_target_going_down_and_back(stage, daemon, dash,
                                                                  browser, target):
    caps = start_captures(stage, daemon, [("page1", None), ("page2", "udp")])
    try:
        assert browser.open(dash.url + "/") == 200

        def shown(s):
            dev = s.device(target, DEVICE)
            rows = s.sessions(target)
            return (s.up(target) and dev is not None and (number(dev["pps"]) or 0) > 0 and
                    all(int(c.session) in rows and (number(rows[int(c.session)]["pps"]) or 0) > 0
                        for c in caps.values()))

        ok, snap = browser.wait_snapshot(shown, timeout=15)
        assert ok, "the page never showed the device and both sessions with rates:\n%r" % snap
        assert snap.connection == "live", snap
        page1 = int(caps["page1"].session)

        def rates(s):
            d, row = s.device(target, DEVICE), s.sessions(target).get(page1)
            return (number(d["pps"]) or 0 if d else 0, number(d["bps"]) or 0 if d else 0,
                    number(row["pps"]) or 0 if row else 0)

        # Each shown rate is one 250 ms interval's count: the median of nine.
        seen, snap = browser.sample(rates, 9)
        device_pps, device_bps, session_pps = (statistics.median(v) for v in zip(*seen))
        assert 0.8 * RATE_PPS <= device_pps <= 1.2 * RATE_PPS, seen
        assert 0.8 * RATE_PPS <= session_pps <= 1.2 * RATE_PPS, seen
        assert device_bps > 60 * 8 * 0.8 * RATE_PPS, seen
        dev = snap.device(target, DEVICE)
        assert number(dev["drops"]) == 0, dev
        rows = snap.sessions(target)
        for c in caps.values():
            row = rows[int(c.session)]
            # .comm: the command name, then the rest of its command line.
            assert text(row["user"]) == "nobody", row
            assert text(row["comm"]).split()[0] == "tcpdump", row
            assert "-i %s" % DEVICE in text(row["comm"]), row
            assert text(row["device"]) == DEVICE and number(row["drops"]) == 0, row
            assert number(row["fill"]) is not None, row
        assert "up" in (snap.target(target)["status"] or "").lower(), snap.target(target)
        # The numbers move: new states arrive, without reloading the page.
        v0, e0 = snap.version, snap.events
        assert v0 is not None and e0 is not None, snap
        ok, snap2 = browser.wait_snapshot(lambda s: s.version >= v0 + 3 and s.events >= e0 + 3,
                                          timeout=10)
        assert ok, (v0, e0, snap2)
        browser.screenshot(os.path.join(OUT_DIR, "dashboard.png"))
        shutil.copy(os.path.join(OUT_DIR, "dashboard.png"), "/tmp/dashboard.png")
    finally:
        for c in caps.values():
            c.stop()

    # mydevd killed: the target turns down, the page stays live.
    daemon.proc.kill()
    daemon.proc.wait()
    daemon.stop()
    t0 = time.time()
    ok, snap = browser.wait_snapshot(lambda s: s.up(target) is False, timeout=15)
    down_s = time.time() - t0
    assert ok, "the page never showed the target down:\n%r" % snap
    assert "down" in (snap.target(target)["status"] or "").lower(), snap.target(target)
    assert snap.connection == "live", snap
    ok, m = dash.wait_metrics(lambda x: x.value("mydev_target_up", target=target) == 0,
                              timeout=5)
    assert ok, m
    # Still live: events keep coming while the target is down.
    e1 = snap.events
    ok, snap = browser.wait_snapshot(lambda s: s.events > e1 and s.connection == "live",
                                     timeout=10)
    assert ok, snap
    browser.screenshot(os.path.join(OUT_DIR, "dashboard-down.png"))
    dash.assert_alive()

    # Restarted: back up by itself (the dashboard reconnects with backoff),
    # and packets flow again once a session is open (a synthetic device makes
    # none while nobody listens).
    daemon.start()
    t0 = time.time()
    back = start_captures(stage, daemon, [("back", None)])
    try:
        ok, snap = browser.wait_snapshot(
            lambda s: s.up(target) and s.device(target, DEVICE) is not None and
            (number(s.device(target, DEVICE)["pps"]) or 0) > 0, timeout=30)
    finally:
        for c in back.values():
            c.stop()
    up_s = time.time() - t0
    assert ok, "the page never showed the target up again:\n%r" % snap
    assert snap.connection == "live", snap
    ok, m = dash.wait_metrics(lambda x: x.value("mydev_target_up", target=target) == 1,
                              timeout=5)
    assert ok, m
    browser.screenshot(os.path.join(OUT_DIR, "dashboard-back.png"))
    print("page: target down %.1f s after kill -9, up again %.1f s after the restart" % (
        down_s, up_s))
    # No script error; no console error but the browser's own favicon request.
    errors = [l for l in browser.logs() if l["kind"] in ("pageerror", "crash") or
              (l["kind"] == "console.error" and "/favicon.ico" not in l["text"])]
    assert not errors, errors


# ------------------------------------------------------------------ targets file


def write_targets(path, text):
    """Replaces the file as a deploy tool would (a new file renamed over)."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def test_targets_file_reread_on_change_and_broken_file_kept(stage, daemon):
    path = os.path.join(stage.root, "targets.textproto")
    local = 'target { address: "unix:%s" name: "local" }\n' % daemon.socket
    ghost_sock = os.path.join(stage.root, "nothing-here.sock")
    ghost = 'target { address: "unix:%s" name: "ghost" }\n' % ghost_sock
    write_targets(path, "# the test's targets\n" + local)
    with Dashboard(stage, ["--targets_file", path] + INTERVAL_ARGS,
                   name="dashboard-targets-file") as dash:
        ok, m = dash.wait_metrics(lambda x: x.value("mydev_target_up", target="local") == 1,
                                  timeout=10)
        assert ok, m
        assert not m.get("mydev_target_up", target="ghost"), m
        # A second target, down: it appears as down, the first stays up.
        write_targets(path, local + ghost)
        ok, m = dash.wait_metrics(lambda x: x.value("mydev_target_up", target="ghost") == 0,
                                  timeout=15)
        assert ok, "the added target never showed as down:\n%r" % m
        assert m.value("mydev_target_up", target="local") == 1, m
        info = m.get("mydev_target_info", target="ghost")
        assert info and info[0][0].get("address") == "unix:" + ghost_sock, info
        g = target_view(dash.state(), "ghost")
        assert g is not None and not g.get("up", False) and g.get("down_reason"), g
        # A broken file: the old list is kept (and the dashboard says why).
        write_targets(path, local + 'target { address: "unix:/x" nmae: "typo" }\n')
        time.sleep(4)
        dash.assert_alive()
        m = dash.metrics()
        assert m.value("mydev_target_up", target="local") == 1, m
        assert m.value("mydev_target_up", target="ghost") == 0, m
        assert not m.get("mydev_target_up", target="typo"), m
        # Fixed again, without the ghost: it leaves.
        write_targets(path, local)
        ok, m = dash.wait_metrics(lambda x: not x.get("mydev_target_up", target="ghost"),
                                  timeout=15)
        assert ok, "the removed target is still listed:\n%r" % m
        assert m.value("mydev_target_up", target="local") == 1, m
        log = dash.log_text()
    # The broken version was reported, naming what is wrong in it.
    assert "nmae" in log, log
