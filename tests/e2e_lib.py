"""e2e_lib.py — helpers for the end-to-end tests: stage the built binaries
where an unprivileged user can run them, run mydevd, run Debian's tcpdump
through mydev-run as `nobody`, and read the pcap files they write.

    with Stage() as stage:
        with stage.daemon(rate_pps=2000) as d:
            out = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "5", "-w", f])
            packets = read_pcap(f)
"""
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

WORKSPACE = "mydev"
SEQ_MAGIC = b"MYDEVSEQ"

# Runfile path -> path under the staged install tree (the install.sh layout).
STAGED = {
    "daemon/mydevd": "bin/mydevd",
    "tools/mydev-run": "bin/mydev-run",
    "tools/stats/mydev-stats": "bin/mydev-stats",
    "pcapmod/libpcap.so.0.8": "lib/mydev/libpcap.so.0.8",
    "pcapmod/libmydev-client.so": "lib/mydev/libmydev-client.so",
    "tests/pcap_api_probe": "bin/pcap_api_probe",
}


def runfile(path):
    base = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR")
    return os.path.join(base, WORKSPACE, path)


class Daemon:
    _instances = 0

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

    def start(self):
        args = [self.stage.bin("mydevd"), "--socket", self.socket]
        if os.path.getsize(self.config):
            args += ["--config", self.config]
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
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mydevd ignored SIGTERM for 10 s")
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stats(self):
        """Returns ({device: {k: v}}, [session {k: v}]) from mydev-stats."""
        out = subprocess.run([self.stage.bin("mydev-stats"), "--socket", self.socket,
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


class Stage:
    """A world-readable copy of the built binaries in the installed layout."""

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="mydev-e2e-")
        os.chmod(self.root, 0o755)
        for src, dst in STAGED.items():
            src_path = runfile(src)
            if not os.path.exists(src_path):
                continue
            dst_path = os.path.join(self.root, dst)
            os.makedirs(os.path.dirname(dst_path), mode=0o755, exist_ok=True)
            shutil.copy(src_path, dst_path)
            os.chmod(dst_path, 0o755)
        for d in ("bin", "lib", "lib/mydev"):
            p = os.path.join(self.root, d)
            if os.path.isdir(p):
                os.chmod(p, 0o755)
        self.run_dir = os.path.join(self.root, "run")
        os.makedirs(self.run_dir, mode=0o755)
        self.out_dir = os.path.join(self.root, "out")
        os.makedirs(self.out_dir, mode=0o777)
        os.chmod(self.out_dir, 0o777)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)

    def bin(self, name):
        return os.path.join(self.root, "bin", name)

    def out(self, name):
        return os.path.join(self.out_dir, name)

    def daemon(self, rate_pps=2000, extra_device_text="", limits_text="", config=None):
        if config is None:
            config = 'device { name: "mydev0" synthetic { rate_pps: %d } }\n' % rate_pps
            config += extra_device_text
            if limits_text:
                config += "limits { %s }\n" % limits_text
        return Daemon(self, config)

    def nobody_cmd(self, argv, socket_path):
        return ["runuser", "-u", "nobody", "--", "env", "MYDEV_SOCKET=" + socket_path,
                self.bin("mydev-run")] + argv

    def popen_as_nobody(self, argv, socket_path, **kw):
        return subprocess.Popen(self.nobody_cmd(argv, socket_path), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kw)

    def run_as_nobody(self, argv, socket_path, timeout=30):
        return subprocess.run(self.nobody_cmd(argv, socket_path), capture_output=True, text=True,
                              timeout=timeout)


def signal_child(proc, sig):
    """Signals the program runuser started (runuser itself does not pass
    SIGINT on, and answers SIGTERM with SIGKILL after 2 s)."""
    deadline = time.time() + 5
    while time.time() < deadline:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        if out.stdout.split():
            os.kill(int(out.stdout.split()[0]), sig)
            return
        time.sleep(0.01)
    raise AssertionError("no child of runuser pid %d" % proc.pid)


def read_pcap(path):
    """Returns (nanosecond_file, [(ts_ns, caplen, orig_len, data)])."""
    with open(path, "rb") as f:
        blob = f.read()
    magic = struct.unpack_from("<I", blob, 0)[0]
    if magic == 0xA1B2C3D4:
        nano = False
    elif magic == 0xA1B23C4D:
        nano = True
    else:
        raise AssertionError("%s: not a little-endian pcap file (magic %#x)" % (path, magic))
    packets, off = [], 24
    while off + 16 <= len(blob):
        sec, frac, caplen, orig = struct.unpack_from("<IIII", blob, off)
        off += 16
        data = blob[off:off + caplen]
        off += caplen
        ts_ns = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        packets.append((ts_ns, caplen, orig, data))
    return nano, packets


def seq_of(data):
    """The synthetic generator's sequence number in a frame, or None."""
    i = data.find(SEQ_MAGIC)
    if i < 0 or i + 16 > len(data):
        return None
    return struct.unpack_from(">Q", data, i + 8)[0]


def system_tcpdump_filter(src, dst, expr):
    """Applies a filter with Debian's own tcpdump/libpcap, as the reference."""
    subprocess.run(["/usr/bin/tcpdump", "-r", src, "-w", dst, expr], check=True,
                   capture_output=True, timeout=60)
    return read_pcap(dst)[1]
