"""The container recipes, run for real with podman (deploy/container,
deploy/kubernetes): the images built offline from Debian's archive by
deploy/container/build.sh (cached: rebuilt only when their inputs change;
reproducible), the sidecar pod (deploy/kubernetes/sidecar-pod.yaml) played
with `podman kube play`, and the DaemonSet's pod template played as a Pod
with two client pods.

Sidecar: traffic sent into the pod's network namespace is captured by
Debian's tcpdump in the application container, as uid 1000 with no
capability, through mydevd in the other container, byte for byte and
nanosecond for nanosecond what a root tcpdump sees on that eth0; the
application container cannot open a packet socket itself; killing it frees
its session.

DaemonSet: one mydevd on the host's network; two client pods (uids 1000 and
1001) both capture a host-side veth through it; a uid the access rules do
not list is refused. The mydev-dashboard sidecar runs as uid 65534 with no
capability, and its /metrics (on the host's network, at the port the
pod's prometheus.io/* annotations give) shows the target up and the
device counters moving with the captures."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from deploy_podman import (APP_IMAGE, CAP_NET_RAW, MYDEVD_IMAGE, KubePlay, build_images,
                           caps, container_pid, daemon_stats, free_port, host_peer_of,
                           http_get, image_label, image_size, infra_pid, metric,
                           parse_metrics, podman, podman_popen, read_pcap_bytes, render,
                           root_mount_options, send_frames, status_of, wait_healthy)
from e2e.frames import FOREIGN_MAC, build_frames, mac_text
from e2e.netns import VethPair, kernel_rx_timestamps
from e2e.pcap_files import read_pcap
from e2e.waiting import wait_for_line, wait_until

FILTER = "ether dst " + mac_text(FOREIGN_MAC)  # only the test's frames
SIDECAR_SOCKET = "/run/mydev/mydevd.sock"
NODE_SOCKET = "/run/mydevd/mydevd.sock"
FRAMES = 200


@pytest.fixture(scope="module")
def images(stage):
    """Both images, built from the staged install tree (or found up to date)."""
    seconds, log = build_images(stage.root)
    print("build.sh (first call): %.1f s\n%s" % (seconds, log))
    return seconds


_plays = [0]


def prefix():
    """A name prefix of this test process's own, new on every call (podman
    names volumes after the YAML's volume names: two plays must not share)."""
    _plays[0] += 1
    return "e2e%dp%d-" % (os.getpid(), _plays[0])


def capture_in(container, device, socket_path, count, extra_env="", user=None):
    """Debian's tcpdump in the container through the shared client libraries,
    pcap to stdout (nanosecond), once it is listening. Returns the Popen."""
    lib = os.path.dirname(socket_path) + "/lib"
    cmd = ("%s LD_LIBRARY_PATH=%s MYDEV_SOCKET=%s exec tcpdump -i %s -U -c %d "
           "--time-stamp-precision=nano -w - '%s'" % (extra_env, lib, socket_path, device,
                                                        count, FILTER))
    argv = ["exec"] + (["--user", user] if user else []) + [container, "sh", "-c", cmd]
    p = podman_popen(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_line(p.stderr, b"listening on", timeout=20)
    except BaseException:
        p.kill()
        p.communicate()
        raise
    return p


def finish(proc, timeout=30):
    """Waits for a tcpdump -c to end; returns (pcap bytes, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("capture did not finish: %r" % err)
    assert proc.returncode == 0, err
    return out, err.decode(errors="replace")


# ------------------------------------------------------------------ images

def test_images_are_cached_small_and_load(stage, images):
    """A second build.sh with the same inputs rebuilds nothing; the mydevd
    image holds no package manager and no shell but busybox, and its files
    and every client library it publishes are there."""
    seconds, log = build_images(stage.root)
    assert log.count("is up to date") == 2, log
    assert seconds < 20, "the cached build took %.1f s" % seconds
    size = image_size(MYDEVD_IMAGE)
    print("mydevd image: %.1f MB; app image %.1f MB; cached build %.1f s" % (
        size / 1e6, image_size(APP_IMAGE) / 1e6, seconds))
    assert size < 50e6, "mydevd image grew to %.1f MB" % (size / 1e6)
    assert image_label(MYDEVD_IMAGE, "org.mydev.inputs")
    ls = podman("run", "--rm", "--network=none", "--entrypoint=/bin/busybox", MYDEVD_IMAGE,
                "sh", "-c", "busybox ls /bin /usr/bin /sbin /usr/sbin /usr/local/bin 2>/dev/null; "
                "busybox cat /usr/local/lib/mydev/client-libs").stdout
    for present in ("busybox", "mydevd", "mydevctl", "mydev-dashboard", "mydevd-entrypoint"):
        assert present in ls.split(), present + " is not in the mydevd image: " + ls
    for absent in ("dpkg", "apt", "apt-get", "bash", "dash", "perl"):
        assert absent not in ls.split(), absent + " is in the mydevd image"
    libs = [l for l in ls.splitlines() if l.startswith("/")]
    assert "/usr/local/lib/mydev/libpcap.so.0.8" in libs
    assert any("libgrpc++" in l for l in libs) and not any("/libc.so" in l for l in libs)
    out = podman("run", "--rm", "--network=none", MYDEVD_IMAGE, "--help", check=False)
    assert "usage: mydevd" in out.stdout + out.stderr
    out = podman("run", "--rm", "--network=none", "--user=65534:65534",
                 "--entrypoint=/usr/local/bin/mydev-dashboard", MYDEVD_IMAGE, "--help",
                 check=False)
    assert "usage: mydev-dashboard" in out.stdout + out.stderr, out


def test_mydevd_image_is_reproducible(stage, images):
    """The same inputs built again give the same image ID."""
    seconds, log = build_images(stage.root, "--only", "mydevd", "--verify-reproducible")
    assert "reproducible: the rebuild of localhost/mydevd:latest has the same ID" in log, log
    print("reproducibility rebuild: %.1f s" % seconds)


# ------------------------------------------------------------------ sidecar

@pytest.fixture(scope="module")
def sidecar(images):
    """One sidecar pod for the three tests below (podman 4.3 takes 20 s to
    play it: it waits for its init container's exit that long; the
    container-killing test comes last)."""
    with KubePlay(render("deploy/kubernetes/sidecar-pod.yaml", prefix())) as play:
        play.mydevd = play.container("mydevd")
        play.app = play.container("app")
        wait_healthy(play.mydevd, SIDECAR_SOCKET)
        yield play
        assert podman("inspect", "--format", "{{.State.Running}}",
                      play.mydevd).stdout.strip() == "true", "mydevd's container died"


def test_sidecar_app_captures_byte_for_byte_what_the_daemon_sees(sidecar):
    """Frames sent into the pod's eth0 (from its host-side veth): tcpdump as
    uid 1000 in the app container (on mydev1, the afpacket device on eth0)
    gets exactly the frames, lengths and kernel timestamps that root's
    tcpdump in the pod's network namespace gets."""
    ns = "/proc/%d/ns/net" % infra_pid(sidecar.pods[0])
    host_veth = host_peer_of(infra_pid(sidecar.pods[0]))
    ref_file = os.path.join(tempfile.mkdtemp(prefix="mydev-ref-"), "ref.pcap")
    ref = subprocess.Popen(["nsenter", "--net=" + ns, "/usr/bin/tcpdump", "-i", "eth0", "-U",
                            "-c", str(FRAMES), "--time-stamp-precision=nano", "-w", ref_file,
                            FILTER], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_line(ref.stderr, b"listening on")
        app = capture_in(sidecar.app, "mydev1", SIDECAR_SOCKET, FRAMES)
        _, sessions = daemon_stats(sidecar.mydevd, SIDECAR_SOCKET)
        assert [(s["device"], s["uid"]) for s in sessions] == [("mydev1", "1000")], sessions
        frames = build_frames(b"SIDEC", FRAMES, bytes.fromhex("02005e100002"))
        with kernel_rx_timestamps():
            send_frames(host_veth, frames)
            got, err = finish(app)
        ref.communicate(timeout=30)
    finally:
        if ref.poll() is None:
            ref.kill()
            ref.communicate()
    assert "0 packets dropped by kernel" in err, err
    nano, got_pkts = read_pcap_bytes(got)
    _, ref_pkts = read_pcap(ref_file)
    shutil.rmtree(os.path.dirname(ref_file), ignore_errors=True)
    assert nano
    assert [p[3] for p in ref_pkts] == frames, "root's tcpdump in the pod saw the frames as sent"
    assert [p[3] for p in got_pkts] == frames, "the app container got every frame as sent"
    assert [(p[0], p[2]) for p in got_pkts] == [(p[0], p[2]) for p in ref_pkts], \
        "timestamps and original lengths as the kernel gave them"


def test_sidecar_privileges(sidecar):
    """The app container: uid 1000, no capability in any set, no_new_privs,
    seccomp, read-only socket volume, and Debian's tcpdump (its own
    libpcap) cannot open a packet socket. mydevd's container: uid 0 holding
    CAP_NET_RAW and nothing else (bounding set too), read-only root."""
    app = status_of(container_pid(sidecar.app))
    assert app["Uid"].split()[0] == "1000"
    for which in ("Eff", "Prm", "Bnd", "Amb", "Inh"):
        assert caps(app, which) == 0, (which, app)
    assert app["NoNewPrivs"] == "1" and app["Seccomp"] == "2"
    out = podman("exec", sidecar.app, "tcpdump", "-i", "eth0", "-c", "1", check=False)
    assert out.returncode != 0
    assert "Operation not permitted" in out.stderr, out.stderr
    out = podman("exec", sidecar.app, "touch", "/run/mydev/x", check=False)
    assert out.returncode != 0 and "Read-only file system" in out.stderr, out.stderr

    d = status_of(container_pid(sidecar.mydevd))
    assert d["Name"] == "mydevd" and d["Uid"].split()[0] == "0"
    for which in ("Eff", "Prm", "Bnd"):
        assert caps(d, which) == CAP_NET_RAW, (which, d)
    assert caps(d, "Amb") == 0 and caps(d, "Inh") == 0
    assert d["NoNewPrivs"] == "1" and d["Seccomp"] == "2"
    assert "ro" in root_mount_options(container_pid(sidecar.mydevd))
    listing = podman("exec", sidecar.app, "ls", "-l", "/run/mydev/", "/run/mydev/lib/").stdout
    assert "lib -> lib." in listing and "libmydev-client.so" in listing, listing


def test_killing_the_app_container_frees_its_session(sidecar):
    """A capture runs in the app container; `podman kill` of that container
    ends it, and mydevd frees the session at once (the fd hand-off socket
    closes); mydevd serves on; the restarted container captures again."""
    p = capture_in(sidecar.app, "mydev0", SIDECAR_SOCKET, 1000000)
    _, sessions = daemon_stats(sidecar.mydevd, SIDECAR_SOCKET)
    assert [(s["device"], s["uid"]) for s in sessions] == [("mydev0", "1000")], sessions
    t0 = time.time()
    podman("kill", sidecar.app)
    p.communicate(timeout=30)
    assert wait_until(lambda: daemon_stats(sidecar.mydevd, SIDECAR_SOCKET)[1] == [], 10), \
        daemon_stats(sidecar.mydevd, SIDECAR_SOCKET)
    print("session freed %.2f s after podman kill" % (time.time() - t0))
    wait_healthy(sidecar.mydevd, SIDECAR_SOCKET)
    podman("start", sidecar.app)
    out = podman("exec", sidecar.app, "sh", "-c",
                 "LD_LIBRARY_PATH=/run/mydev/lib tcpdump -i mydev0 -c 5 -w /dev/null", timeout=60)
    assert "5 packets captured" in out.stderr, out.stderr


# ------------------------------------------------------------------ DaemonSet

def dashboard_on_port(port):
    """An edit for render(): the dashboard's --listen port, and the pod's
    prometheus.io/port annotation with it, moved to `port` (9471 may be
    taken on this host)."""
    def edit(docs):
        pod = [d for d in docs if d["kind"] == "Pod"][0]
        ann = pod["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true"
        assert ann["prometheus.io/port"] == "9471", ann
        ann["prometheus.io/port"] = str(port)
        dash = [c for c in pod["spec"]["containers"] if c["name"] == "mydev-dashboard"][0]
        listen = [a for a in dash["args"] if a.startswith("--listen")]
        assert listen == ["--listen=127.0.0.1:9471"], dash["args"]  # NODE_IP: --host-ip
        dash["args"] = [a.replace(":9471", ":%d" % port) if a.startswith("--listen") else a
                        for a in dash["args"]]
    return edit


def scrape(pod_doc):
    """GET of the dashboard's metrics where the pod's prometheus.io/*
    annotations say (the pod is on the host's network: the host's
    loopback, as --host-ip gave NODE_IP); [(name, labels, value)]."""
    ann = pod_doc["metadata"]["annotations"]
    status, body = http_get("http://127.0.0.1:%s%s" % (ann["prometheus.io/port"],
                                                       ann["prometheus.io/path"]))
    assert status == 200, (status, body[:500])
    return parse_metrics(body)


def device_packets(samples, device):
    return metric(samples, "mydev_device_packets_total", device=device)


def test_daemonset_serves_two_client_pods_on_a_host_veth(images):
    """The DaemonSet's pod template as a Pod on the host's network, its
    afpacket device on the near end of a veth pair; two client pods (uids
    1000 and 1001, the hostPath socket directory mounted read-only) capture
    it at once through the one daemon: both get every frame sent from the
    far end, byte for byte, with the same timestamps. uid 1002, not in the
    device's access rules, is refused. The dashboard container: uid 65534,
    no capability in any set, no_new_privs, seccomp, read-only root; its
    /metrics, fetched from the host where the scrape annotations point,
    says the target is up, counts the two sessions and every frame sent."""
    p = prefix()
    host_dir = tempfile.mkdtemp(prefix="mydev-node-")
    run_dir = os.path.join(host_dir, "run")
    port = free_port()
    with VethPair() as veth:
        node = render("deploy/kubernetes/daemonset.yaml", p, host_paths=[("/run/mydevd", run_dir)],
                      replace=[('interface: "eth0"', 'interface: "%s"' % veth.near)],
                      edit=dashboard_on_port(port))

        def client(n, uid):
            def edit(docs):
                docs[0]["spec"]["securityContext"]["runAsUser"] = uid
                docs[0]["spec"]["securityContext"]["runAsGroup"] = uid
            return render("deploy/kubernetes/daemonset-client-pod.yaml", "%sc%d-" % (p, n),
                          host_paths=[("/run/mydevd", run_dir)], edit=edit)

        with KubePlay(node) as daemon:
            mydevd = daemon.container("mydevd")
            wait_healthy(mydevd, NODE_SOCKET)
            pid = container_pid(mydevd)
            assert os.readlink("/proc/%d/ns/net" % pid) == os.readlink("/proc/self/ns/net"), \
                "mydevd runs on the host's network"
            assert caps(status_of(pid), "Eff") == CAP_NET_RAW

            # The dashboard sidecar: unprivileged, and scraped where the
            # annotations say.
            pod_doc = daemon.docs[[d["kind"] for d in daemon.docs].index("Pod")]
            dash = daemon.container("mydev-dashboard")
            d = status_of(container_pid(dash))
            assert d["Uid"].split()[0] == "65534" and d["Gid"].split()[0] == "65534", d
            for which in ("Eff", "Prm", "Bnd", "Amb", "Inh"):
                assert caps(d, which) == 0, (which, d)
            assert d["NoNewPrivs"] == "1" and d["Seccomp"] == "2", d
            assert "ro" in root_mount_options(container_pid(dash))
            assert os.readlink("/proc/%d/ns/net" % container_pid(dash)) == \
                os.readlink("/proc/self/ns/net"), "the dashboard listens on the host's network"
            up = {}

            def target_up():
                try:
                    up["m"] = scrape(pod_doc)
                except OSError:  # not listening yet
                    return False
                return [(l, v) for n, l, v in up["m"] if n == "mydev_target_up"] and all(
                    v == 1 for n, l, v in up["m"] if n == "mydev_target_up")
            assert wait_until(target_up, 20, interval=0.2), (
                up.get("m"), podman("logs", dash, check=False).stderr)
            print("dashboard /metrics: %s" % sorted({n for n, _, _ in up["m"]}))
            assert device_packets(up["m"], "mydev1") is not None, up["m"]

            with KubePlay(client(1, 1000)) as c1, KubePlay(client(2, 1001)) as c2:
                caps1 = capture_in(c1.container("app"), "mydev1", NODE_SOCKET, FRAMES)
                caps2 = capture_in(c2.container("app"), "mydev1", NODE_SOCKET, FRAMES)
                _, sessions = daemon_stats(mydevd, NODE_SOCKET)
                assert sorted((s["device"], s["uid"]) for s in sessions) == \
                    [("mydev1", "1000"), ("mydev1", "1001")], sessions
                assert wait_until(lambda: metric(scrape(pod_doc), "mydev_device_sessions",
                                                 device="mydev1") == 2, 10, interval=0.2), \
                    scrape(pod_doc)
                before = scrape(pod_doc)
                frames = build_frames(b"NODES", FRAMES, veth.far_mac)
                with kernel_rx_timestamps():
                    veth.send_from_far(frames)
                    got1, _ = finish(caps1)
                    got2, _ = finish(caps2)
                # The device series move: mydev1 by (at least: the veth may
                # carry the kernel's own packets too) every frame sent;
                # mydev0 (synthetic, no session open: its generator pauses)
                # is exported and makes nothing new.
                want = device_packets(before, "mydev1") + FRAMES
                assert wait_until(lambda: device_packets(scrape(pod_doc), "mydev1") >= want, 10,
                                  interval=0.2), (want, scrape(pod_doc))
                after = scrape(pod_doc)
                assert device_packets(after, "mydev0") >= device_packets(before, "mydev0")
                assert metric(after, "mydev_target_up") == 1
                print("dashboard: mydev1 packets %d -> %d, mydev0 %d -> %d" % (
                    device_packets(before, "mydev1"), device_packets(after, "mydev1"),
                    device_packets(before, "mydev0"), device_packets(after, "mydev0")))
                pkts1, pkts2 = read_pcap_bytes(got1)[1], read_pcap_bytes(got2)[1]
                assert [x[3] for x in pkts1] == frames, "client 1 got every frame as sent"
                assert [x[3] for x in pkts2] == frames, "client 2 got every frame as sent"
                assert [x[0] for x in pkts1] == [x[0] for x in pkts2], "the same timestamps"

                out = podman("exec", "--user", "1002:1002", c1.container("app"), "sh", "-c",
                             "LD_LIBRARY_PATH=/run/mydevd/lib tcpdump -i mydev1 -c 1",
                             check=False, timeout=60)
                assert out.returncode != 0
                assert "uid 1002 may not capture on mydev1" in out.stderr, out.stderr
            assert wait_until(lambda: daemon_stats(mydevd, NODE_SOCKET)[1] == [], 10)
    shutil.rmtree(host_dir, ignore_errors=True)
