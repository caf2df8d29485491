"""The systemd recipe (deploy/systemd), checked and run for real.

First the unit file itself: `systemd-analyze security --offline=true`
exposure at most 2.0 (and the figure the unit's header states), `verify`
clean, with and without the no-afpacket drop-in.

Then the unit installed by deploy/systemd/install-unit.sh (and `systemctl
link`ed, as for any PREFIX outside systemd's search path) into a Debian with
systemd as PID 1 (a privileged podman container, image from
deploy/container/build.sh --only systemd-host; this host has no systemd)
and the staged mydev mounted at /opt/mydev: mydevd runs as the user
`mydevd` with CAP_NET_RAW only, no_new_privs and a seccomp filter; `nobody`
captures through it (synthetic, an afpacket device on lo); the remote Stats
listener answers on 127.0.0.1; `systemctl reload` (SIGHUP) re-reads the
tokens file without disturbing a running capture; restart and stop end the
running captures cleanly; the drop-in leaves mydevd with no capability."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from deploy_podman import (CAP_NET_RAW, SYSTEMD_HOST_IMAGE, build_images, exposure_of, env,
                           podman, podman_popen, read_pcap_bytes)
from e2e.frames import seq_of
from e2e.stage import runfile
from e2e.waiting import wait_for_line, wait_until

MAX_EXPOSURE = 2.0
CONFIG = """device { name: "mydev0" synthetic { rate_pps: 2000 } }
device { name: "mydev1" afpacket { interface: "lo" } }
stats_listener { address: "127.0.0.1:9470" plaintext: true tokens_file: "/etc/mydevd/stats-tokens" }
"""
TOKEN1, TOKEN2 = "e2e-token-one-0123456789abcdef", "e2e-token-two-0123456789abcdef"
MYDEV_RUN = "/opt/mydev/bin/mydev-run"
MYDEVCTL = "/opt/mydev/bin/mydevctl"


def install_unit(prefix, unit_dir):
    out = subprocess.run([runfile("deploy/systemd/install-unit.sh"), prefix, unit_dir],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return os.path.join(unit_dir, "mydevd.service")


def analyze(*args):
    out = subprocess.run(["systemd-analyze"] + list(args), capture_output=True, text=True,
                         timeout=60)
    return out.returncode, out.stdout + out.stderr


# ------------------------------------------------------------------ the unit file

def test_unit_exposure_and_verify(stage):
    """The installed unit (PREFIX = the staged tree, so ExecStart exists):
    exposure <= 2.0 and as the header says; verify prints nothing. The
    no-afpacket drop-in (no capability at all) scores lower, still clean."""
    d = tempfile.mkdtemp(prefix="mydev-unit-")
    unit = install_unit(stage.root, d)
    with open(unit) as f:
        text = f.read()
    assert "@PREFIX@" not in text and "ExecStart=%s/bin/mydevd " % stage.root in text
    rc, out = analyze("verify", unit)
    assert rc == 0 and out.strip() == "", out
    rc, out = analyze("security", "--offline=true", unit)
    exposure = exposure_of(out)
    print("systemd-analyze security --offline=true: exposure %.1f" % exposure)
    assert exposure <= MAX_EXPOSURE, out
    assert "exposure %.1f" % exposure in text, "update the score in mydevd.service's header"

    dropins = unit + ".d"
    os.makedirs(dropins)
    shutil.copy(os.path.join(stage.root, "share/mydev/systemd/no-afpacket.conf"), dropins)
    rc, out = analyze("verify", unit)
    assert rc == 0 and out.strip() == "", out
    rc, out = analyze("security", "--offline=true", unit)
    print("with no-afpacket.conf: exposure %.1f" % exposure_of(out))
    assert exposure_of(out) < exposure, out
    assert "exposure %.1f" % exposure_of(out) in text, "update the drop-in's score in the header"
    shutil.rmtree(d)


# ------------------------------------------------------------------ under systemd

class Host:
    """A Debian with systemd as PID 1 in a privileged podman container."""

    def __init__(self, name):
        self.name = name

    def sh(self, cmd, check=True, timeout=60):
        out = podman("exec", self.name, "bash", "-c", cmd, check=False, timeout=timeout)
        if check:
            assert out.returncode == 0, "%s: %s%s" % (cmd, out.stdout, out.stderr)
        return out

    def sh_bytes(self, cmd, timeout=60):
        out = subprocess.run(["podman", "exec", self.name, "bash", "-c", cmd],
                             capture_output=True, timeout=timeout, env=env())
        assert out.returncode == 0, out.stderr.decode(errors="replace")
        return out.stdout, out.stderr.decode(errors="replace")

    def popen(self, cmd):
        return podman_popen("exec", self.name, "bash", "-c", cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def main_pid(self):
        return int(self.sh("systemctl show -p MainPID --value mydevd").stdout)

    def status(self, pid):
        text = self.sh("cat /proc/%d/status" % pid).stdout
        return dict(l.split(":\t", 1) for l in text.splitlines() if ":\t" in l)

    def start(self, config=CONFIG):
        self.sh("cat > /etc/mydevd/mydevd.conf <<'EOF'\n%sEOF\nsystemctl restart mydevd" % config)
        assert wait_until(lambda: self.sh("systemctl is-active mydevd", check=False)
                          .stdout.strip() == "active", 10)
        assert wait_until(lambda: self.sh("%s health" % MYDEVCTL, check=False).returncode == 0,
                          10), self.journal()

    def journal(self):
        return self.sh("journalctl -u mydevd --no-pager | tail -n 30", check=False).stdout

    def sessions(self):
        out = self.sh("%s stats --format=kv" % MYDEVCTL).stdout
        return [l for l in out.splitlines() if l.startswith("session ")]

    def remote_stats(self, token):
        return self.sh("echo %s > /tmp/token && %s stats --target 127.0.0.1:9470 --plaintext "
                       "--token-file /tmp/token --format=kv" % (token, MYDEVCTL), check=False)

    def capture(self, device, extra=""):
        """tcpdump as nobody through mydev-run, running, once listening."""
        p = self.popen("exec runuser -u nobody -- %s tcpdump -i %s -w /dev/null %s"
                       % (MYDEV_RUN, device, extra))
        wait_for_line(p.stderr, b"listening on", timeout=20)
        return p


@pytest.fixture(scope="module")
def host(stage):
    seconds, log = build_images(stage.root, "--only", "systemd-host")
    print("build.sh --only systemd-host: %.1f s\n%s" % (seconds, log))
    deploy = tempfile.mkdtemp(prefix="mydev-deploy-")
    for f in ("install-unit.sh", "mydevd.service", "no-afpacket.conf"):
        shutil.copy(runfile("deploy/systemd/" + f), deploy)  # the files, not runfiles links
    os.chmod(deploy, 0o755)
    name = "mydev-e2e-systemd-%d" % os.getpid()
    podman("rm", "-f", "-t", "0", name, check=False)
    podman("run", "-d", "--name", name, "--privileged", "--systemd=always", "--network=none",
           "-v", "%s:/opt/mydev" % stage.root, "-v", "%s:/deploy:ro" % deploy,
           SYSTEMD_HOST_IMAGE)
    h = Host(name)
    try:
        assert wait_until(lambda: h.sh("systemctl is-system-running", check=False)
                          .stdout.strip() in ("running", "degraded"), 30), \
            h.sh("systemctl --failed --no-pager", check=False).stdout
        # As tools/install.sh does for a PREFIX outside systemd's search path.
        h.sh("/deploy/install-unit.sh /opt/mydev && "
             "systemctl link /opt/mydev/lib/systemd/system/mydevd.service && "
             "useradd --system --no-create-home --shell /usr/sbin/nologin mydevd && "
             "install -d -m 0755 /etc/mydevd && "
             "echo '%s sessions e2e' > /etc/mydevd/stats-tokens && "
             "chown mydevd: /etc/mydevd/stats-tokens && chmod 0600 /etc/mydevd/stats-tokens && "
             "systemctl daemon-reload" % TOKEN1)
        yield h
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
        shutil.rmtree(deploy, ignore_errors=True)


def test_runs_hardened_as_its_own_user(host):
    """mydevd under the unit: user mydevd, CAP_NET_RAW in the effective,
    permitted and bounding sets and nothing else, no ambient capability left,
    no_new_privs, seccomp; read-only /; the socket directory is mydevd's,
    0755. nobody captures the synthetic device and the afpacket one (lo),
    and the Stats listener answers over TCP on 127.0.0.1."""
    host.start()
    pid = host.main_pid()
    st = host.status(pid)
    uid = host.sh("id -u mydevd").stdout.strip()
    assert st["Uid"].split() == [uid] * 4 and st["Name"] == "mydevd", st
    for which in ("Eff", "Prm", "Bnd"):
        assert int(st["Cap" + which], 16) == CAP_NET_RAW, (which, st)
    assert int(st["CapAmb"], 16) == 0 and int(st["CapInh"], 16) == 0, st
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
    mounts = host.sh("cat /proc/%d/mountinfo" % pid).stdout
    root = [l.split() for l in mounts.splitlines() if l.split()[4] == "/"]
    assert root and "ro" in root[0][5].split(","), mounts
    assert host.sh("stat -c '%U %a' /run/mydevd").stdout.split() == ["mydevd", "755"]

    blob, err = host.sh_bytes("runuser -u nobody -- %s tcpdump -i mydev0 -c 50 -w - "
                              "2>/dev/null" % MYDEV_RUN)
    packets = read_pcap_bytes(blob)[1]
    seqs = [seq_of(p[3]) for p in packets]
    assert len(seqs) == 50 and seqs == list(range(seqs[0], seqs[0] + 50)), seqs

    p = host.popen("exec runuser -u nobody -- %s tcpdump -i mydev1 -c 2 -w - 'udp port 9'"
                   % MYDEV_RUN)
    wait_for_line(p.stderr, b"listening on", timeout=20)
    host.sh("for i in 1 2 3 4; do echo MYDEV-LO > /dev/udp/127.0.0.1/9; sleep 0.05; done")
    out, _ = p.communicate(timeout=20)
    got = read_pcap_bytes(out)[1]
    assert len(got) == 2 and all(b"MYDEV-LO" in x[3] for x in got), got

    remote = host.remote_stats(TOKEN1)
    assert remote.returncode == 0 and "device name=mydev0" in remote.stdout, remote.stderr


def test_reload_rereads_the_tokens_file_and_keeps_captures(host):
    """`systemctl reload mydevd` (ExecReload: SIGHUP): the same process, the
    new token accepted and the old one refused; a capture running across the
    reload keeps its session."""
    host.start()
    pid = host.main_pid()
    p = host.capture("mydev0")
    try:
        assert len(host.sessions()) == 1
        assert host.remote_stats(TOKEN1).returncode == 0
        host.sh("echo '%s sessions e2e' > /etc/mydevd/stats-tokens && systemctl reload mydevd"
                % TOKEN2)
        assert wait_until(lambda: host.remote_stats(TOKEN2).returncode == 0, 5), host.journal()
        old = host.remote_stats(TOKEN1)
        assert old.returncode != 0 and "UNAUTHENTICATED" in old.stderr, old.stderr
        assert "re-read the tokens file" in host.journal()
        assert host.main_pid() == pid, "reload must not restart mydevd"
        assert len(host.sessions()) == 1 and p.poll() is None, "the capture survived the reload"
    finally:
        host.sh("pkill -INT -x tcpdump", check=False)
        p.communicate(timeout=20)
        host.sh("echo '%s sessions e2e' > /etc/mydevd/stats-tokens" % TOKEN1)


def test_restart_and_stop_end_running_captures(host):
    """`systemctl restart`: a running capture ends by itself, saying why,
    and a new one works at once; `systemctl stop` ends it too and removes
    the socket directory."""
    host.start()
    p = host.capture("mydev0")
    t0 = time.time()
    host.sh("systemctl restart mydevd")
    _, err = p.communicate(timeout=20)
    print("restart: tcpdump ended after %.2f s (exit %d): %s" % (
        time.time() - t0, p.returncode, err.decode(errors="replace").strip()[-200:]))
    assert wait_until(lambda: host.sh("%s health" % MYDEVCTL, check=False).returncode == 0, 10)
    out = host.sh("runuser -u nobody -- %s tcpdump -i mydev0 -c 5 -w /dev/null" % MYDEV_RUN)
    assert "5 packets captured" in out.stderr

    p = host.capture("mydev0")
    host.sh("systemctl stop mydevd")
    _, err = p.communicate(timeout=20)
    print("stop: tcpdump ended (exit %d): %s" % (p.returncode, err.decode(errors="replace")
                                                   .strip()[-200:]))
    assert host.sh("test -e /run/mydevd", check=False).returncode != 0, "RuntimeDirectory= removed"


def test_no_afpacket_dropin_leaves_no_capability(host):
    """With deploy/systemd/no-afpacket.conf and synthetic devices only:
    no capability in any set, captures work; an afpacket device in the
    config then fails at start (no packet sockets)."""
    host.sh("install -D -m 0644 /opt/mydev/share/mydev/systemd/no-afpacket.conf "
            "/etc/systemd/system/mydevd.service.d/no-afpacket.conf && systemctl daemon-reload")
    try:
        host.start('device { name: "mydev0" synthetic { rate_pps: 2000 } }\n')
        st = host.status(host.main_pid())
        for which in ("Eff", "Prm", "Bnd", "Amb", "Inh"):
            assert int(st["Cap" + which], 16) == 0, (which, st)
        out = host.sh("runuser -u nobody -- %s tcpdump -i mydev0 -c 5 -w /dev/null" % MYDEV_RUN)
        assert "5 packets captured" in out.stderr

        host.sh("cat > /etc/mydevd/mydevd.conf <<'EOF'\n%sEOF\nsystemctl restart mydevd" % CONFIG,
                check=False)
        assert wait_until(lambda: host.sh("systemctl is-active mydevd", check=False)
                          .stdout.strip() != "active", 10)
        assert "socket(AF_PACKET" in host.journal()
    finally:
        host.sh("rm -rf /etc/systemd/system/mydevd.service.d && systemctl daemon-reload && "
                "systemctl stop mydevd", check=False)
