"""stage.py — the built binaries, found in Bazel's runfiles and staged where
an unprivileged user can run them: a world-readable copy in the installed
layout (tools/install.sh's), with run/ for the daemons' sockets and a
world-writable out/ for capture files.

    with Stage() as stage:
        with stage.daemon(rate_pps=2000) as d:
            out = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "5", "-w", f], d.socket)
"""
import os
import shutil
import subprocess
import tempfile

from .daemon import Daemon
from .run_as import runuser_nobody_argv

WORKSPACE = "mydev"

# Runfile path -> path under the staged install tree (the install.sh layout).
STAGED = {
    "daemon/mydevd": "bin/mydevd",
    "tools/mydev-run": "bin/mydev-run",
    "tools/mydevctl/mydevctl": "bin/mydevctl",
    "pcapmod/libpcap.so.0.8": "lib/mydev/libpcap.so.0.8",
    "pcapmod/libmydev-client.so": "lib/mydev/libmydev-client.so",
    "tests/pcap_api_probe": "bin/pcap_api_probe",
    "tests/pcap_inject_probe": "bin/pcap_inject_probe",
    "tests/hostile_client/hostile_client": "bin/hostile_client",
    "tools/bench/packet_sender": "bin/packet_sender",
}


def runfile(path):
    base = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR")
    return os.path.join(base, WORKSPACE, path)


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
        # As root, mydevd makes run/ itself and gives it to the user it
        # switches to (who creates and removes the sockets in it).
        self.run_dir = os.path.join(self.root, "run")
        if os.geteuid() != 0:
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
        return runuser_nobody_argv(self.bin("mydev-run"), argv, socket_path)

    def popen_as_nobody(self, argv, socket_path, **kw):
        return subprocess.Popen(self.nobody_cmd(argv, socket_path), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kw)

    def run_as_nobody(self, argv, socket_path, timeout=30):
        return subprocess.run(self.nobody_cmd(argv, socket_path), capture_output=True, text=True,
                              timeout=timeout)
