"""browser.py — Debian's headless Chromium driven by Playwright
(tests/browser/dashboard_driver.mjs under Node.js), controlled from Python:
one JSON command a line to the driver's stdin, one JSON reply a line back.

    with Browser() as b:
        b.open("http://127.0.0.1:9471/")
        snap = b.snapshot()          # the page's test hooks (see Snapshot)
        b.wait_js("Number(document.body.dataset.version) > 3")
        b.screenshot("/tmp/page.png")

The driver needs tests/browser/node_modules (tools/bootstrap.sh runs `npm ci`
there). Bazel's runfiles hold symlinks to the source tree's files; Node.js
resolves the driver's real path, and playwright-core from the node_modules
beside it, so the test finds it through the runfile's os.path.realpath. Set
MYDEV_BROWSER_DIR to use another checkout's tests/browser.
"""
import json
import os
import re
import select
import shutil
import subprocess
import time

DRIVER = "dashboard_driver.mjs"
NODE = shutil.which("node") or "/usr/bin/node"
CHROMIUM = "/usr/bin/chromium"


def browser_dir():
    """tests/browser in the source tree (with its node_modules)."""
    env = os.environ.get("MYDEV_BROWSER_DIR")
    if env:
        return env
    from .stage import runfile
    candidates = []
    try:
        candidates.append(os.path.dirname(os.path.realpath(runfile("tests/browser/" + DRIVER))))
    except TypeError:  # not under Bazel: no runfiles
        pass
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                   "browser"))
    for c in candidates:
        if os.path.exists(os.path.join(c, DRIVER)):
            return c
    raise AssertionError("no tests/browser/%s in %s" % (DRIVER, candidates))


def missing_reason():
    """Why the browser cannot run here (None if it can)."""
    if not os.path.exists(NODE):
        return "no node (tools/bootstrap.sh installs it)"
    if not os.path.exists(CHROMIUM):
        return "no %s (tools/bootstrap.sh installs Debian's chromium)" % CHROMIUM
    d = browser_dir()
    if not os.path.isdir(os.path.join(d, "node_modules", "playwright-core")):
        return "no %s/node_modules/playwright-core (run tools/bootstrap.sh)" % d
    return None


_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}
_NUMBER = re.compile(r"([-+]?\d+(?:[.,]\d+)*(?:\.\d+)?)\s*([kKMGTm]?)")


def number(cell):
    """The number a hook cell shows: its data-value if it has one, else the
    first number in its text with an SI prefix ('2.00k pps' -> 2000.0,
    '12.5 Mbit/s' -> 12.5e6, '37%' -> 37.0, '-' -> None). cell: a snapshot
    cell {"text", "value"}, a string or None."""
    if cell is None:
        return None
    if isinstance(cell, dict):
        if cell.get("value") not in (None, ""):
            try:
                return float(cell["value"])
            except ValueError:
                pass
        cell = cell.get("text") or ""
    m = _NUMBER.search(cell)
    if not m:
        return None
    digits = m.group(1).replace(",", "")
    return float(digits) * _SUFFIX[m.group(2)]


def text(cell):
    if cell is None:
        return None
    return cell["text"] if isinstance(cell, dict) else cell


class Snapshot:
    """What the driver read from the page's hooks: targets (section.target
    [data-target][data-up] with .target-status), their devices
    ([data-device] with .pps .bps .drops) and session rows
    (tr[data-session-id] with .user .comm .device .pps .drops .fill),
    body[data-version], body[data-events], #connection."""

    def __init__(self, raw):
        self.raw = raw
        self.version = _int(raw.get("version"))
        self.events = _int(raw.get("events"))
        self.connection = raw.get("connection")
        self.targets = {t["name"]: t for t in raw.get("targets", [])}

    def target(self, name):
        return self.targets.get(name)

    def up(self, name):
        t = self.targets.get(name)
        return None if t is None else t["up"] == "true"

    def device(self, target, device):
        t = self.targets.get(target)
        for d in (t or {}).get("devices", []):
            if d["name"] == device:
                return d
        return None

    def sessions(self, target=None):
        """{session id (int): row} of one target (or of all)."""
        out = {}
        for name, t in self.targets.items():
            if target is None or name == target:
                for s in t["sessions"]:
                    out[int(s["id"])] = s
        for s in self.raw.get("loose_sessions", []):
            if target is None or s.get("target") in (None, target):
                out[int(s["id"])] = s
        return out

    def __repr__(self):
        return json.dumps(self.raw, indent=1)[:6000]


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


class Browser:
    """The Node.js driver and its Chromium; one page."""

    def __init__(self, width=1280, height=900, log_path=None):
        self.width, self.height = width, height
        self.log_path = log_path
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self, timeout=60):
        d = browser_dir()
        self.stderr = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [NODE, os.path.join(d, DRIVER), "--chromium", CHROMIUM, "--width", str(self.width),
             "--height", str(self.height)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=d)
        ready = self._read(timeout)
        if not ready.get("ok"):
            self.close()
            raise AssertionError("the browser did not start: %s" % ready.get("error"))
        self.version = ready.get("chromium")
        return self

    def _read(self, timeout):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("the browser driver did not answer within %ss" % timeout)
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                line = self.proc.stdout.readline()
                if not line:
                    raise AssertionError("the browser driver exited (status %s)" %
                                         self.proc.poll())
                return json.loads(line)

    def call(self, cmd, timeout=60, check=True, **kw):
        msg = dict(kw, cmd=cmd)
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        reply = self._read(timeout)
        if check and not reply.get("ok"):
            raise AssertionError("browser %s: %s" % (cmd, reply.get("error")))
        return reply

    def open(self, url, basic_auth=None, timeout_ms=15000):
        kw = {"url": url, "timeout_ms": timeout_ms}
        if basic_auth:
            kw["basic_auth"] = list(basic_auth)
        return self.call("open", timeout=timeout_ms / 1000 + 10, **kw)["status"]

    def reload(self):
        return self.call("reload")["status"]

    def snapshot(self):
        return Snapshot(self.call("snapshot")["snapshot"])

    def eval(self, expr):
        return self.call("eval", expr=expr)["value"]

    def wait_js(self, expr, timeout=10.0):
        """Waits until the JS expression is truthy in the page; False on timeout."""
        r = self.call("wait", expr=expr, timeout_ms=int(timeout * 1000), timeout=timeout + 10,
                      check=False)
        return bool(r.get("ok"))

    def wait_snapshot(self, predicate, timeout=10.0, interval=0.25):
        """Polls snapshots until predicate(snapshot) is truthy; returns
        (ok, the last snapshot)."""
        deadline = time.time() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return True, snap
            if time.time() >= deadline:
                return False, snap
            time.sleep(interval)

    def sample(self, value, count, timeout_each=5.0):
        """value(snapshot) over `count` successive page updates (each a new
        data-version): a shown rate is one interval's count, which jitters on
        a loaded machine, so tests judge the median of these. Returns the
        list of values and the last snapshot."""
        values, snap = [], self.snapshot()
        for _ in range(count):
            v0 = snap.version or 0
            ok, snap = self.wait_snapshot(lambda s: (s.version or 0) > v0, timeout=timeout_each)
            assert ok, "the page stopped updating:\n%r" % snap
            values.append(value(snap))
        return values, snap

    def screenshot(self, path, full_page=True):
        return self.call("screenshot", path=path, full_page=full_page)

    def logs(self):
        return self.call("logs")["logs"]

    def close(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                self.call("close", timeout=15, check=False)
            except (AssertionError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.stderr not in (None, subprocess.DEVNULL):
            self.stderr.close()
        self.proc = None
