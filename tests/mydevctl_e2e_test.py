"""End-to-end: mydevctl against a real mydevd while Debian's tcpdump captures
as `nobody` — `mydevctl top` driven in a real terminal (tmux: send keys,
capture the pane), `devices` / `sessions` / `stats` in every format, `health`'s
exit status, a target that goes away and comes back by itself, and a remote
target: the daemon's TLS stats_listener on loopback, reached with --ca and
--token-file or --cert/--key.

Three captures run for the whole module: two on mydev0 (one unfiltered, one
`udp`) that keep up, and one on mydev1 with a small ring that is stopped
(SIGSTOP): its ring fills and it drops, so its row must stand out and lead
the table when sorted by drops or by ring fill."""
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time

import pytest

from e2e.daemon import DAEMON_USER, ensure_daemon_user
from e2e.pki import Pki
from e2e.run_as import signal_child
from e2e.tcpdump import wait_listening
from e2e.waiting import wait_until

RATE_PPS = 2000
CONFIG = ('device { name: "mydev0" synthetic { rate_pps: %d } }\n'
          'device { name: "mydev1" synthetic { rate_pps: %d } }\n' % (RATE_PPS, RATE_PPS))
NOBODY = 65534
INTERVAL_MS = 500
SESSION_COLUMNS = ["HOST", "SESSION", "DEVICE", "USER", "PPS", "DROPS", "DROP%", "FILL%",
                   "COMMAND"]
DEVICE_COLUMNS = ["HOST", "DEVICE", "STATE", "PPS", "BIT/S", "DROPS", "DROP%", "SESSIONS",
                  "DETAIL"]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


# ------------------------------------------------------------------ a terminal


class Tmux:
    """A private tmux server (its own socket, no config file) running one
    program in a 200x50 window; keys in, the screen out."""

    def __init__(self, root, name):
        self.socket = os.path.join(root, "tmux-%s.sock" % name)
        self.exit_file = os.path.join(root, "tmux-%s.exit" % name)
        self.session = name

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.socket, "-f", "/dev/null"] + list(args),
                              capture_output=True, text=True, timeout=10, check=check)

    def start(self, argv):
        """Runs argv in the window; its exit status lands in exit_file."""
        if os.path.exists(self.exit_file):
            os.unlink(self.exit_file)
        cmd = "%s; echo $? > %s" % (" ".join(shlex.quote(a) for a in argv),
                                    shlex.quote(self.exit_file))
        self.tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", self.session, cmd)
        return self

    def keys(self, *keys):
        """tmux send-keys: each argument a key name ("Enter", "Escape") or
        literal text."""
        self.tmux("send-keys", "-t", self.session, *keys)

    def screen(self, escapes=False):
        """The window's text now (with SGR escape sequences when escapes)."""
        args = ["capture-pane", "-p", "-t", self.session] + (["-e"] if escapes else [])
        return self.tmux(*args).stdout

    def wait_screen(self, predicate, what, timeout=15):
        """Polls the screen until predicate(screen) is true; fails showing it."""
        last = [""]

        def check():
            last[0] = self.screen()
            return predicate(last[0])

        if not wait_until(check, timeout, interval=0.1):
            raise AssertionError("the screen never showed %s within %ss:\n%s" %
                                 (what, timeout, last[0]))
        return last[0]

    def exit_status(self, timeout=5):
        """The program's exit status once it has exited (None if it has not)."""

        def read():
            try:
                with open(self.exit_file) as f:
                    text = f.read().strip()
                return text or None
            except FileNotFoundError:
                return None

        status = wait_until(read, timeout, interval=0.05)
        return int(status) if status is not None else None

    def kill(self):
        self.tmux("kill-server", check=False)


# ------------------------------------------------------------------ reading the screen


def human(text):
    """'2.00k' -> 2000.0, '987' -> 987.0, '-' -> None."""
    if text == "-":
        return None
    scale = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text)


def table(screen, columns):
    """The rows (dicts by column title, `*` stripped) of the table whose
    header has exactly these titles; the last column may hold spaces."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if [c.rstrip("*") for c in line.split()] == columns:
            rows = []
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                cells = row.split(None, len(columns) - 1)
                cells += [""] * (len(columns) - len(cells))
                rows.append(dict(zip(columns, cells)))
            return rows, line
    return None, None


def sessions_on_screen(screen):
    """The session rows by id. A row caught while top redraws it (capture-pane
    between two writes: only its first cells there yet) is left out; the
    callers poll until the screen shows what they wait for."""
    rows, _ = table(screen, SESSION_COLUMNS)
    return {int(r["SESSION"]): r for r in rows or [] if r["SESSION"].isdigit()}


def devices_on_screen(screen):
    rows, _ = table(screen, DEVICE_COLUMNS)
    return {r["DEVICE"]: r for r in rows or []}


def bold_lines(screen_with_escapes):
    """For each line of a capture-pane -e screen: whether its first visible
    character is bold (tmux only emits attribute changes, so the state is
    carried over from line to line)."""
    bold, out = False, []
    for line in screen_with_escapes.splitlines():
        first = None
        pos = 0
        for m in SGR.finditer(line):
            if first is None and line[pos:m.start()].strip():
                first = bold
            for code in (m.group(1) or "0").split(";"):
                if code in ("", "0", "22"):
                    bold = False
                elif code == "1":
                    bold = True
            pos = m.end()
        if first is None:
            first = bold
        out.append((SGR.sub("", line), first))
    return out


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def daemon(stage):
    with stage.daemon(config=CONFIG) as d:
        yield d


@pytest.fixture(scope="module")
def captures(stage, daemon):
    """{name: (popen, session id)}: 'all' and 'udp' on mydev0 keep up;
    'stalled' on mydev1 (64 KiB ring) is stopped and drops."""
    procs = {
        "all": stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-w", "/dev/null"],
                                     daemon.socket),
        "udp": stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-w", "/dev/null", "udp"],
                                     daemon.socket),
        "stalled": stage.popen_as_nobody(["tcpdump", "-i", "mydev1", "-B", "64", "-w",
                                          "/dev/null"], daemon.socket),
    }
    try:
        for p in procs.values():
            wait_listening(p)
        signal_child(procs["stalled"], signal.SIGSTOP)
        sessions = json.loads(ctl(stage, daemon, "sessions", "--format=json").stdout)["sessions"]
        ids = {}
        for name, device in (("all", "mydev0"), ("udp", "mydev0"), ("stalled", "mydev1")):
            ids[name] = [int(s["session_id"]) for s in sessions if s["device"] == device]
        assert len(ids["all"]) == 2 and len(ids["stalled"]) == 1, sessions
        # Which mydev0 session is which does not matter to these tests.
        yield {"mydev0": ids["all"], "stalled": ids["stalled"][0]}
    finally:
        for name, p in procs.items():
            if name == "stalled":
                # runuser stopped itself when its child stopped: wake both.
                signal_child(p, signal.SIGCONT)
                os.kill(p.pid, signal.SIGCONT)
            signal_child(p, signal.SIGINT)
            p.communicate(timeout=10)


def ctl(stage, daemon, *args, socket=None):
    """Runs mydevctl against daemon (as root); returns the CompletedProcess."""
    return subprocess.run([stage.bin("mydevctl"), "--socket", socket or daemon.socket] +
                          list(args), capture_output=True, text=True, timeout=30)


@pytest.fixture
def term(stage, request):
    t = Tmux(stage.root, request.node.name.replace("[", "-").rstrip("]"))
    yield t
    t.kill()


# ------------------------------------------------------------------ top


def test_top_rates_sorting_filter_and_quit(stage, daemon, captures, term):
    mydev0_ids, stalled = captures["mydev0"], captures["stalled"]
    term.start([stage.bin("mydevctl"), "--socket", daemon.socket, "top",
                "--interval_ms", str(INTERVAL_MS)])

    def rates_shown(screen):
        devices, sessions = devices_on_screen(screen), sessions_on_screen(screen)
        dev = devices.get("mydev0")
        return (dev is not None and (human(dev["PPS"]) or 0) > 0 and
                (human(dev["BIT/S"]) or 0) > 0 and
                all(i in sessions and (human(sessions[i]["PPS"]) or 0) > 0 for i in mydev0_ids) and
                stalled in sessions and (human(sessions[stalled]["DROPS"]) or 0) > 0)

    screen = term.wait_screen(rates_shown, "mydev0 and both of its sessions with rates, and "
                              "the stopped session dropping")
    devices, sessions = devices_on_screen(screen), sessions_on_screen(screen)
    # mydev0 runs at RATE_PPS: the device row says about that much.
    assert 0.5 * RATE_PPS <= human(devices["mydev0"]["PPS"]) <= 1.5 * RATE_PPS, screen
    assert devices["mydev0"]["STATE"] == "up", screen
    assert devices["mydev0"]["SESSIONS"] == "2", screen
    for i in mydev0_ids:
        assert sessions[i]["DEVICE"] == "mydev0" and sessions[i]["USER"] == "nobody", screen
        assert "tcpdump" in sessions[i]["COMMAND"], screen
        assert sessions[i]["DROPS"] == "0", screen
    assert "sort=rate" in screen and "PPS*" in screen, screen
    assert "UP" in screen.splitlines()[3], "the target line: " + screen

    # The dropping session stands out (bold); the ones keeping up do not.
    marked = {}
    for text, bold in bold_lines(term.screen(escapes=True)):
        cells = text.split()
        if len(cells) > 2 and cells[1].isdigit() and int(cells[1]) in (mydev0_ids + [stalled]):
            marked[int(cells[1])] = bold
    assert marked.get(stalled) is True, marked
    assert all(marked.get(i) is False for i in mydev0_ids), marked

    # d: by drops, the dropping session first; f: by ring fill, it again (its ring is full).
    term.keys("d")
    screen = term.wait_screen(lambda s: "sort=drops" in s and "DROPS*" in s and "PPS*" not in s,
                              "the drops sort indicator")
    rows, _ = table(screen, SESSION_COLUMNS)
    assert int(rows[0]["SESSION"]) == stalled, screen
    term.keys("f")
    screen = term.wait_screen(lambda s: "sort=fill" in s and "FILL%*" in s and "DROPS*" not in s,
                              "the fill sort indicator")
    rows, _ = table(screen, SESSION_COLUMNS)
    assert int(rows[0]["SESSION"]) == stalled, screen
    assert float(rows[0]["FILL%"].rstrip("%")) >= 50, screen
    term.keys("r")
    term.wait_screen(lambda s: "sort=rate" in s and "PPS*" in s, "the rate sort indicator")

    # / mydev0 Enter: only mydev0's rows; Esc: every device again.
    term.keys("/")
    term.wait_screen(lambda s: "filter by device" in s, "the filter prompt")
    term.keys("mydev0")
    term.wait_screen(lambda s: "mydev0_" in s, "the name being typed")
    term.keys("Enter")
    screen = term.wait_screen(
        lambda s: "filter=mydev0" in s and stalled not in sessions_on_screen(s),
        "only mydev0's rows")
    assert set(devices_on_screen(screen)) == {"mydev0"}, screen
    assert set(sessions_on_screen(screen)) == set(mydev0_ids), screen
    term.keys("i")
    term.keys("mydev1", "Enter")
    screen = term.wait_screen(lambda s: "filter=mydev1" in s, "the mydev1 filter")
    assert set(sessions_on_screen(screen)) == {stalled}, screen
    term.keys("Escape")
    term.wait_screen(lambda s: "(all devices)" in s and len(sessions_on_screen(s)) == 3,
                     "every device again")

    # q: top exits (status 0) and gives the terminal back.
    term.keys("q")
    assert term.exit_status() == 0, term.screen()


def test_top_target_goes_down_and_comes_back(stage, daemon, captures, term):
    other = stage.daemon(rate_pps=500).start()
    try:
        label = os.path.basename(other.socket)
        term.start([stage.bin("mydevctl"), "top", "--interval_ms", str(INTERVAL_MS),
                    "--target", "unix:" + daemon.socket, "--target", "unix:" + other.socket])

        def target_state(screen):
            for line in screen.splitlines():
                if line.startswith(label + " "):
                    return line.split()[2]
            return None

        term.wait_screen(lambda s: target_state(s) == "UP" and "(2 up)" in s, "both targets UP")
        other.stop()
        screen = term.wait_screen(lambda s: target_state(s) == "DOWN", label + " DOWN")
        assert "targets 2 (1 up)" in screen, screen
        # The other daemon's rows are still there: one host going away stalls nothing.
        assert len(sessions_on_screen(screen)) == 3, screen
        other.start()
        term.wait_screen(lambda s: target_state(s) == "UP" and "(2 up)" in s,
                         label + " UP again, by itself", timeout=20)
        term.keys("q")
        assert term.exit_status() == 0
    finally:
        other.stop()


def test_top_needs_a_terminal(stage, daemon):
    r = ctl(stage, daemon, "top")
    assert r.returncode == 2, r
    assert "needs a terminal" in r.stderr, r.stderr


# ------------------------------------------------------------------ devices, sessions, stats


def test_json_formats(stage, daemon, captures):
    r = ctl(stage, daemon, "devices", "--format=json")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    devices = {d["name"]: d for d in snap["devices"]}
    assert set(devices) == {"mydev0", "mydev1"}, snap
    assert "sessions" not in snap or not snap["sessions"], snap
    assert devices["mydev0"]["backend"] == "synthetic"
    assert devices["mydev0"]["state"] == "DEVICE_STATE_UP", devices
    assert int(devices["mydev0"]["packets_seen"]) > 0
    assert devices["mydev0"]["sessions"] == 2
    assert snap["scope"] == "STATS_SCOPE_LOCAL", snap
    assert snap["host"] == os.uname().nodename, snap

    r = ctl(stage, daemon, "sessions", "--format=json")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    assert "devices" not in snap or not snap["devices"], snap
    sessions = {int(s["session_id"]): s for s in snap["sessions"]}
    assert set(sessions) == set(captures["mydev0"] + [captures["stalled"]]), snap
    for s in sessions.values():
        assert s["uid"] == NOBODY and s["pid"] > 0, s
        assert s["comm"] == "tcpdump" and s["cmdline"].startswith("tcpdump -i mydev"), s
    stalled = sessions[captures["stalled"]]
    assert int(stalled["packets_dropped"]) > 0, stalled
    assert 2 * int(stalled["ring_fill_bytes"]) >= int(stalled["ring_bytes"]), stalled
    udp = [s for s in sessions.values() if s["cmdline"].endswith(" udp")]
    assert len(udp) == 1 and udp[0]["filter_set"] and udp[0]["filter_insns"] > 1, sessions

    r = ctl(stage, daemon, "stats", "--format=json")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    assert len(snap["devices"]) == 2 and len(snap["sessions"]) == 3, snap


def test_kv_and_table_formats(stage, daemon, captures):
    devices, sessions = daemon.stats()  # `mydevctl stats --format=kv`, as every e2e test reads it
    assert set(devices) == {"mydev0", "mydev1"}
    assert devices["mydev0"]["state"] == "up" and devices["mydev0"]["sessions"] == "2", devices
    assert len(sessions) == 3, sessions
    for s in sessions:
        assert s["uid"] == str(NOBODY) and s["comm"] == "tcpdump", s
        assert s["cmdline"].startswith("tcpdump%20-i%20mydev"), s  # spaces %-escaped

    r = ctl(stage, daemon, "stats")
    assert r.returncode == 0, r.stderr
    assert "nobody" in r.stdout and "mydev1" in r.stdout, r.stdout
    r = ctl(stage, daemon, "sessions", "--format=kv")
    assert r.returncode == 0 and not r.stdout.startswith("device "), r.stdout
    assert r.stdout.splitlines()[-1].startswith("end "), r.stdout


def test_several_targets_and_flag_spellings(stage, daemon, captures):
    missing = os.path.join(stage.root, "nobody-listens.sock")
    token = os.path.join(stage.root, "token")
    with open(token, "w") as f:
        f.write("# a token file\nnot-checked-on-the-local-socket\n")
    r = subprocess.run([stage.bin("mydevctl"), "devices", "--format=json",
                        "--target", "unix:" + daemon.socket, "--target=unix:" + missing,
                        "--token-file", token], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, "one of the targets failed: %r" % r
    assert "nobody-listens.sock" in r.stderr and "UNAVAILABLE" in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and len(json.loads(lines[0])["devices"]) == 2, r.stdout

    r = subprocess.run([stage.bin("mydevctl"), "stats", "--format=kv", "--target",
                        "unix:" + daemon.socket, "--target", "unix:" + daemon.socket],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("target address=unix:") == 2 and r.stdout.count("\nend ") == 2, r.stdout


def test_watch_streams_snapshots(stage, daemon):
    p = subprocess.Popen([stage.bin("mydevctl"), "--socket", daemon.socket, "devices",
                          "--format=kv", "--watch", "200"], stdout=subprocess.PIPE, text=True)
    try:
        ends = 0
        deadline = time.time() + 10
        while ends < 3 and time.time() < deadline:
            if p.stdout.readline().startswith("end "):
                ends += 1
        assert ends == 3, "three snapshots streamed"
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_bad_usage(stage, daemon):
    assert ctl(stage, daemon).returncode == 2
    assert ctl(stage, daemon, "frobnicate").returncode == 2
    r = ctl(stage, daemon, "stats", "--format=yaml")
    assert r.returncode == 2 and "--format" in r.stderr, r.stderr
    r = ctl(stage, daemon, "stats", "--cert", "/nonexistent")
    assert r.returncode == 2 and "--key" in r.stderr, r.stderr
    r = subprocess.run([stage.bin("mydevctl"), "--help"], capture_output=True, text=True,
                       timeout=10)
    for word in ("devices", "sessions", "stats", "health", "top", "--token_file", "--target",
                 "--ca", "--cert", "--key", "--plaintext", "--interval_ms", "--format"):
        assert word in r.stdout + r.stderr, word


# ------------------------------------------------------------------ health


def test_health(stage, daemon):
    r = ctl(stage, daemon, "health")
    assert (r.returncode, r.stdout.strip()) == (0, "SERVING"), r
    r = ctl(stage, daemon, "health", "--service", "mydev.v1.Stats")
    assert (r.returncode, r.stdout.strip()) == (0, "SERVING"), r
    r = ctl(stage, daemon, "health", "--service", "no.such.Service")
    assert r.returncode == 1 and r.stdout.startswith("NOT_FOUND"), r
    r = ctl(stage, daemon, "health", socket=os.path.join(stage.root, "nobody-listens.sock"))
    assert r.returncode == 1 and r.stdout.startswith("UNAVAILABLE"), r


# ------------------------------------------------------------------ a remote target


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_file(src, dst):
    """Copies src to dst, readable by mydevd's user only (it re-reads TLS and
    token files after dropping root)."""
    ensure_daemon_user()
    pw = pwd.getpwnam(DAEMON_USER)
    shutil.copy(src, dst)
    os.chown(dst, pw.pw_uid, pw.pw_gid)
    os.chmod(dst, 0o600)


@pytest.fixture(scope="module")
def remote(stage):
    """A second mydevd whose stats_listener speaks TLS on 127.0.0.1, taking
    client certificates of ca1 and the tokens in `tokens`, with one tcpdump
    capturing from it."""
    pki = Pki(os.path.join(stage.root, "pki"))
    ca1, ca2 = pki.ca("ca1"), pki.ca("ca2")
    server = pki.cert("server", ca1, ips=["127.0.0.1"])
    live = os.path.join(stage.root, "tls")
    os.makedirs(live, mode=0o755)
    files = {}
    for name, src in (("server.crt", server.crt), ("server.key", server.key),
                      ("clients-ca.crt", ca1.crt)):
        files[name] = os.path.join(live, name)
        daemon_file(src, files[name])
    tokens = {"sessions": secrets.token_hex(16), "devices": secrets.token_hex(16)}
    client_files = {}
    with open(os.path.join(live, "tokens.src"), "w") as f:
        f.write("# TOKEN SCOPE NAME\n")
        for scope, token in tokens.items():
            f.write("%s %s %s-reader\n" % (token, scope, scope))
            client_files[scope] = os.path.join(stage.root, "%s.token" % scope)
            with open(client_files[scope], "w") as c:
                c.write(token + "\n")
    files["tokens"] = os.path.join(live, "tokens")
    daemon_file(os.path.join(live, "tokens.src"), files["tokens"])
    target = "127.0.0.1:%d" % free_port()
    config = ('device { name: "mydev0" synthetic { rate_pps: %d } }\n' % RATE_PPS +
              'stats_listener { address: "%s" tls { cert_file: "%s" key_file: "%s" '
              'client_ca_file: "%s" } tokens_file: "%s" }\n' % (
                  target, files["server.crt"], files["server.key"], files["clients-ca.crt"],
                  files["tokens"]))
    with stage.daemon(config=config) as d:
        cap = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-w", "/dev/null"], d.socket)
        try:
            wait_listening(cap)
            yield {"target": target, "ca": ca1.crt, "wrong_ca": ca2.crt,
                   "client": pki.cert("dash", ca1), "tokens": client_files, "daemon": d}
        finally:
            signal_child(cap, signal.SIGINT)
            cap.communicate(timeout=10)


def remote_ctl(stage, remote, *args):
    return subprocess.run([stage.bin("mydevctl"), "--target", remote["target"]] + list(args),
                          capture_output=True, text=True, timeout=30)


def test_remote_tls_target_with_token_or_certificate(stage, remote):
    r = remote_ctl(stage, remote, "stats", "--format=json", "--ca", remote["ca"],
                   "--token-file", remote["tokens"]["sessions"])
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    assert snap["scope"] == "STATS_SCOPE_SESSIONS", snap
    assert [s["uid"] for s in snap["sessions"]] == [NOBODY], snap

    r = remote_ctl(stage, remote, "sessions", "--format=kv", "--ca", remote["ca"],
                   "--token_file", remote["tokens"]["devices"])
    assert r.returncode == 0, r.stderr
    assert "session " not in r.stdout and "scope=devices" in r.stdout, r.stdout

    client = remote["client"]
    r = remote_ctl(stage, remote, "devices", "--format=json", "--ca", remote["ca"],
                   "--cert", client.crt, "--key", client.key)
    assert r.returncode == 0, r.stderr
    assert [d["name"] for d in json.loads(r.stdout)["devices"]] == ["mydev0"], r.stdout

    r = remote_ctl(stage, remote, "health", "--ca", remote["ca"], "--token-file",
                   remote["tokens"]["devices"])
    assert (r.returncode, r.stdout.strip()) == (0, "SERVING"), r


def test_remote_refusals(stage, remote):
    r = remote_ctl(stage, remote, "stats", "--ca", remote["ca"])
    assert r.returncode == 1 and "UNAUTHENTICATED" in r.stderr, r
    r = remote_ctl(stage, remote, "stats", "--ca", remote["wrong_ca"], "--token-file",
                   remote["tokens"]["sessions"])
    assert r.returncode == 1 and "UNAVAILABLE" in r.stderr, r
    r = remote_ctl(stage, remote, "stats", "--plaintext", "--token-file",
                   remote["tokens"]["sessions"])
    assert r.returncode == 1, r


def test_top_against_remote_and_local_targets(stage, daemon, captures, remote, term):
    term.start([stage.bin("mydevctl"), "top", "--interval_ms", str(INTERVAL_MS),
                "--target", "unix:" + daemon.socket, "--target", remote["target"],
                "--ca", remote["ca"], "--token-file", remote["tokens"]["sessions"]])

    def both_up_with_rates(screen):
        lines = [l for l in screen.splitlines() if l.startswith(remote["target"] + " ")]
        rows = table(screen, SESSION_COLUMNS)[0] or []  # session ids repeat across daemons
        remote_rows = [r for r in rows if r["HOST"] == remote["target"][:16]]
        return (lines and lines[0].split()[2:4] == ["UP", "sessions"] and
                "(2 up)" in screen and len(rows) == 4 and len(remote_rows) == 1 and
                (human(remote_rows[0]["PPS"]) or 0) > 0 and remote_rows[0]["USER"] == "65534")

    screen = term.wait_screen(both_up_with_rates, "the remote target UP with its session rates")
    # Two daemons on one host: rows name them by target. A remote uid is
    # shown as a number (this machine's user names do not apply to it).
    hosts = {r["HOST"] for r in table(screen, SESSION_COLUMNS)[0]}
    assert hosts == {os.path.basename(daemon.socket), remote["target"][:16]}, screen
    term.keys("q")
    assert term.exit_status() == 0
