"""deploy_podman.py — helpers for the deployment tests (tests/deploy_*_test.py):
the recipes' files in Bazel's runfiles, podman with the project's own
containers.conf, building the images (deploy/container/build.sh), playing
Kubernetes YAML under names of the test's own, a container's process
status, and mydevd's counters as the daemon container's `mydevctl` reports
them.

    images = build_images(stage.root)              # cached between runs
    with KubePlay(render_sidecar("e2e123-")) as pod:
        podman("exec", pod.container("app"), "id")
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import yaml

from e2e.stage import runfile

CONTAINERS_CONF = runfile("deploy/container/containers.conf")
# mydev-dashboard goes into the mydevd image (build.sh's PREFIX_FILES).
DASHBOARD_RUNFILE = "tools/dashboard/mydev-dashboard"
BUILD_SH = runfile("deploy/container/build.sh")
MYDEVD_IMAGE = "localhost/mydevd:latest"
APP_IMAGE = "localhost/mydev-app:latest"
SYSTEMD_HOST_IMAGE = "localhost/mydev-systemd-host:latest"
CAP_NET_RAW = 1 << 13


def env():
    e = dict(os.environ)
    e["CONTAINERS_CONF"] = CONTAINERS_CONF
    # Bazel's test environment has no HOME podman could use; root's is fine.
    e.setdefault("HOME", "/root")
    return e


def podman(*args, check=True, timeout=120, **kw):
    """podman ARGS with the project's containers.conf; CompletedProcess (text)."""
    out = subprocess.run(["podman"] + list(args), capture_output=True, text=True,
                         timeout=timeout, env=env(), **kw)
    if check:
        assert out.returncode == 0, "podman %s: %s%s" % (" ".join(args), out.stdout, out.stderr)
    return out


def podman_popen(*args, **kw):
    return subprocess.Popen(["podman"] + list(args), env=env(), **kw)


def stage_dashboard(prefix):
    """bin/mydev-dashboard in the install tree PREFIX (tools/install.sh puts
    it there; a test's stage may not have it yet): copied from the runfiles."""
    dst = os.path.join(prefix, "bin", "mydev-dashboard")
    if not os.path.exists(dst):
        src = runfile(DASHBOARD_RUNFILE)
        assert os.path.exists(src), "no mydev-dashboard at %s (//deploy:container)" % src
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        shutil.copy(src, dst)
        os.chmod(dst, 0o755)


def build_images(prefix, *extra):
    """deploy/container/build.sh --prefix PREFIX EXTRA...; returns (seconds, log)."""
    stage_dashboard(prefix)
    t0 = time.time()
    out = subprocess.run([BUILD_SH, "--prefix", prefix] + list(extra), capture_output=True,
                         text=True, timeout=1200, env=env())
    elapsed = time.time() - t0
    assert out.returncode == 0, "build.sh failed:\n" + out.stdout + out.stderr
    return elapsed, out.stdout + out.stderr


def image_size(image):
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)


def image_label(image, label):
    return podman("image", "inspect", "--format", '{{ index .Labels "%s" }}' % label,
                  image).stdout.strip()


# ------------------------------------------------------------------ mydevd's counters

def daemon_stats_argv(socket_path):
    """The command printing mydevd's counters as key=value lines (run inside
    the daemon's container). The one line to change if the tool changes."""
    return ["mydevctl", "--socket=" + socket_path, "stats", "--format=kv"]


def parse_stats(text):
    """({device: {k: v}}, [session {k: v}]) from `--format=kv` lines."""
    devices, sessions = {}, []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        kv = dict(item.split("=", 1) for item in rest.split() if "=" in item)
        if kind == "device":
            devices[kv["name"]] = kv
        elif kind == "session":
            sessions.append(kv)
    return devices, sessions


def daemon_stats(container, socket_path):
    out = podman("exec", container, *daemon_stats_argv(socket_path), timeout=30)
    return parse_stats(out.stdout)


def wait_healthy(container, socket_path, timeout=20):
    """Waits until `mydevctl health` in the container says SERVING."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = podman("exec", container, "mydevctl", "--socket=" + socket_path, "health",
                      check=False, timeout=30)
        if last.returncode == 0:
            return
        time.sleep(0.2)
    logs = podman("logs", container, check=False).stderr
    raise AssertionError("mydevd in %s not SERVING within %ss: %s%s\nlog:\n%s" % (
        container, timeout, last.stdout, last.stderr, logs))


# ------------------------------------------------------------------ the dashboard's /metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] from the Prometheus text format."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line.strip())
        assert m, "not a sample line: %r" % line
        labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in
                  _LABEL.findall(m.group(2) or "")}
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def metric(samples, name, **labels):
    """The value of the one sample `name` with these labels (others any),
    or None."""
    got = [v for n, l, v in samples
           if n == name and all(l.get(k) == want for k, want in labels.items())]
    assert len(got) <= 1, "%d samples of %s%r" % (len(got), name, labels)
    return got[0] if got else None


def http_get(url, timeout=5):
    """(status, body text) of GET url."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ Kubernetes YAML

def render(path, prefix, host_paths=(), replace=(), edit=None):
    """The YAML at `path` (a runfile) made playable beside anything else: a
    DaemonSet becomes its pod template (deploy/kubernetes/pod-from-daemonset.py),
    names and volume names get `prefix`, hostPaths and ConfigMap text are
    rewritten; edit(docs) may change the documents further. Returns the
    path of the rendered file (in a fresh temporary directory)."""
    argv = [runfile("deploy/kubernetes/pod-from-daemonset.py"), runfile(path),
            "--name-prefix", prefix]
    for old, new in host_paths:
        argv += ["--host-path", "%s=%s" % (old, new)]
    for old, new in replace:
        argv += ["--replace", "%s=%s" % (old, new)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    docs = list(yaml.safe_load_all(out.stdout))
    if edit:
        edit(docs)
    d = tempfile.mkdtemp(prefix="mydev-kube-")
    dest = os.path.join(d, os.path.basename(path))
    with open(dest, "w") as f:
        yaml.safe_dump_all(docs, f, default_flow_style=False, sort_keys=False)
    return dest


def pod_docs(docs):
    return [d for d in docs if d["kind"] == "Pod"]


class KubePlay:
    """`podman kube play FILE` on enter; on exit its pods removed (what
    `podman kube down` does, but with a 1 s stop timeout: `sleep infinity`
    as a container's PID 1 ignores SIGTERM, and podman would wait 10 s) and
    the volumes podman made for it, ConfigMaps' included (kube down leaves
    those)."""

    def __init__(self, path):
        self.path = path
        with open(path) as f:
            self.docs = list(yaml.safe_load_all(f))
        self.pods = [d["metadata"]["name"] for d in pod_docs(self.docs)]
        # podman names an emptyDir's volume after the pod's volume, a
        # ConfigMap's after the ConfigMap.
        self.volumes = [v["name"] for d in pod_docs(self.docs)
                        for v in d["spec"].get("volumes") or []]
        self.volumes += [d["metadata"]["name"] for d in self.docs if d["kind"] == "ConfigMap"]

    def _clean(self):
        for pod in self.pods:
            podman("pod", "rm", "-f", "-t", "1", pod, check=False)
        for v in self.volumes:  # not -f: that would remove containers using it
            podman("volume", "rm", v, check=False)

    def __enter__(self):
        self._clean()  # leftovers of a run that was killed
        podman("kube", "play", self.path, timeout=120)
        return self

    def __exit__(self, *exc):
        self._clean()
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)

    def container(self, name, pod=None):
        """podman's name for a container of a pod: POD-CONTAINER."""
        return "%s-%s" % (pod or self.pods[0], name)


def container_pid(container):
    return int(podman("inspect", "--format", "{{.State.Pid}}", container).stdout)


def infra_pid(pod):
    infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod).stdout.strip()
    return container_pid(infra)


def status_of(pid):
    """/proc/PID/status as a dict."""
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def caps(status, which):
    return int(status["Cap" + which], 16)


def root_mount_options(pid):
    """The mount options of the process's / (mountinfo field 6)."""
    with open("/proc/%d/mountinfo" % pid) as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/":
                return fields[5].split(",")
    raise AssertionError("no / in /proc/%d/mountinfo" % pid)


# ------------------------------------------------------------------ network

def host_peer_of(pid, ifname="eth0"):
    """The host-side interface of the veth `ifname` in process pid's netns
    (`ip link` there says eth0@ifN: N is the peer's ifindex here)."""
    out = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % pid, "ip", "-o", "link", "show",
                          "dev", ifname], capture_output=True, text=True, check=True, timeout=30)
    m = re.search(r"^\d+: %s@if(\d+):" % re.escape(ifname), out.stdout)
    assert m, out.stdout
    peer = int(m.group(1))
    for name in os.listdir("/sys/class/net"):
        with open("/sys/class/net/%s/ifindex" % name) as f:
            if int(f.read()) == peer:
                return name
    raise AssertionError("no host interface with ifindex %d" % peer)


def send_frames(ifname, frames):
    """Sends raw frames out of a host interface (AF_PACKET), paced."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((ifname, 0))
        for i, frame in enumerate(frames):
            s.send(frame)
            if i % 16 == 15:
                time.sleep(0.002)
    finally:
        s.close()


def read_pcap_bytes(blob):
    """(nanosecond, [(ts_ns, caplen, orig_len, data)]) from pcap bytes."""
    magic = struct.unpack_from("<I", blob, 0)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), "not a pcap stream: %r" % blob[:32]
    nano = magic == 0xA1B23C4D
    packets, off = [], 24
    while off + 16 <= len(blob):
        sec, frac, caplen, orig = struct.unpack_from("<IIII", blob, off)
        off += 16
        packets.append((sec * 1_000_000_000 + (frac if nano else frac * 1000), caplen, orig,
                        blob[off:off + caplen]))
        off += caplen
    return nano, packets


def exposure_of(text):
    """The overall exposure level `systemd-analyze security` printed."""
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", text)
    assert m, text
    return float(m.group(1))
