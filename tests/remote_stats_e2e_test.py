"""End-to-end tests of the remote Stats listener (config stats_listener): a
real mydevd running in a network namespace of the test's own, its TLS
listener on the far end of a veth pair, Python gRPC clients (Debian's
python3-grpcio, stubs generated at test time) on the near end, certificates
made with openssl.

Covered: the right CA + client certificate and/or bearer token get
snapshots and a live stream; no credentials, an unknown token, a wrong CA
(either side), an expired certificate and plaintext to the TLS port are
refused; the `devices` scope sees no session; Capture over TCP is
UNIMPLEMENTED; gRPC health and reflection answer on the local socket, the
remote listener and the health-only port, to a client that never compiled
mydev's protos; rotating the certificate files is picked up while a
WatchStats stream and a tcpdump keep running (the tcpdump loses nothing); a
changed tokens file is picked up by itself, and at once on SIGHUP; health
says NOT_SERVING on every listener once shutdown starts; a bad config refuses
to start naming the field and its line (and a key file mydevd's own user
cannot read, once it has switched to it).

The hostile-input rows of docs/FAULTS.md (bad TLS, unknown tokens,
oversized metadata, WatchStats streams that never read, floods of
connections and handshakes) are measured here too, each with a reference
capture session (hostile_client `reader`) that must lose nothing; the table
is printed at the end (-s) and written to the undeclared outputs
(remote_faults_figures.md)."""
import errno
import os
import pwd
import random
import re
import resource
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import grpc
import pytest

from e2e.fault_table import FaultTable, reader_summary
from e2e.daemon import DAEMON_USER, Daemon, ensure_daemon_user
from e2e.frames import seq_of
from e2e.grpc_stubs import dynamic_get_stats, generate_stubs, health, list_services
from e2e.hostile import assert_clean_reader, reference_reader
from e2e.netns import VethPair
from e2e.pcap_files import read_pcap
from e2e.pki import Pki
from e2e.proc_status import process_resources, process_status
from e2e.run_as import signal_child
from e2e.stage import Stage, runfile
from e2e.tcpdump import wait_listening
from e2e.waiting import wait_until

PORT, HEALTH_PORT = 9470, 9471
RATE_PPS = 2000
MAX_WATCHERS, MAX_WATCHERS_PER_CLIENT = 8, 2
MAX_CONNECTIONS, MAX_PER_ADDRESS = 64, 16
WATCH_NAMES = ["w%d" % i for i in range(1, 7)]

FIGURES = FaultTable("REMOTE FAULTS FIGURES", "remote_faults_figures.md")
record = FIGURES.record


@pytest.fixture(scope="module")
def stage():
    # Floods open a thousand sockets.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    with Stage() as s:
        yield s
    FIGURES.write()


@pytest.fixture(scope="module")
def stubs(stage):
    return generate_stubs(os.path.join(stage.root, "stubs"), runfile("proto/mydev.proto"))


class Net:
    """The veth pair: mydevd's namespace holds `far` (FAR_IP); the near end
    (this namespace) has NEAR_IP and FLOOD_IPS, sources for floods."""

    def __init__(self, veth):
        self.veth = veth
        a = 20 + os.getpid() % 200
        self.prefix = "198.18.%d." % a
        self.far_ip = self.prefix + "2"
        self.near_ip = self.prefix + "1"
        self.flood_ips = [self.prefix + str(i) for i in range(3, 8)]
        for ip in [self.near_ip] + self.flood_ips:
            subprocess.run(["ip", "addr", "add", ip + "/24", "dev", veth.near], check=True)
        subprocess.run(["ip", "-n", veth.ns, "addr", "add", self.far_ip + "/24", "dev", veth.far],
                       check=True)
        subprocess.run(["ip", "-n", veth.ns, "link", "set", "lo", "up"], check=True)
        self.target = "%s:%d" % (self.far_ip, PORT)
        self.health_target = "%s:%d" % (self.far_ip, HEALTH_PORT)


@pytest.fixture(scope="module")
def net():
    with VethPair() as veth:
        yield Net(veth)


class Tls:
    """The test PKI: ca1 (the clients' and server's CA), ca2 (a stranger),
    ca3 (the rotation's); the live files mydevd reads, owned by its user."""

    def __init__(self, root, far_ip):
        self.pki = Pki(os.path.join(root, "pki"))
        p = self.pki
        self.ca1, self.ca2, self.ca3 = p.ca("ca1"), p.ca("ca2"), p.ca("ca3")
        self.server1 = p.cert("server1", self.ca1, ips=[far_ip])
        self.server3 = p.cert("server3", self.ca3, ips=[far_ip])
        self.dash = p.cert("dash", self.ca1)
        self.intruder = p.cert("intruder", self.ca2)
        self.expired = p.cert("expired", self.ca1, expired=True)
        self.dash3 = p.cert("dash3", self.ca3)
        self.live = os.path.join(root, "tls")
        os.makedirs(self.live, mode=0o755)
        self.cert_file = os.path.join(self.live, "server.crt")
        self.key_file = os.path.join(self.live, "server.key")
        self.ca_file = os.path.join(self.live, "clients-ca.crt")
        self.install(self.server1, self.ca1)

    def install(self, server, client_ca):
        """Rotates the live files as a deploy tool would: new files renamed
        over the old ones (key first, then the certificate)."""
        ensure_daemon_user()
        pw = pwd.getpwnam(DAEMON_USER)
        for src, dst in ((server.key, self.key_file), (server.crt, self.cert_file),
                         (client_ca.crt, self.ca_file)):
            tmp = dst + ".new"
            shutil.copy(src, tmp)
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
            os.chmod(tmp, 0o600)
            os.rename(tmp, dst)


@pytest.fixture(scope="module")
def tls(stage, net):
    return Tls(stage.root, net.far_ip)


def write_tokens(path, tokens):
    """tokens: {name: (token, scope)}; the file owned by mydevd's user, 0600."""
    ensure_daemon_user()
    pw = pwd.getpwnam(DAEMON_USER)
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write("# test tokens: TOKEN SCOPE NAME\n")
        for name, (token, scope) in tokens.items():
            f.write("%s %s %s\n" % (token, scope, name))
    os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


class Remote:
    """mydevd in the namespace, with its remote listener."""

    def __init__(self, stage, net, tls):
        self.net, self.tls = net, tls
        self.tokens_file = os.path.join(stage.root, "stats-tokens")
        self.tokens = {"grafana": (secrets.token_hex(16), "sessions"),
                       "wall": (secrets.token_hex(16), "devices")}
        for name in WATCH_NAMES:
            self.tokens[name] = (secrets.token_hex(16), "devices")
        write_tokens(self.tokens_file, self.tokens)
        config = ('device { name: "mydev0" synthetic { rate_pps: %d } }\n' % RATE_PPS +
                  "limits { default_ring_bytes: 1048576 max_ring_bytes: 16777216 }\n" +
                  "stats_listener {\n"
                  '  address: "%s"\n' % net.target +
                  '  tls { cert_file: "%s" key_file: "%s" client_ca_file: "%s" }\n' % (
                      tls.cert_file, tls.key_file, tls.ca_file) +
                  '  tokens_file: "%s"\n' % self.tokens_file +
                  '  health_address: "%s"\n' % net.health_target +
                  "  reload_interval_s: 1\n"
                  "  max_watchers: %d max_watchers_per_client: %d\n" % (
                      MAX_WATCHERS, MAX_WATCHERS_PER_CLIENT) +
                  "  max_connections: %d max_connections_per_address: %d\n" % (
                      MAX_CONNECTIONS, MAX_PER_ADDRESS) +
                  "}\n")
        self.d = Daemon(stage, config)
        self.d.LAUNCHER = net.veth.in_ns([])

    def token(self, name):
        return self.tokens[name][0]


@pytest.fixture(scope="module")
def remote(stage, net, tls):
    r = Remote(stage, net, tls)
    try:
        with r.d:
            yield r
            r.d.assert_alive()
    finally:
        out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
        if out_dir and os.path.exists(r.d.log_path):
            shutil.copy(r.d.log_path, os.path.join(out_dir, "mydevd-remote.log"))


# ------------------------------------------------------------------ clients


def bearer(token):
    return (("authorization", "Bearer " + token),)


def tls_creds(tls, client=None, ca=None):
    root = (ca or tls.ca1).pem()
    if client is None:
        return grpc.ssl_channel_credentials(root)
    return grpc.ssl_channel_credentials(root, client.key_pem(), client.pem())


def secure(target, creds):
    # A channel of its own each time: no connection shared between cases.
    return grpc.secure_channel(target, creds, options=[("grpc.use_local_subchannel_pool", 1)])


def plain(target):
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def get_stats(stubs, channel, metadata=None):
    return stubs.mydev_pb2_grpc.StatsStub(channel).GetStats(stubs.mydev_pb2.GetStatsRequest(),
                                                            metadata=metadata, timeout=5)


def code_of(fn):
    """"OK", or the gRPC status code name fn's call failed with."""
    try:
        fn()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


def local_get_stats_ms(stubs, d):
    """GetStats on the local Unix socket, in ms (asserts it answers)."""
    with plain("unix:" + d.socket) as ch:
        t0 = time.time()
        snap = get_stats(stubs, ch)
        assert snap.scope == stubs.mydev_pb2.STATS_SCOPE_LOCAL
        return (time.time() - t0) * 1000


def tcpdump(stage, d, path):
    p = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-w", path], d.socket)
    wait_listening(p)
    return p


def stop_tcpdump_lossless(p, path):
    """SIGINT, then: tcpdump says 0 dropped, and the file holds consecutive
    synthetic sequence numbers. Returns the packet count."""
    signal_child(p, signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert b"\n0 packets dropped by kernel" in err, err
    seqs = [seq_of(pkt[3]) for pkt in read_pcap(path)[1]]
    assert seqs and None not in seqs
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the tcpdump session lost packets"
    return len(seqs)


class Watcher:
    """A WatchStats stream read on a thread: snapshot arrival times."""

    def __init__(self, stubs, channel, interval_ms=200, metadata=None):
        self.call = stubs.mydev_pb2_grpc.StatsStub(channel).WatchStats(
            stubs.mydev_pb2.WatchStatsRequest(interval_ms=interval_ms), metadata=metadata)
        self.times, self.snaps, self.error = [], [], None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for snap in self.call:
                self.times.append(time.time())
                self.snaps.append(snap)
        except grpc.RpcError as e:
            self.error = e.code().name

    def max_gap(self, since=0.0):
        t = [x for x in self.times if x >= since]
        return max((b - a for a, b in zip(t, t[1:])), default=0.0)

    def stop(self):
        self.call.cancel()
        self.thread.join(timeout=5)


# ------------------------------------------------------------------ functions


def test_certificate_and_token_get_snapshots_and_a_stream(stage, stubs, remote, tls):
    d, target = remote.d, remote.net.target
    cap = tcpdump(stage, d, "/dev/null")
    try:
        with secure(target, tls_creds(tls, tls.dash)) as ch:  # client certificate alone
            snap = get_stats(stubs, ch)
            assert snap.scope == stubs.mydev_pb2.STATS_SCOPE_SESSIONS
            assert snap.host == socket.gethostname()
            assert [s.uid for s in snap.sessions] == [65534], snap  # owners shown
            assert snap.devices[0].name == "mydev0" and snap.devices[0].sessions == 1
            w = Watcher(stubs, ch, interval_ms=100)
            assert wait_until(lambda: len(w.snaps) >= 5, 5), w.snaps
            w.stop()
            times = [s.time_ns for s in w.snaps[:5]]
            assert times == sorted(times) and times[-1] - times[0] >= 300e6, times
        with secure(target, tls_creds(tls)) as ch:  # a token alone (no certificate)
            snap = get_stats(stubs, ch, bearer(remote.token("grafana")))
            assert snap.scope == stubs.mydev_pb2.STATS_SCOPE_SESSIONS
            assert len(snap.sessions) == 1
    finally:
        signal_child(cap, signal.SIGINT)
        cap.communicate(timeout=10)
    assert "remote Stats client cert CN=dash,O=mydev-e2e (scope sessions)" in d.log_text()


def test_devices_scope_sees_no_session(stage, stubs, remote, tls):
    cap = tcpdump(stage, remote.d, "/dev/null")
    try:
        # A token decides over the certificate sent with it.
        with secure(remote.net.target, tls_creds(tls, tls.dash)) as ch:
            snap = get_stats(stubs, ch, bearer(remote.token("wall")))
            assert snap.scope == stubs.mydev_pb2.STATS_SCOPE_DEVICES
            assert len(snap.sessions) == 0
            assert snap.devices[0].sessions == 1  # the counters still say one
            w = Watcher(stubs, ch, interval_ms=100, metadata=bearer(remote.token("wall")))
            assert wait_until(lambda: len(w.snaps) >= 2, 5)
            w.stop()
            assert all(len(s.sessions) == 0 for s in w.snaps)
    finally:
        signal_child(cap, signal.SIGINT)
        cap.communicate(timeout=10)


def test_refused_credentials(stubs, remote, tls):
    target = remote.net.target
    cases = {
        "no certificate, no token": (tls_creds(tls), None, "UNAUTHENTICATED"),
        "unknown token": (tls_creds(tls), bearer(secrets.token_hex(16)), "UNAUTHENTICATED"),
        "unknown token with a good certificate": (tls_creds(tls, tls.dash),
                                                  bearer(secrets.token_hex(16)),
                                                  "UNAUTHENTICATED"),
        "client certificate of another CA": (tls_creds(tls, tls.intruder), None, "UNAVAILABLE"),
        "expired client certificate": (tls_creds(tls, tls.expired), None, "UNAVAILABLE"),
        "server not trusted (client trusts another CA)": (tls_creds(tls, tls.dash, tls.ca2),
                                                          None, "UNAVAILABLE"),
    }
    for what, (creds, md, want) in cases.items():
        with secure(target, creds) as ch:
            assert code_of(lambda: get_stats(stubs, ch, md)) == want, what
    with plain(target) as ch:  # plaintext to the TLS port
        assert code_of(lambda: get_stats(stubs, ch, bearer(remote.token("grafana")))) == \
            "UNAVAILABLE"
    log = remote.d.log_text()
    assert "remote Stats call refused" in log
    for token, _ in remote.tokens.values():
        assert token not in log


def test_tokens_file_change_picked_up_without_a_signal(stubs, remote, tls):
    late = secrets.token_hex(16)
    with secure(remote.net.target, tls_creds(tls)) as ch:
        assert code_of(lambda: get_stats(stubs, ch, bearer(late))) == "UNAUTHENTICATED"
        write_tokens(remote.tokens_file, dict(remote.tokens, late=(late, "devices")))
        t0 = time.time()
        assert wait_until(lambda: code_of(lambda: get_stats(stubs, ch, bearer(late))) == "OK",
                          5, interval=0.1), "reload_interval_s 1: the new token within 5 s"
        took = time.time() - t0
        write_tokens(remote.tokens_file, remote.tokens)
        assert wait_until(
            lambda: code_of(lambda: get_stats(stubs, ch, bearer(late))) == "UNAUTHENTICATED", 5,
            interval=0.1), "a removed token is refused again"
    assert "re-read the tokens file %s (it changed)" % remote.tokens_file in remote.d.log_text()
    print("tokens file change picked up after %.1f s" % took)


def test_capture_is_unimplemented_over_tcp(stubs, remote, tls):
    m = stubs.mydev_pb2
    with secure(remote.net.target, tls_creds(tls, tls.dash)) as ch:
        capture = stubs.mydev_pb2_grpc.CaptureStub(ch)
        md = bearer(remote.token("grafana"))
        assert code_of(lambda: capture.ListDevices(m.ListDevicesRequest(), metadata=md,
                                                   timeout=5)) == "UNIMPLEMENTED"
        assert code_of(lambda: capture.OpenSession(m.OpenSessionRequest(device="mydev0"),
                                                   metadata=md, timeout=5)) == "UNIMPLEMENTED"


def test_health_and_reflection_on_every_listener(stubs, remote, tls):
    d = remote.d
    with plain("unix:" + d.socket) as ch:  # the local socket
        for service in ("", "mydev.v1.Stats", "mydev.v1.Capture"):
            assert health(stubs, ch, service) == "SERVING", service
        services = list_services(stubs, ch)
        assert {"mydev.v1.Capture", "mydev.v1.Stats",
                "grpc.reflection.v1alpha.ServerReflection"} <= set(services), services
        assert dynamic_get_stats(stubs, ch).scope == 3  # STATS_SCOPE_LOCAL
    with secure(remote.net.target, tls_creds(tls, tls.dash)) as ch:  # the TLS listener
        assert health(stubs, ch) == "SERVING"
        assert health(stubs, ch, "mydev.v1.Stats") == "SERVING"
        assert code_of(lambda: health(stubs, ch, "mydev.v1.Capture")) == "NOT_FOUND"
        services = list_services(stubs, ch)
        assert "mydev.v1.Stats" in services and "mydev.v1.Capture" not in services, services
        snap = dynamic_get_stats(stubs, ch)  # descriptors from reflection, no mydev_pb2
        assert snap.scope == 2 and snap.devices[0].name == "mydev0"  # STATS_SCOPE_SESSIONS
    with plain(remote.net.health_target) as ch:  # the plaintext health-only port
        for service in ("", "mydev.v1.Stats", "mydev.v1.Capture"):
            assert health(stubs, ch, service) == "SERVING", service
        assert code_of(lambda: list_services(stubs, ch)) == "UNIMPLEMENTED"
        assert code_of(lambda: get_stats(stubs, ch, bearer(remote.token("grafana")))) == \
            "UNIMPLEMENTED"


def test_certificate_rotation_while_streaming_and_capturing(stage, stubs, remote, tls):
    d, target = remote.d, remote.net.target
    pcap = stage.out("rotation.pcap")
    cap = tcpdump(stage, d, pcap)
    ch = secure(target, tls_creds(tls, tls.dash))
    w = Watcher(stubs, ch, interval_ms=200)
    try:
        assert wait_until(lambda: len(w.snaps) >= 2, 5)
        t_rotate = time.time()
        tls.install(tls.server3, tls.ca3)  # a new server certificate and client CA

        def new_ca_works():
            with secure(target, tls_creds(tls, tls.dash3, tls.ca3)) as c:
                return code_of(lambda: get_stats(stubs, c)) == "OK"
        assert wait_until(new_ca_works, 10, interval=0.2), "the rotation was not picked up"
        picked_up = time.time() - t_rotate
        # The old ones are refused on new connections: the server's certificate
        # (by ca1) and the client's (ca1 is no longer the client CA).
        with secure(target, tls_creds(tls, tls.dash)) as c:
            assert code_of(lambda: get_stats(stubs, c)) == "UNAVAILABLE"
        with secure(target, tls_creds(tls, tls.dash, tls.ca3)) as c:
            assert code_of(lambda: get_stats(stubs, c)) == "UNAVAILABLE"
        time.sleep(1.0)
        # The stream opened before the rotation never stopped.
        assert w.error is None, w.error
        assert w.max_gap(since=t_rotate - 1) < 0.6, w.times
        assert len([t for t in w.times if t > t_rotate + picked_up]) >= 3
    finally:
        w.stop()
        ch.close()
        tls.install(tls.server1, tls.ca1)
    packets = stop_tcpdump_lossless(cap, pcap)

    def old_ca_back():
        with secure(target, tls_creds(tls, tls.dash)) as c:
            return code_of(lambda: get_stats(stubs, c)) == "OK"
    assert wait_until(old_ca_back, 10, interval=0.2)
    record("certificate, key and client CA replaced (renamed over) while a WatchStats stream "
           "(200 ms) and a tcpdump run", 1,
           "new connections get the new certificate after %.1f s (reload_interval_s 1), clients "
           "of the old CA are refused; the open stream never paused (largest gap %.2f s)" % (
               picked_up, w.max_gap()),
           "the tcpdump: %d packets, consecutive sequence numbers, 0 dropped by kernel" % packets)


def test_sighup_rereads_tokens(stage, stubs):
    ensure_daemon_user()
    tokens_file = os.path.join(stage.root, "sighup-tokens")
    old, new = secrets.token_hex(16), secrets.token_hex(16)
    write_tokens(tokens_file, {"old": (old, "sessions")})
    port = 20000 + os.getpid() % 20000
    target = "127.0.0.1:%d" % port
    config = ('device { name: "mydev0" synthetic { rate_pps: %d } }\n' % RATE_PPS +
              'stats_listener { address: "%s" plaintext: true tokens_file: "%s" '
              "reload_interval_s: 3600 }\n" % (target, tokens_file))
    with Daemon(stage, config) as d, reference_reader(stage, d.socket) as ref:
        with plain(target) as ch:
            assert code_of(lambda: get_stats(stubs, ch, bearer(old))) == "OK"
            write_tokens(tokens_file, {"old": (old, "devices"), "new": (new, "sessions")})
            time.sleep(0.3)  # the file is checked hourly here: only SIGHUP reads it
            assert code_of(lambda: get_stats(stubs, ch, bearer(new))) == "UNAUTHENTICATED"
            t0 = time.time()
            d.proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda: code_of(lambda: get_stats(stubs, ch, bearer(new))) == "OK",
                              5, interval=0.02)
            took = time.time() - t0
            assert get_stats(stubs, ch, bearer(old)).scope == stubs.mydev_pb2.STATS_SCOPE_DEVICES
        time.sleep(0.5)
        ref.stop()
        assert_clean_reader(ref.result)
        d.assert_alive()
        log = d.log_text()
    assert "SIGHUP received" in log
    assert re.search(r"re-read the tokens file \S+ \(SIGHUP\): 2 tokens: old \(devices\), "
                     r"new \(sessions\)", log), log
    assert old not in log and new not in log
    record("tokens file rewritten, then SIGHUP (reload_interval_s 3600)", 1,
           "the new token accepted %.0f ms after the signal (not before it); logged with the "
           "token names only" % (took * 1000), reader_summary(ref.result))


def test_health_not_serving_while_shutting_down(stage, stubs):
    tokens_file = os.path.join(stage.root, "health-tokens")
    write_tokens(tokens_file, {"x": (secrets.token_hex(16), "devices")})
    port = 20000 + (os.getpid() + 7) % 20000
    config = ('device { name: "mydev0" synthetic {} }\n'
              'stats_listener { address: "127.0.0.1:%d" plaintext: true tokens_file: "%s" '
              'health_address: "127.0.0.1:%d" }\n' % (port, tokens_file, port + 1))
    name = stubs.health_pb2.HealthCheckResponse.ServingStatus.Name
    d = Daemon(stage, config).start()
    seen = {}

    def watch(where, channel):
        # Read from the start: a client's unread messages may be dropped when
        # the connection ends.
        seen[where] = []
        w = stubs.health_pb2_grpc.HealthStub(channel).Watch(
            stubs.health_pb2.HealthCheckRequest(service="mydev.v1.Stats"), timeout=15)
        try:
            for resp in w:
                seen[where].append(name(resp.status))
        except grpc.RpcError:
            pass  # the server went away after saying so

    channels = {"local": plain("unix:" + d.socket),
                "remote": plain("127.0.0.1:%d" % port),
                "health port": plain("127.0.0.1:%d" % (port + 1))}
    try:
        threads = [threading.Thread(target=watch, args=item) for item in channels.items()]
        for t in threads:
            t.start()
        assert wait_until(lambda: all(seen.get(w) for w in channels), 5), seen
        assert d.stop() == 0
        for t in threads:
            t.join(timeout=10)
    finally:
        d.stop()
        for ch in channels.values():
            ch.close()
    for where, statuses in seen.items():
        assert statuses[:2] == ["SERVING", "NOT_SERVING"], (where, statuses)


def test_certificates_alone_are_required(stage, stubs, net, tls):
    """client_ca_file without tokens_file: no client certificate, no TLS."""
    port = 20000 + (os.getpid() + 13) % 20000
    config = ('device { name: "mydev0" synthetic {} }\n'
              'stats_listener { address: "127.0.0.1:%d" tls { cert_file: "%s" key_file: "%s" '
              'client_ca_file: "%s" } client_cert_scope: "devices" }\n' % (
                  port, tls.cert_file, tls.key_file, tls.ca_file))
    target = "127.0.0.1:%d" % port
    # The server's certificate names the veth address: check it against that.
    name = [("grpc.ssl_target_name_override", net.far_ip), ("grpc.use_local_subchannel_pool", 1)]
    with Daemon(stage, config) as d:
        with grpc.secure_channel(target, tls_creds(tls), options=name) as ch:
            assert code_of(lambda: get_stats(stubs, ch, bearer(secrets.token_hex(16)))) == \
                "UNAVAILABLE"  # the handshake itself fails: a certificate is required
        with grpc.secure_channel(target, tls_creds(tls, tls.dash), options=name) as ch:
            snap = get_stats(stubs, ch)
            assert snap.scope == stubs.mydev_pb2.STATS_SCOPE_DEVICES  # client_cert_scope
        with grpc.secure_channel(target, tls_creds(tls, tls.dash), options=name) as ch:
            md = bearer(secrets.token_hex(16))  # no tokens_file: a token is refused
            assert code_of(lambda: get_stats(stubs, ch, md)) == "UNAUTHENTICATED"
        d.assert_alive()


def run_refused(stage, config_text, name):
    """mydevd with config_text: must exit 1 at start; returns its stderr."""
    path = os.path.join(stage.root, name)
    with open(path, "w") as f:
        f.write(config_text)
    ensure_daemon_user()
    # A socket directory mydevd makes (and gives its user) itself.
    sock = os.path.join(stage.root, name + ".run", "mydevd.sock")
    r = subprocess.run([stage.bin("mydevd"), "--socket", sock, "--config", path, "--user",
                        DAEMON_USER], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    return path, r.stderr


def test_bad_config_refuses_to_start(stage, tls):
    path, err = run_refused(stage, 'device { name: "mydev0" synthetic {} }\n'
                                   "stats_listener {\n"
                                   '  address: "0.0.0.0:9470"\n'
                                   "  plaintext: true\n"
                                   '  tokens_file: "/nonexistent"\n'
                                   "}\n", "plaintext.conf")
    assert ("mydevd: %s:3:3: stats_listener.address '0.0.0.0:9470': plaintext is allowed only "
            "on a loopback address (127.0.0.1, [::1]): remove `plaintext: true` and add tls { "
            'cert_file: "server.crt" key_file: "server.key" }, or listen on 127.0.0.1 or [::1]'
            % path) in err, err
    # A key only root may read: refused once mydevd runs as its own user.
    root_key = os.path.join(stage.root, "root-only.key")
    shutil.copy(tls.server1.key, root_key)
    os.chown(root_key, 0, 0)
    os.chmod(root_key, 0o600)
    tokens = os.path.join(stage.root, "refused-tokens")
    write_tokens(tokens, {"x": (secrets.token_hex(16), "devices")})
    _, err = run_refused(stage, 'stats_listener { address: "127.0.0.1:0" tls { cert_file: "%s" '
                                'key_file: "%s" } tokens_file: "%s" }\n' % (
                                    tls.cert_file, root_key, tokens), "rootkey.conf")
    assert ("stats_listener.tls.key_file '%s': cannot read it (Permission denied): check the "
            "path, and that the user mydevd runs as may read it (mydevd runs as uid %d" % (
                root_key, pwd.getpwnam(DAEMON_USER).pw_uid)) in err, err


# ------------------------------------------------------------------ faults


def daemon_threads(d):
    return int(process_status(d.proc.pid)["Threads"])


def daemon_fds(d):
    return process_resources(d.proc.pid)[0]


def grpc_log_lines(d):
    return len(re.findall(r"\n\S+ [WE] grpc: ", d.log_text()))


def test_fault_bad_tls(stage, stubs, remote, tls):
    d, target = remote.d, remote.net.target
    n = 40
    lines0 = grpc_log_lines(d)
    with reference_reader(stage, d.socket) as ref:
        t0 = time.time()
        codes = {}
        for i in range(n):
            for what, make in (("plaintext", lambda: plain(target)),
                               ("other CA", lambda: secure(target, tls_creds(tls, tls.intruder))),
                               ("expired", lambda: secure(target, tls_creds(tls, tls.expired)))):
                with make() as ch:
                    c = code_of(lambda: get_stats(stubs, ch, bearer(remote.token("grafana"))))
                codes.setdefault(what, set()).add(c)
            # Random bytes instead of a ClientHello. Usually refused at once;
            # bytes that happen to start a record longer than 300 bytes (e.g.
            # a first byte of 0x16) leave the server waiting for the rest, and
            # then its 10 s handshake timeout (remote_stats_server.cc) closes
            # the connection: wait past that, not less.
            with socket.create_connection((remote.net.far_ip, PORT), timeout=15) as s:
                s.sendall(random.randbytes(300))
                try:
                    while s.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
        took = time.time() - t0
        local_ms = local_get_stats_ms(stubs, d)
        with secure(target, tls_creds(tls, tls.dash)) as ch:
            assert code_of(lambda: get_stats(stubs, ch)) == "OK"
        time.sleep(0.5)
        ref.stop()
    assert codes == {"plaintext": {"UNAVAILABLE"}, "other CA": {"UNAVAILABLE"},
                     "expired": {"UNAVAILABLE"}}, codes
    assert_clean_reader(ref.result)
    d.assert_alive()
    logged = grpc_log_lines(d) - lines0
    assert logged <= 30, logged  # gRPC's handshake errors, rate-limited
    record("bad TLS: plaintext gRPC, a client certificate of another CA, an expired one, 300 "
           "random bytes, to the TLS port", 4 * n,
           "refused each (UNAVAILABLE: handshake failed / socket closed), %.1f ms per attempt; "
           "%d gRPC log lines for %d failed handshakes (5 per source line per 10 s); a good "
           "client then OK, local GetStats %.0f ms" % (took * 1000 / (4 * n), logged, 4 * n,
                                                        local_ms),
           reader_summary(ref.result))


def test_fault_unknown_tokens(stage, stubs, remote, tls):
    d = remote.d
    n = 500
    log0 = len(d.log_text())
    tried = [secrets.token_hex(16) for _ in range(n)]
    with reference_reader(stage, d.socket) as ref:
        with secure(remote.net.target, tls_creds(tls)) as ch:
            stub = stubs.mydev_pb2_grpc.StatsStub(ch)
            t0 = time.time()
            codes = set()
            for token in tried:
                codes.add(code_of(lambda: stub.GetStats(stubs.mydev_pb2.GetStatsRequest(),
                                                        metadata=bearer(token), timeout=5)))
            took = time.time() - t0
            good = get_stats(stubs, ch, bearer(remote.token("grafana")))
        local_ms = local_get_stats_ms(stubs, d)
        time.sleep(0.3)
        ref.stop()
    assert codes == {"UNAUTHENTICATED"}, codes
    assert good.scope == stubs.mydev_pb2.STATS_SCOPE_SESSIONS
    assert_clean_reader(ref.result)
    new_log = d.log_text()[log0:]
    refusal_lines = new_log.count("remote Stats call")
    assert refusal_lines <= 3, new_log
    assert not any(t in new_log for t in tried), "a token reached the log"
    record("unknown bearer tokens (random 32 hex digits), one TLS connection", n,
           "UNAUTHENTICATED each, %.2f ms per call; %d log lines (refusals logged at most every "
           "10 s, with a count; no token in the log); the right token on the same connection "
           "then OK; local GetStats %.0f ms" % (took * 1000 / n, refusal_lines, local_ms),
           reader_summary(ref.result))


def test_fault_oversized_metadata(stage, stubs, remote, tls):
    d = remote.d
    sizes = {"one 16 KiB header": [("x-pad", "a" * 16384)],
             "one 1 MiB header": [("x-pad", "a" * (1 << 20))],
             "500 headers of 100 B": [("x-pad-%d" % i, "a" * 100) for i in range(500)],
             "a 9 KiB bearer token": [("authorization", "Bearer " + "a" * 9216)]}
    got, kept = {}, {}
    with reference_reader(stage, d.socket) as ref:
        for what, md in sizes.items():
            with secure(remote.net.target, tls_creds(tls, tls.dash)) as ch:
                t0 = time.time()
                got[what] = (code_of(lambda: get_stats(stubs, ch, md)), time.time() - t0)
                kept[what] = code_of(lambda: get_stats(stubs, ch))  # the same connection
            with secure(remote.net.target, tls_creds(tls, tls.dash)) as ch:
                assert code_of(lambda: get_stats(stubs, ch)) == "OK", what
        local_ms = local_get_stats_ms(stubs, d)
        time.sleep(0.3)
        ref.stop()
    for what, (code, _) in got.items():
        assert code != "OK", (what, code)
    assert_clean_reader(ref.result)
    d.assert_alive()
    record("oversized request metadata (gRPC max_metadata_size 8 KiB): " + ", ".join(sizes),
           len(sizes),
           "; ".join("%s: %s in %.0f ms (then on that channel: %s)" % (w, c, s * 1000, kept[w])
                     for w, (c, s) in got.items()) +
           "; a new connection then OK; local GetStats %.0f ms" % local_ms,
           reader_summary(ref.result))


def test_fault_watch_streams_that_never_read(stage, stubs, remote, tls):
    d = remote.d
    per_name = 3
    with reference_reader(stage, d.socket) as ref:
        threads0 = daemon_threads(d)
        channels, calls, outcome = [], [], []
        for name in WATCH_NAMES:
            ch = secure(remote.net.target, tls_creds(tls))
            channels.append(ch)
            for _ in range(per_name):
                call = stubs.mydev_pb2_grpc.StatsStub(ch).WatchStats(
                    stubs.mydev_pb2.WatchStatsRequest(interval_ms=100),
                    metadata=bearer(remote.token(name)))
                try:
                    next(call)  # the first snapshot, then never read again
                    outcome.append("open")
                except grpc.RpcError as e:
                    outcome.append(e.code().name + ": " + e.details())
                calls.append(call)
        opened = outcome.count("open")
        refused = [o for o in outcome if o != "open"]
        time.sleep(5)  # 5 s of snapshots nobody reads
        threads = daemon_threads(d)
        with secure(remote.net.target, tls_creds(tls, tls.dash)) as ch:
            t0 = time.time()
            assert get_stats(stubs, ch).scope == stubs.mydev_pb2.STATS_SCOPE_SESSIONS
            dash_ms = (time.time() - t0) * 1000
        local_ms = local_get_stats_ms(stubs, d)
        for call in calls:
            call.cancel()
        for ch in channels:
            ch.close()
        time.sleep(0.5)
        with secure(remote.net.target, tls_creds(tls, tls.dash)) as ch:
            again = Watcher(stubs, ch, interval_ms=100)
            assert wait_until(lambda: len(again.snaps) >= 1, 5), "a stream opens after the flood"
            again.stop()
        ref.stop()
    assert opened == MAX_WATCHERS, outcome
    per_client = [r for r in refused if "max_watchers_per_client" in r]
    total = [r for r in refused if "stats_listener.max_watchers %d" % MAX_WATCHERS in r]
    assert len(per_client) + len(total) == len(refused), refused
    assert all(r.startswith("RESOURCE_EXHAUSTED") for r in refused), refused
    assert threads <= threads0 + MAX_WATCHERS + 4, (threads0, threads)
    assert_clean_reader(ref.result)
    record("WatchStats streams that never read past the first snapshot (100 ms interval): 6 "
           "tokens x %d, held 5 s" % per_name, len(WATCH_NAMES) * per_name,
           "%d open (max_watchers %d, %d per client), %d RESOURCE_EXHAUSTED (%d per client, %d "
           "in all); daemon threads %d -> %d (remote pool bounded at %d + 8); meanwhile a "
           "dashboard's GetStats %.0f ms, local GetStats %.0f ms; a stream opens once they are "
           "gone" % (opened, MAX_WATCHERS, MAX_WATCHERS_PER_CLIENT, len(refused), len(per_client),
                     len(total), threads0, threads, MAX_WATCHERS, dash_ms, local_ms),
           reader_summary(ref.result))


def open_idle(far_ip, sources, per_source):
    """TCP connections that send nothing, from each source address; returns
    (held, reset, failed) once the daemon had 1 s to refuse: the sockets
    still open, those reset, and the number whose connect() failed."""
    socks, failed = [], {}
    for src in sources:
        for _ in range(per_source):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.settimeout(5)
            try:
                s.connect((far_ip, PORT))
            except OSError as e:
                failed[e.errno] = failed.get(e.errno, 0) + 1
                s.close()
                continue
            socks.append(s)
    time.sleep(1.0)
    held, reset = [], []
    readable, _, _ = select.select(socks, [], [], 0)
    for s in socks:
        if s in readable:
            try:
                s.recv(1)
            except OSError:
                pass
            reset.append(s)
        else:
            held.append(s)
    return held, reset, failed


def test_fault_connection_flood(stage, stubs, remote, tls):
    d, net = remote.d, remote.net
    with reference_reader(stage, d.socket) as ref:
        fds0 = daemon_fds(d)
        # One host, 1000 idle connections: its share is max_connections_per_address.
        t0 = time.time()
        held, reset, failed_one = open_idle(net.far_ip, net.flood_ips[:1], 1000)
        flood_s = time.time() - t0
        fds_one = daemon_fds(d)
        with secure(net.target, tls_creds(tls, tls.dash)) as ch:
            t1 = time.time()
            assert get_stats(stubs, ch).scope == stubs.mydev_pb2.STATS_SCOPE_SESSIONS
            dash_ms = (time.time() - t1) * 1000
        local_ms = local_get_stats_ms(stubs, d)
        # Never a TLS handshake: the server drops them after its 10 s handshake timeout.
        t_idle = time.time()
        assert wait_until(lambda: all(s in select.select(held, [], [], 0)[0] for s in held), 15,
                          interval=0.2), "idle connections were not reaped"
        reaped_s = time.time() - t_idle + 1.0  # + the 1 s open_idle waited
        for s in held + reset:
            s.close()
        n_held_one, n_reset_one = len(held), len(reset)

        # Four hosts, 100 each: together they fill max_connections.
        held, reset, failed_all = open_idle(net.far_ip, net.flood_ips[1:5], 100)
        with secure(net.target, tls_creds(tls, tls.dash)) as ch:
            t1 = time.time()
            full_code = code_of(lambda: get_stats(stubs, ch))
            full_ms = (time.time() - t1) * 1000
        full_local_ms = local_get_stats_ms(stubs, d)
        for s in held + reset:
            s.close()
        n_held_all = len(held)
        t1 = time.time()

        def dash_ok():
            with secure(net.target, tls_creds(tls, tls.dash)) as c:
                return code_of(lambda: get_stats(stubs, c)) == "OK"
        assert wait_until(dash_ok, 10, interval=0.05)
        back_ms = (time.time() - t1) * 1000
        fds_after = daemon_fds(d)
        time.sleep(0.3)
        ref.stop()
    # A reset can beat connect()'s return: those fail with ECONNRESET.
    n_reset_one += failed_one.pop(errno.ECONNRESET, 0)
    assert n_held_one == MAX_PER_ADDRESS and n_reset_one == 1000 - MAX_PER_ADDRESS, (
        n_held_one, n_reset_one, failed_one)
    assert n_held_all == MAX_CONNECTIONS, (n_held_all, failed_all)
    assert full_code == "UNAVAILABLE" and full_ms < 2000, (full_code, full_ms)
    # Three descriptors a connection: the TCP socket, both ends of the Unix hop.
    assert fds_one <= fds0 + 3 * MAX_PER_ADDRESS + 8, (fds0, fds_one)
    assert fds_after <= fds0 + 4, (fds0, fds_after)
    assert_clean_reader(ref.result)
    d.assert_alive()
    record("idle TCP connections to the TLS port: 1000 from one address, then 100 from each of "
           "4 others", 1400,
           "one address: %d held (max_connections_per_address %d), %d reset at accept%s (%.1f s "
           "to open them all); daemon fds %d -> %d; a dashboard from another address meanwhile "
           "GetStats in %.0f ms, local GetStats %.0f ms; the held ones, never handshaking, "
           "closed by the server after %.1f s (10 s handshake timeout). Four addresses: %d held "
           "(max_connections %d), a dashboard refused UNAVAILABLE in %.0f ms (not a hang), local "
           "GetStats %.0f ms, the dashboard served again %.0f ms after the flood ended; fds %d "
           "after" % (n_held_one, MAX_PER_ADDRESS, n_reset_one,
                      " (connect() failed: %s)" % failed_one if failed_one else "", flood_s, fds0,
                      fds_one, dash_ms,
                      local_ms, reaped_s, n_held_all, MAX_CONNECTIONS, full_ms, full_local_ms,
                      back_ms, fds_after),
           reader_summary(ref.result))


def test_fault_tls_handshake_flood(stage, stubs, remote, tls):
    d, net = remote.d, remote.net
    ctx = ssl.create_default_context(cafile=tls.ca1.crt)
    ctx.load_cert_chain(tls.dash.crt, tls.dash.key)
    ctx.set_alpn_protocols(["h2"])
    stop = threading.Event()
    counts = []

    def flood(src):
        n = 0
        while not stop.is_set():
            try:
                with socket.create_connection((net.far_ip, PORT), timeout=5,
                                              source_address=(src, 0)) as raw:
                    with ctx.wrap_socket(raw, server_hostname=net.far_ip):
                        n += 1
            except OSError:
                pass
        counts.append(n)

    with reference_reader(stage, d.socket) as ref:
        with secure(net.target, tls_creds(tls, tls.dash)) as ch:
            w = Watcher(stubs, ch, interval_ms=100)
            assert wait_until(lambda: len(w.snaps) >= 2, 5)
            threads = [threading.Thread(target=flood, args=(net.flood_ips[i % 4],))
                       for i in range(8)]
            t0 = time.time()
            for t in threads:
                t.start()
            time.sleep(4)
            local_ms = local_get_stats_ms(stubs, d)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            took = time.time() - t0
            gap = w.max_gap(since=t0)
            during = len([t for t in w.times if t0 <= t <= t0 + 4])
            w.stop()
        time.sleep(0.3)
        ref.stop()
    total = sum(counts)
    assert total > 0
    assert w.error in (None, "CANCELLED"), w.error
    assert_clean_reader(ref.result)
    d.assert_alive()
    record("full TLS handshakes (client certificate, then close) from 8 threads on 4 addresses "
           "for 4 s", total,
           "%d handshakes (%.0f/s) completed; meanwhile a dashboard's WatchStats (100 ms) got %d "
           "snapshots in those 4 s, largest gap %.0f ms; local GetStats %.0f ms" % (
               total, total / took, during, gap * 1000, local_ms),
           reader_summary(ref.result))
