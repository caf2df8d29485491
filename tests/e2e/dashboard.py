"""dashboard.py — running mydev-dashboard for a test: the built binary
staged beside the others, started as `nobody` (setpriv: the dashboard is an
unprivileged program, and the test signals it directly) on a free loopback
port, stopped with SIGTERM; its pages fetched with urllib: /metrics parsed
(e2e.prometheus.Metrics), /api/state as JSON, /events read as Server-Sent
Events.

    with Dashboard(stage, ["--target", "unix:" + d.socket]) as dash:
        m = dash.metrics()
        m.value("mydev_target_up", target="unix:" + d.socket)
        state = dash.state()
"""
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from .proc_status import terminate
from .prometheus import Metrics, free_port
from .run_as import as_uid
from .stage import runfile

NOBODY = 65534
RUNFILE = "tools/dashboard/mydev-dashboard"


def dashboard_binary():
    """The built mydev-dashboard (runfiles; MYDEV_DASHBOARD_BIN overrides)."""
    env = os.environ.get("MYDEV_DASHBOARD_BIN")
    if env:
        return env
    return runfile(RUNFILE)


def stage_dashboard(stage):
    """Copies mydev-dashboard into the stage's bin/ (world-readable, as
    tools/install.sh installs it); returns its path."""
    dst = stage.bin("mydev-dashboard")
    if not os.path.exists(dst):
        src = dashboard_binary()
        assert os.path.exists(src), "no mydev-dashboard at %s" % src
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        shutil.copy(src, dst)
        os.chmod(dst, 0o755)
    return dst


def give_to(path, uid=NOBODY, mode=0o600):
    """Makes a file the dashboard's user reads (keys, tokens) its own."""
    os.chown(path, uid, uid)
    os.chmod(path, mode)


class Dashboard:
    """mydev-dashboard ARGS --listen 127.0.0.1:PORT, as uid (None: as this
    process' user)."""

    _count = 0

    def __init__(self, stage, args, uid=NOBODY, port=None, name=None, scheme="http"):
        Dashboard._count += 1
        self.stage = stage
        self.args = list(args)
        self.uid = uid
        self.port = port
        self.scheme = scheme
        self.name = name or "dashboard%d" % Dashboard._count
        self.log_path = os.path.join(stage.root, self.name + ".log")
        self.proc = None
        self.bin = stage_dashboard(stage)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
        if out_dir and os.path.exists(self.log_path):
            shutil.copy(self.log_path, os.path.join(out_dir, self.name + ".log"))

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=20):
        if self.port is None:
            self.port = free_port()
        argv = as_uid(self.uid) + [self.bin, "--listen", self.address] + self.args
        self.log = open(self.log_path, "ab")
        self.log.write(("$ %s\n" % " ".join(argv)).encode())
        self.log.flush()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd="/")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mydev-dashboard exited at start (%s):\n%s" %
                                     (self.proc.returncode, self.log_text()))
            try:
                status, _ = self.get("/metrics", timeout=2)
                if status == 200:
                    return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise AssertionError("mydev-dashboard did not serve /metrics within %ss:\n%s" %
                             (timeout, self.log_text()))

    def stop(self):
        if self.proc is None:
            return None
        obeyed = terminate(self.proc, 10)
        self.log.close()
        if not obeyed:
            raise AssertionError("mydev-dashboard ignored SIGTERM for 10 s")
        return self.proc.returncode

    def assert_alive(self):
        assert self.proc.poll() is None, "mydev-dashboard died (%s):\n%s" % (
            self.proc.returncode, self.log_text())

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------ HTTP

    def get(self, path, timeout=5, headers=None):
        """(status, body bytes) of GET path."""
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def metrics_text(self):
        status, body = self.get("/metrics")
        assert status == 200, (status, body[:500])
        return body.decode()

    def metrics(self):
        return Metrics(self.metrics_text())

    def state(self):
        status, body = self.get("/api/state")
        assert status == 200, (status, body[:500])
        return json.loads(body)

    def wait_metrics(self, predicate, timeout=15, interval=0.2):
        """Polls /metrics until predicate(Metrics) is truthy; returns
        (ok, last Metrics)."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            if predicate(m):
                return True, m
            if time.time() >= deadline:
                return False, m
            time.sleep(interval)

    def events(self, n, timeout=10):
        """The first n Server-Sent Events of /events: [(event type, data)]."""
        got = []
        deadline = time.time() + timeout
        with urllib.request.urlopen(self.url + "/events", timeout=timeout) as r:
            assert r.headers.get_content_type() == "text/event-stream", r.headers
            kind, data = "message", []
            while len(got) < n and time.time() < deadline:
                line = r.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if not line:
                    if data:
                        got.append((kind, "\n".join(data)))
                    kind, data = "message", []
                elif line.startswith("data:"):
                    v = line[5:]
                    data.append(v[1:] if v.startswith(" ") else v)
                elif line.startswith("event:"):
                    kind = line[6:].strip()
        return got


def target_view(state, name):
    """The TargetView (dict) named name in an /api/state document."""
    for t in state.get("targets", []):
        if t.get("name") == name:
            return t
    return None
