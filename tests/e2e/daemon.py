"""daemon.py — running mydevd for a test: the system user it switches to,
starting it on a socket of its own with a config file, stopping it, its log,
its counters as `mydevctl stats --format=kv` reports them; and the config text for a device
on a real interface.

    with stage.daemon(rate_pps=2000) as d:     # Stage.daemon builds a Daemon
        devices, sessions = d.stats()
"""
import os
import socket
import subprocess
import time

from .proc_status import terminate

# The unprivileged user mydevd switches to when the tests run it as root, as
# in production (tools/install.sh creates the same user).
DAEMON_USER = "mydevd"


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
        if self.proc and not terminate(self.proc, 10):
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
        """Returns ({device: {k: v}}, [session {k: v}]) from `mydevctl stats
        --format=kv` (values with spaces are %-escaped: urllib.parse.unquote)."""
        out = subprocess.run([self.stage.bin("mydevctl"), "--socket", self.socket, "stats",
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


def afpacket_config(interface, device="mydev1", access_text="", rate_pps=2000, device_text=""):
    """mydev0 (synthetic) plus `device` on a real interface, optionally with
    an `access { ... }` body and more DeviceConfig fields (device_text)."""
    text = 'device { name: "mydev0" synthetic { rate_pps: %d } }\n' % rate_pps
    text += 'device { name: "%s" afpacket { interface: "%s" } %s' % (device, interface, device_text)
    if access_text:
        text += " access { %s }" % access_text
    return text + " }\n"
