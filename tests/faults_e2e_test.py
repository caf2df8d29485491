"""End-to-end reliability and hostile-input tests: crashed and stopped
clients, a killed or stopped daemon, and tests/hostile_client attacking
mydevd (bad BPF, absurd sizes, bad tokens, other users' sessions, scribbling
on its ring, abusing the fd socket, exhausting sessions).

Every test asserts the error *and* that nobody else was hurt: a reference
session (hostile_client's well-behaved `reader`, another uid) runs during the
attack and must see consecutive synthetic sequence numbers and zero drops,
and the daemon must still answer afterwards. Each test records its figures;
the table is printed at the end (and written to the test's undeclared outputs)
for docs/FAULTS.md."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from e2e.fault_table import FaultTable, reader_summary
from e2e.daemon import Daemon
from e2e.hostile import (HostileProcess, assert_clean_reader, hostile_cmd, reference_reader,
                         run_hostile)
from e2e.proc_status import process_resources, process_status
from e2e.run_as import signal_child
from e2e.stage import Stage
from e2e.tcpdump import wait_listening

RATE_PPS = 2000
ATTACH_TIMEOUT_MS = 1000
MAX_SESSIONS = 8
MAX_BPF_INSNS = 64
MAX_MESSAGE_BYTES = 65536
LIMITS = ("limits { default_ring_bytes: 1048576 max_ring_bytes: 16777216 "
          "max_sessions_per_uid: %d max_bpf_insns: %d attach_timeout_ms: %d "
          "max_message_bytes: %d }\n" % (MAX_SESSIONS, MAX_BPF_INSNS, ATTACH_TIMEOUT_MS,
                                         MAX_MESSAGE_BYTES))
CONFIG = 'device { name: "mydev0" synthetic { rate_pps: %d } }\n' % RATE_PPS + LIMITS

# Bare uids (setpriv) so each role has its own per-uid limits.
READER_UID, INTRUDER_UID, LIMIT_UID, CHURN_UID, IDLE_UID, SCRIBBLE_UID = (
    40001, 40002, 40003, 40004, 40005, 40006)
NOBODY = 65534
EACCES, ENOENT, EINVAL, EALREADY = 13, 2, 22, 114

FIGURES = FaultTable("FAULTS FIGURES", "faults_figures.md")
record = FIGURES.record


@pytest.fixture(scope="module")
def stage():
    with Stage() as s:
        yield s
    FIGURES.write()


@pytest.fixture(scope="module")
def daemon(stage):
    with stage.daemon(config=CONFIG) as d:
        yield d
        d.assert_alive()


def assert_daemon_answers(d):
    d.assert_alive()
    devices, _ = d.stats()
    assert "mydev0" in devices


def tcpdump(stage, socket_path, *args):
    p = stage.popen_as_nobody(["tcpdump", "-i", "mydev0", "-w", "/dev/null"] + list(args),
                              socket_path)
    wait_listening(p)
    return p


def exit_times(procs, message):
    """Waits for each tcpdump to exit non-zero with `message` (bytes) on
    stderr; returns the seconds from the call to each exit."""
    t0 = time.time()
    exits = []
    for p in procs:
        _, err = p.communicate(timeout=10)
        exits.append(time.time() - t0)
        assert p.returncode != 0, err
        assert message in err, err
    return exits


def sessions_of(d, uid):
    return [s for s in d.stats()[1] if s["uid"] == str(uid)]


# ------------------------------------------------------------------ crashes


def test_killed_client_freed_within_1s_others_unharmed(stage, daemon):
    freed_ms = []
    pid = daemon.proc.pid
    with reference_reader(stage, daemon.socket) as ref:
        for _ in range(3):
            base_fds, _ = process_resources(pid)
            p = tcpdump(stage, daemon.socket)
            assert len(sessions_of(daemon, NOBODY)) == 1
            assert process_resources(pid)[0] > base_fds  # the session's ring, ctl, eventfd, socket
            signal_child(p, signal.SIGKILL)
            t0 = time.time()
            p.communicate(timeout=10)
            # Freed = gone from Stats *and* the daemon's fds back where they were.
            while ((sessions_of(daemon, NOBODY) or process_resources(pid)[0] > base_fds)
                   and time.time() - t0 < 2):
                time.sleep(0.01)
            freed_ms.append((time.time() - t0) * 1000)
            assert not sessions_of(daemon, NOBODY), "session not freed"
            assert process_resources(pid)[0] <= base_fds, "the session's fds were not closed"
        ref.stop()
    assert max(freed_ms) < 1000, freed_ms
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("tcpdump killed with kill -9 mid-capture", 3,
           "session and its fds freed after %.0f ms at most" % max(freed_ms),
           reader_summary(ref.result))


def test_daemon_killed_clients_exit_and_a_new_daemon_starts(stage):
    d = stage.daemon(config=CONFIG).start()
    procs = [tcpdump(stage, d.socket) for _ in range(3)]
    d.proc.kill()
    exits = exit_times(procs, b"mydevd went away")
    d.proc.wait()
    d.stop()
    assert max(exits) < 2.0, exits
    assert os.path.exists(d.socket), "kill -9 leaves the socket file behind"
    record("mydevd killed with kill -9 under 3 capturing tcpdumps", 3,
           "every tcpdump exited non-zero within %.2f s: 'mydevd went away'" % max(exits),
           "n/a (the daemon is gone)")

    # A new daemon at once on the same (stale) socket.
    d2 = Daemon(stage, CONFIG)
    d2.socket = d.socket
    t0 = time.time()
    d2.start()
    restart_s = time.time() - t0
    f = stage.out("after_restart.pcap")
    r = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "50", "-w", f], d2.socket)
    assert r.returncode == 0, r.stderr
    record("new mydevd on the socket a killed one left", 1,
           "listening after %.2f s; tcpdump -c 50 captured 50" % restart_s, "n/a")

    # A second daemon on a live socket refuses and leaves the first alone.
    with reference_reader(stage, d2.socket) as ref:
        second = subprocess.run([stage.bin("mydevd"), "--socket", d2.socket, "--config",
                                 d2.config], capture_output=True, text=True, timeout=10)
        assert second.returncode != 0
        assert "another mydevd holds " + d2.socket + ".lock" in second.stderr, second.stderr
        assert os.path.exists(d2.socket) and os.path.exists(d2.socket + ".fds")
        r = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "50", "-w", f], d2.socket)
        assert r.returncode == 0, r.stderr
        ref.stop()
    assert_clean_reader(ref.result)
    assert_daemon_answers(d2)
    record("second mydevd on a live socket", 1,
           "refused (exit %d): %s" % (second.returncode, second.stderr.strip().splitlines()[-1]),
           reader_summary(ref.result))
    assert d2.stop() == 0


def test_sigterm_tells_every_session(stage):
    d = stage.daemon(config=CONFIG).start()
    procs = [tcpdump(stage, d.socket) for _ in range(2)]
    ref = reference_reader(stage, d.socket).start()
    time.sleep(0.5)
    d.proc.send_signal(signal.SIGTERM)
    exits = exit_times(procs, b"mydevd shut down")
    result = ref.stop()
    assert d.stop() == 0, d.log_text()
    assert max(exits) < 2.0, exits
    assert result["closed"] == "1" and result["close_reason"] == "1", result
    assert result["gaps"] == "0" and result["stats_dropped"] == "0", result
    assert not os.path.exists(d.socket) and not os.path.exists(d.socket + ".fds")
    record("mydevd stopped with SIGTERM under 2 tcpdumps + 1 reader", 3,
           "all told 'mydevd shut down' (ring close_reason 1) within %.2f s; daemon exit 0, "
           "sockets removed" % max(exits),
           "reader drained %s packets, 0 gaps, 0 dropped" % result["received"])


# ------------------------------------------------------------------ slow clients


def test_stopped_and_idle_clients_drop_only_their_own(stage, daemon):
    with reference_reader(stage, daemon.socket) as ref:
        t_ref = time.time()
        stopped = tcpdump(stage, daemon.socket, "-B", "1024")
        signal_child(stopped, signal.SIGSTOP)
        idle = HostileProcess(stage, daemon.socket, "idle", uid=IDLE_UID).start()
        time.sleep(2.5)  # 1 MiB rings at ~1 MB/s: both overflow
        sessions = {s["uid"]: s for s in daemon.stats()[1]}
        signal_child(stopped, signal.SIGCONT)
        stopped.send_signal(signal.SIGCONT)  # runuser stops itself when its child stops
        time.sleep(0.2)
        signal_child(stopped, signal.SIGINT)
        _, err = stopped.communicate(timeout=10)
        idle_result = idle.stop()
        ref.stop()
        t_ref = time.time() - t_ref
    # "At the same rate": the reference session kept up with the device's
    # rate while the others overflowed (a fan-out slowed by them would show
    # here as fewer packets, though still without gaps).
    ref_pps = int(ref.result["received"]) / t_ref
    assert ref_pps >= 0.9 * RATE_PPS, (ref_pps, t_ref, ref.result)
    assert int(sessions[str(NOBODY)]["dropped"]) > 0, sessions
    assert int(sessions[str(IDLE_UID)]["dropped"]) > 0, sessions
    assert sessions[str(READER_UID)]["dropped"] == "0", sessions
    m = re.search(rb"(\d+) packets dropped by kernel", err)
    assert m and int(m.group(1)) > 0, err
    assert int(idle_result["stats_dropped"]) > 0, idle_result
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    others = "%s, at %.0f pps (device %d pps)" % (reader_summary(ref.result), ref_pps, RATE_PPS)
    record("tcpdump SIGSTOPped for 2.5 s (1 MiB ring)", 1,
           "its own ps_drop = %s" % m.group(1).decode(), others)
    record("client that opens and never reads (1 MiB ring)", 1,
           "its own dropped = %s" % idle_result["stats_dropped"], others)


# ------------------------------------------------------------------ hostile input

BAD_FILTERS = [
    ("bpf-jump-out-of-range", {}),
    ("bpf-cond-jump-out-of-range", {}),
    ("bpf-div-zero", {}),
    ("bpf-mod-zero", {}),
    ("bpf-no-return", {}),
    ("bpf-bad-opcode", {}),
    ("bpf-bad-scratch", {}),
    ("bpf-field-overflow", {}),
    ("bpf-oversized", {"n": MAX_BPF_INSNS + 1}),
    ("bpf-oversized", {"n": 4097}),
]


def test_malformed_bpf_refused(stage, daemon):
    tries = 2
    with reference_reader(stage, daemon.socket) as ref:
        for attack, flags in BAD_FILTERS:
            for _ in range(tries):
                out = run_hostile(stage, daemon.socket, attack, uid=INTRUDER_UID, **flags)[-1]
                assert out["code"] == "INVALID_ARGUMENT", out
                assert out["after"] == "OK" and out["filter_set"] == "0", out
        ref.stop()
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    names = ", ".join(sorted({a + (" (%d insns)" % f["n"] if f else "") for a, f in BAD_FILTERS}))
    record("malformed BPF: " + names, tries * len(BAD_FILTERS),
           "INVALID_ARGUMENT each; session kept, no filter installed", reader_summary(ref.result))


BAD_OPENS = [
    # attack, expected code, extra checks on the line
    ("open-huge-snaplen", "OK", {"snaplen": "262144", "attached": "1"}),
    ("open-huge-timeout", "OK", {"attached": "1"}),
    ("open-huge-buffer", "INVALID_ARGUMENT", {}),
    ("open-max-buffer", "INVALID_ARGUMENT", {}),
    ("open-unknown-device", "NOT_FOUND", {}),
    ("open-unknown-dlt", "INVALID_ARGUMENT", {}),
    ("open-negative-dlt", "INVALID_ARGUMENT", {}),
    ("open-bad-direction", "INVALID_ARGUMENT", {}),
    ("set-datalink-unknown", "INVALID_ARGUMENT", {}),
]


def test_absurd_session_parameters(stage, daemon):
    tries = 2
    with reference_reader(stage, daemon.socket) as ref:
        for attack, code, checks in BAD_OPENS:
            for _ in range(tries):
                out = run_hostile(stage, daemon.socket, attack, uid=INTRUDER_UID)[-1]
                assert out["code"] == code, out
                assert out["after"] == "OK", out
                for k, v in checks.items():
                    assert out[k] == v, out
                if code == "OK":
                    assert int(out["packets"]) > 0, out
        ref.stop()
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("snaplen 2^32-1, timeout 2^32-1 ms", tries * 2,
           "OK: snaplen clamped to 262144, session delivers", reader_summary(ref.result))
    record("buffer 2^62 and 2^64-1 bytes, unknown link type (12345, -1), direction 7, "
           "SetDataLink 12345", tries * 6, "INVALID_ARGUMENT each", reader_summary(ref.result))
    record("unknown device mydev99", tries, "NOT_FOUND", reader_summary(ref.result))


def test_oversized_message(stage, daemon):
    tries = 2
    with reference_reader(stage, daemon.socket) as ref:
        for _ in range(tries):
            out = run_hostile(stage, daemon.socket, "oversized-message", uid=INTRUDER_UID,
                              bytes=2 * MAX_MESSAGE_BYTES)[-1]
            assert out["inject_code"] == "RESOURCE_EXHAUSTED", out
            assert out["filter_code"] == "RESOURCE_EXHAUSTED", out
            assert out["open_code"] == "RESOURCE_EXHAUSTED", out
            assert out["after"] == "OK", out
        ref.stop()
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("gRPC requests of 128 KiB (Inject, SetFilter, OpenSession) > max_message_bytes 64 KiB",
           tries * 3, "RESOURCE_EXHAUSTED each; the session survives",
           reader_summary(ref.result))


def test_bad_tokens(stage, daemon):
    tries = 3
    with reference_reader(stage, daemon.socket) as ref:
        for _ in range(tries):
            f = run_hostile(stage, daemon.socket, "token-forged", uid=INTRUDER_UID)[-1]
            for k in ("random_token", "one_bit_off", "empty_token", "long_token", "close_forged"):
                assert f[k] == "PERMISSION_DENIED", f
            assert f["unknown_id"] == "NOT_FOUND", f
            assert f["fds_forged"] == str(EACCES), f
            assert f["after"] == "OK", f
            s = run_hostile(stage, daemon.socket, "token-stale", uid=INTRUDER_UID)[-1]
            assert s["attached"] == "1" and s["close"] == "OK", s
            assert s["stats"] == s["filter"] == s["close_again"] == "NOT_FOUND", s
            assert s["fds"] == str(ENOENT), s
            assert s["fd_socket_closed"] == "1", s
            r = run_hostile(stage, daemon.socket, "token-reused", uid=INTRUDER_UID)[-1]
            assert r["attached"] == "1", r
            assert r["second_fds"] == r["third_fds"] == str(EALREADY), r
            assert r["first_still_reads"] == "1" and r["after"] == "OK", r
        ref.stop()
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("forged tokens (random, 1 bit off, empty, 33 bytes) on GetSessionStats/CloseSession",
           tries * 5, "PERMISSION_DENIED each; fd hand-off EACCES", reader_summary(ref.result))
    record("stale token (session closed)", tries * 4,
           "NOT_FOUND on stats/filter/close; fd hand-off ENOENT; its fd socket closed",
           reader_summary(ref.result))
    record("reused token (second and third fd hand-off)", tries * 2,
           "EALREADY; the first attachment keeps reading", reader_summary(ref.result))


def test_other_users_session(stage, daemon):
    pairs = [(NOBODY, INTRUDER_UID), (NOBODY, None), (None, NOBODY)]  # None = root
    calls = 0
    with reference_reader(stage, daemon.socket) as ref:
        for owner_uid, intruder_uid in pairs:
            with HostileProcess(stage, daemon.socket, "owner", uid=owner_uid) as owner:
                out = run_hostile(stage, daemon.socket, "intruder", uid=intruder_uid,
                                  session=owner.ready["session"], token=owner.ready["token"])
                for line in out:
                    calls += 1
                    if line["call"] == "fds":
                        assert line["reply"] == str(EACCES), line
                    else:
                        assert line["code"] == "PERMISSION_DENIED", line
                assert {l["call"] for l in out} == {"stats", "filter", "direction", "datalink",
                                                     "inject", "close", "fds"}
                result = owner.stop()
            assert result["stats_code"] == "OK", "the owner's session survived"
        ref.stop()
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("another uid with the session's id *and* token: stats, filter, direction, datalink, "
           "inject, close, fd hand-off (nobody->uid 40002, nobody->root, root->nobody)", calls,
           "PERMISSION_DENIED each (fd hand-off EACCES); the owner's session intact",
           reader_summary(ref.result))


def test_ring_scribbling(stage, daemon):
    with reference_reader(stage, daemon.socket) as ref:
        out = run_hostile(stage, daemon.socket, "ring-scribble", uid=SCRIBBLE_UID, seconds=2)[-1]
        ref.stop()
    for k in ("mprotect_write", "mmap_write", "mmap_read_then_mprotect", "pwrite",
              "ftruncate_shrink", "ftruncate_grow", "reopen_mmap_write", "reopen_pwrite"):
        assert out.get(k, "missing") not in ("0", "missing"), (k, out)
    assert out["after"] == "OK", out
    assert int(out["writes"]) > 1000000, out
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("client scribbles its ctl page for 2 s (consumer_pos = ~0, 0, random, past the "
           "producer, 2^63, ...; every byte random) and floods its eventfd", int(out["writes"]),
           "daemon unaffected (session still answers, %s packets)" % out["session_received"],
           reader_summary(ref.result))
    record("write access to the ring: mprotect, mmap PROT_WRITE, mmap+mprotect, pwrite, "
           "ftruncate, reopen /proc/self/fd O_RDWR then mmap/pwrite", 8,
           "refused: %s" % ", ".join("%s=%s" % (k, out[k]) for k in (
               "mprotect_write", "mmap_write", "pwrite", "ftruncate_grow")),
           reader_summary(ref.result))


def test_fd_socket_abuse(stage, daemon):
    pid = daemon.proc.pid
    with reference_reader(stage, daemon.socket) as ref:
        base_fds, _ = process_resources(pid)
        n = run_hostile(stage, daemon.socket, "fd-no-token", n=200)[-1]
        assert n["connected"] == "200", n
        w = run_hostile(stage, daemon.socket, "fd-wrong-token", uid=INTRUDER_UID)[-1]
        assert w["wrong_token"] == str(EACCES) and w["unknown_session"] == str(ENOENT), w
        assert w["short_request"] == "-1", w  # hung up without a reply
        assert w["long_request"] == str(EINVAL), w
        assert w["owner_attach"] == "1", w
        fl = run_hostile(stage, daemon.socket, "fd-flood", uid=INTRUDER_UID, n=500)[-1]
        assert fl["connected"] == "500" and fl["attach_during_flood"] == "1", fl
        # Slow peers: part of a request, then silence (1 byte; or a valid-looking
        # id with a 31-byte token). They must not hold up a real attach.
        slow = []
        for i in range(30):
            c = socket.socket(socket.AF_UNIX)
            c.connect(daemon.socket + ".fds")
            c.send(b"x" if i % 2 else b"\x01" + b"\0" * 38)
            slow.append(c)
        t0 = time.time()
        sr = run_hostile(stage, daemon.socket, "token-reused", uid=INTRUDER_UID)[-1]
        slow_attach_ms = (time.time() - t0) * 1000
        for c in slow:
            c.close()
        assert sr["attached"] == "1" and sr["first_still_reads"] == "1", sr
        assert slow_attach_ms < ATTACH_TIMEOUT_MS / 2, slow_attach_ms
        silent = [subprocess.Popen(hostile_cmd(stage, daemon.socket, "fd-silent"),
                                   stdout=subprocess.PIPE, text=True) for _ in range(3)]
        time.sleep(0.1)
        r = run_hostile(stage, daemon.socket, "token-reused", uid=INTRUDER_UID)[-1]
        assert r["attached"] == "1" and r["first_still_reads"] == "1", r
        dropped_ms = []
        for p in silent:
            out, _ = p.communicate(timeout=15)
            line = [l for l in out.splitlines() if "dropped=" in l][-1]
            assert "dropped=1" in line, line
            dropped_ms.append(int(line.split("dropped_after_ms=")[1]))
        deadline = time.time() + 3
        while process_resources(pid)[0] > base_fds and time.time() < deadline:
            time.sleep(0.05)
        end_fds, _ = process_resources(pid)
        ref.stop()
    assert all(ATTACH_TIMEOUT_MS - 50 <= ms <= ATTACH_TIMEOUT_MS + 1000 for ms in dropped_ms), \
        dropped_ms
    assert end_fds <= base_fds, (base_fds, end_fds)
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    others = reader_summary(ref.result)
    record("fd socket: connect and close without a token", 200, "dropped quietly", others)
    record("fd socket: wrong token / unknown session / 10-byte / 45-byte request", 4,
           "EACCES / ENOENT / hang-up / EINVAL; the owner attaches afterwards", others)
    record("fd socket: 500 connections at once", 500,
           "a real client attached meanwhile in %s ms" % fl["attach_ms"], others)
    record("fd socket: 30 peers that send part of a request (1 byte, or 39) and stall", 30,
           "a real client opened and attached meanwhile in %.0f ms (process start included)"
           % slow_attach_ms, others)
    record("fd socket: peers that connect and never speak", 3,
           "dropped after %d-%d ms (attach timeout %d ms); a real attach meanwhile OK" % (
               min(dropped_ms), max(dropped_ms), ATTACH_TIMEOUT_MS), others)
    record("daemon fds after all fd-socket abuse", 1,
           "%d before, %d after" % (base_fds, end_fds), "-")


def test_session_churn_does_not_leak(stage, daemon):
    pid = daemon.proc.pid
    n = 2000
    with reference_reader(stage, daemon.socket) as ref:
        run_hostile(stage, daemon.socket, "churn", uid=CHURN_UID, n=100)  # warm-up
        time.sleep(0.3)
        fds0, rss0 = process_resources(pid)
        out = run_hostile(stage, daemon.socket, "churn", uid=CHURN_UID, n=n, timeout=120)[-1]
        deadline = time.time() + 3
        while process_resources(pid)[0] > fds0 and time.time() < deadline:
            time.sleep(0.05)
        fds1, rss1 = process_resources(pid)
        ref.stop()
    assert out["opened"] == str(n) and out["failures"] == "0", out
    assert not sessions_of(daemon, CHURN_UID)
    assert fds1 <= fds0, (fds0, fds1)
    assert rss1 - rss0 < 16 * 1024, "VmRSS grew from %d to %d KiB" % (rss0, rss1)
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("%d sessions opened and closed (half CloseSession, half attach + hang up)" % n, n,
           "all opened and freed in %s ms; daemon fds %d -> %d, VmRSS %d -> %d KiB" % (
               out["elapsed_ms"], fds0, fds1, rss0, rss1), reader_summary(ref.result))


def test_per_user_session_limit(stage, daemon):
    tries = 3
    with reference_reader(stage, daemon.socket) as ref:
        for _ in range(tries):
            out = run_hostile(stage, daemon.socket, "session-limit", uid=LIMIT_UID, n=100)[-1]
            assert out["opened"] == str(MAX_SESSIONS), out
            assert out["code"] == "RESOURCE_EXHAUSTED", out
            assert out["after_close"] == "OK", out
        ref.stop()
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("sessions beyond max_sessions_per_uid (%d)" % MAX_SESSIONS, tries,
           "session %d refused RESOURCE_EXHAUSTED; a new one opens once they close" % (
               MAX_SESSIONS + 1), reader_summary(ref.result))


# ------------------------------------------------------------------ gRPC socket floods

FLOOD_UIDS = (40011, 40012, 40013, 40014, 40015)
OTHER_UID = 40020
DEFAULT_MAX_CONNECTIONS_PER_UID = 128
DEFAULT_MAX_WATCH_STREAMS, DEFAULT_MAX_WATCH_STREAMS_PER_UID = 16, 4


def daemon_threads(pid):
    return int(process_status(pid)["Threads"])


def open_timed(stage, d, uid=OTHER_UID):
    return run_hostile(stage, d.socket, "open-timed", uid=uid)[-1]


def test_connection_flood_capped_per_uid(stage, daemon):
    pid = daemon.proc.pid
    with reference_reader(stage, daemon.socket) as ref:
        base_fds, _ = process_resources(pid)
        with HostileProcess(stage, daemon.socket, "conn-flood", uid=FLOOD_UIDS[0], n=1100) as fl:
            held, refused = int(fl.ready["held"]), int(fl.ready["refused"])
            flood_fds, _ = process_resources(pid)
            other = open_timed(stage, daemon)
            result = fl.stop()
        deadline = time.time() + 3
        while process_resources(pid)[0] > base_fds and time.time() < deadline:
            time.sleep(0.05)
        end_fds, _ = process_resources(pid)
        ref.stop()
    assert held == DEFAULT_MAX_CONNECTIONS_PER_UID and refused == 1100 - held, fl.ready
    assert other["code"] == "OK" and other["attached"] == "1", other
    assert int(other["open_attach_ms"]) < 1000, other
    assert result["own_call"] == "UNAVAILABLE" and int(result["own_call_ms"]) < 1000, result
    assert result["still_held"] == str(held), result  # accepted ones are not dropped
    assert end_fds <= base_fds, (base_fds, end_fds)
    log = daemon.log_text()
    assert log.count("refusing connections on %s: uid %d" % (daemon.socket, FLOOD_UIDS[0])) == 1, \
        "one log line per burst"
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("1100 idle connections to the gRPC socket from one uid", 1100,
           "%d held (max_connections_per_uid %d), %d closed at accept (logged once); daemon "
           "fds %d -> %d during, %d after; the flooder's own call UNAVAILABLE in %s ms" % (
               held, DEFAULT_MAX_CONNECTIONS_PER_UID, refused, base_fds, flood_fds, end_fds,
               result["own_call_ms"]),
           "another uid opened and attached in %s ms; %s" % (
               other["open_attach_ms"], reader_summary(ref.result)))


class LowFdDaemon(Daemon):
    """mydevd under a hard RLIMIT_NOFILE of 1024 (the usual soft limit)."""

    LAUNCHER = ["prlimit", "--nofile=1024:1024"]


def test_connection_flood_from_many_uids_keeps_fd_headroom(stage):
    d = LowFdDaemon(stage, CONFIG).start()
    pid = d.proc.pid
    try:
        with reference_reader(stage, d.socket) as ref:
            floods = [HostileProcess(stage, d.socket, "conn-flood", uid=u, n=300).start()
                      for u in FLOOD_UIDS]
            held = sum(int(f.ready["held"]) for f in floods)
            peak_fds, _ = process_resources(pid)
            during = open_timed(stage, d)
            for f in floods:
                f.stop()
            t0 = time.time()
            after = open_timed(stage, d)
            while after["code"] != "OK" and time.time() - t0 < 3:
                after = open_timed(stage, d)
            after_s = time.time() - t0
            ref.stop()
        # 1024 - 256 headroom, 2 fds per connection: the daemon stopped well short.
        assert peak_fds <= 1024 - 256 + 4, peak_fds
        assert held < 5 * DEFAULT_MAX_CONNECTIONS_PER_UID, held
        # Refused quickly (no 10 s hang), and served again once the flood ends.
        assert during["code"] in ("OK", "UNAVAILABLE"), during
        assert int(during["open_attach_ms"]) < 2000, during
        assert after["code"] == "OK" and after["attached"] == "1", after
        assert "descriptors (RLIMIT_NOFILE) would remain free" in d.log_text()
        assert_clean_reader(ref.result)
        assert_daemon_answers(d)
    finally:
        d.stop()
    record("5 uids x 300 idle connections, mydevd at RLIMIT_NOFILE 1024", 1500,
           "%d held, the rest closed at accept once 256 fds were left (peak %d fds); a new "
           "user meanwhile: %s in %s ms; OpenSession OK %.2f s after the flood" % (
               held, peak_fds, during["code"], during["open_attach_ms"], after_s),
           reader_summary(ref.result))


def test_watch_stream_flood_capped(stage, daemon):
    pid = daemon.proc.pid
    n = 10
    with reference_reader(stage, daemon.socket) as ref:
        threads0 = daemon_threads(pid)
        floods = [HostileProcess(stage, daemon.socket, "watch-flood", uid=u, n=n).start()
                  for u in FLOOD_UIDS]
        per_uid = [f.ready for f in floods[:4]]
        last = floods[4].ready
        threads = daemon_threads(pid)
        other = open_timed(stage, daemon)
        devices, _ = daemon.stats()  # GetStats still served
        for f in floods:
            f.stop()
        time.sleep(0.5)
        again = HostileProcess(stage, daemon.socket, "watch-flood", uid=OTHER_UID, n=1).start()
        again_open = again.ready["open"]
        again.stop()
        ref.stop()
    for r in per_uid:
        assert r["open"] == str(DEFAULT_MAX_WATCH_STREAMS_PER_UID), r
        assert r["code"] == "RESOURCE_EXHAUSTED" and "max_watch_streams_per_uid" in r["message"], r
    assert last["open"] == "0" and last["refused"] == str(n), last
    assert last["code"] == "RESOURCE_EXHAUSTED" and "max_watch_streams " in last["message"], last
    assert other["code"] == "OK" and int(other["open_attach_ms"]) < 1000, other
    assert "mydev0" in devices
    assert again_open == "1", "a stream opens once the flood is gone"
    # 16 streams hold 16 threads; the pool is bounded at 16 + 32.
    assert threads <= threads0 + DEFAULT_MAX_WATCH_STREAMS + 4, (threads0, threads)
    assert_clean_reader(ref.result)
    assert_daemon_answers(daemon)
    record("WatchStats streams: 5 uids x %d (never read past the first snapshot)" % n, 5 * n,
           "%d open (4 per uid, max_watch_streams 16), the rest RESOURCE_EXHAUSTED; daemon "
           "threads %d -> %d" % (DEFAULT_MAX_WATCH_STREAMS, threads0, threads),
           "another uid opened and attached in %s ms, GetStats answered; %s" % (
               other["open_attach_ms"], reader_summary(ref.result)))


def test_two_daemons_started_at_once_exactly_one_wins(stage):
    d = Daemon(stage, CONFIG)  # for its paths and config
    wins = []
    for i in range(10):
        # A stale socket file: bound once, its listener gone.
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(d.socket)
        procs = [subprocess.Popen([stage.bin("mydevd"), "--socket", d.socket, "--config",
                                   d.config], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        deadline = time.time() + 5
        while time.time() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.02)
        time.sleep(0.3)
        alive = [p for p in procs if p.poll() is None]
        dead = [p for p in procs if p.poll() is not None]
        assert len(alive) == 1 and len(dead) == 1, [p.poll() for p in procs]
        _, err = dead[0].communicate(timeout=5)
        assert dead[0].returncode == 1, err
        assert "another mydevd holds " + d.socket + ".lock (pid %d)" % alive[0].pid in err, err
        # The winner serves.
        r = open_timed(stage, d)
        assert r["code"] == "OK" and r["attached"] == "1", r
        alive[0].send_signal(signal.SIGTERM)
        alive[0].communicate(timeout=10)
        assert alive[0].returncode == 0
        assert os.path.exists(d.socket + ".lock"), "the lock file is kept"
        wins.append(procs.index(alive[0]))
        if os.path.exists(d.socket):
            os.unlink(d.socket)
    record("two mydevd started at the same instant on a stale socket", 10,
           "exactly one won each time (first/second started: %d/%d); the other exited 1: "
           "'another mydevd holds <socket>.lock (pid N)'" % (wins.count(0), wins.count(1)),
           "n/a")


# ------------------------------------------------------------------ noisy neighbours

FAST_RATE_PPS = 200000
WORST_FILTER_TERMS = 340  # `ether[i % 60] > 255 or ...`: ~3,700 instructions, all run per packet


def _device_rate(d, seconds):
    """The device's packets_seen rate over `seconds` (pps)."""
    before = int(d.stats()[0]["mydev0"]["packets"])
    t0 = time.time()
    time.sleep(seconds)
    after = int(d.stats()[0]["mydev0"]["packets"])
    return (after - before) / (time.time() - t0)


def _reference_run(stage, d, seconds):
    """A reference session of READER_UID for `seconds`, with the device's
    rate measured meanwhile; returns (result, device pps)."""
    with reference_reader(stage, d.socket, buffer=64 << 20) as ref:
        rate = _device_rate(d, seconds)
        ref.stop()
    return ref.result, rate


def test_expensive_filters_cost_only_their_owner(stage):
    """Issue 12: 8 tcpdumps of one user (nobody) with a never-matching
    340-term filter, unoptimised (-O), on a 200 kpps device: the other user's
    reference session receives >= 90% of what it receives without them, the
    device keeps >= 90% of its rate, and nobody's sessions count their losses
    as their own drops (SessionStats.packets_shed)."""
    filter_file = os.path.join(stage.root, "worst.filter")
    with open(filter_file, "w") as f:
        f.write(" or ".join("ether[%d] > 255" % (i % 60) for i in range(WORST_FILTER_TERMS)))
    os.chmod(filter_file, 0o644)
    config = 'device { name: "mydev0" synthetic { rate_pps: %d } }\n' % FAST_RATE_PPS
    with stage.daemon(config=config) as d:
        time.sleep(1)
        alone, rate_alone = _reference_run(stage, d, 6)
        heavy = [tcpdump(stage, d.socket, "-O", "-B", "1024", "-F", filter_file)
                 for _ in range(8)]
        try:
            time.sleep(1)
            shared, rate_shared = _reference_run(stage, d, 6)
            nobody = sessions_of(d, NOBODY)
        finally:
            for p in heavy:
                signal_child(p, signal.SIGINT)
            for p in heavy:
                p.communicate(timeout=15)
        d.assert_alive()
    insns = max(int(s.get("filter_insns", 0)) for s in nobody)
    got_alone, got_shared = int(alone["received"]), int(shared["received"])
    shed = sum(int(s["dropped"]) for s in nobody)
    print("filter cost: reference alone %d pkts (device %.0f pps); with 8 x %d-insn filters "
          "%d pkts (%.1f%%, device %.0f pps); nobody's drops %d" % (
              got_alone, rate_alone, insns, got_shared, 100.0 * got_shared / got_alone,
              rate_shared, shed))
    assert len(nobody) == 8 and insns > 3000, nobody
    assert got_shared >= 0.9 * got_alone, (alone, shared)
    assert rate_shared >= 0.9 * FAST_RATE_PPS, (rate_alone, rate_shared)
    assert shed > 0, nobody
    # (Their `received` counts the packets before tcpdump set its filter.)
    record("8 sessions of one uid with a %d-insn never-matching filter (-O), 200 kpps" % insns,
           1, "their own drops: %d; device %.0f pps (alone %.0f)" % (shed, rate_shared, rate_alone),
           "reference: %d pkts in 6 s with them, %d without (%.1f%%)" % (
               got_shared, got_alone, 100.0 * got_shared / got_alone))


BIG_RING = 256 << 20
BIG_OPENERS = 16  # 4 uids x 4 sessions


def _start_owners(stage, d, n, first_uid):
    """n `owner` sessions of BIG_RING bytes, 4 per uid from first_uid, all
    started at once; returns their Popens."""
    return [subprocess.Popen(hostile_cmd(stage, d.socket, "owner", uid=first_uid + i // 4,
                                         buffer=BIG_RING),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(n)]


def _owner_results(owners):
    """The first key=value line of each owner (ready=1 or its refusal)."""
    from e2e.hostile import parse_kv
    return [parse_kv(p.stdout.readline()) for p in owners]


def _stop_owners(owners):
    for p in owners:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in owners:
        p.communicate(timeout=15)


def _open_ms(stage, d, uid):
    out = run_hostile(stage, d.socket, "open-timed", uid=uid)[-1]
    assert out["code"] == "OK" and out["attached"] == "1", out
    return int(out["open_attach_ms"])


def test_big_opens_never_delay_other_users(stage):
    """Issue 12 item 3: 16 concurrent 256 MiB opens of 4 uids (before: rings
    populated inside OpenSession, 2.5 GiB pinned, 6 of 16 opens hit their
    10 s deadline): another user's OpenSession + fd hand-off meanwhile stays
    fast, every big open succeeds, and mydevd's memory grows only as rings
    are written."""
    config = 'device { name: "mydev0" synthetic { rate_pps: %d } }\n' % RATE_PPS
    with stage.daemon(config=config) as d:
        before = [_open_ms(stage, d, READER_UID) for _ in range(3)]
        _, rss_before = process_resources(d.proc.pid)
        owners = _start_owners(stage, d, BIG_OPENERS, 41000)
        try:
            during = [_open_ms(stage, d, READER_UID) for _ in range(5)]
            results = _owner_results(owners)
            _, rss_held = process_resources(d.proc.pid)
        finally:
            _stop_owners(owners)
        d.assert_alive()
    ready = sum(r.get("ready") == "1" for r in results)
    print("big opens: other user's open+attach %s ms before, %s ms during; %d/%d ready; "
          "mydevd RSS %d -> %d KiB" % (before, during, ready, BIG_OPENERS, rss_before, rss_held))
    assert ready == BIG_OPENERS, results
    assert max(during) < 1000, during  # generous; the figure (aim < 50 ms) goes in the table
    assert rss_held - rss_before < 256 * 1024, (rss_before, rss_held)  # not 4 GiB populated
    record("16 concurrent opens of 256 MiB rings by 4 uids", 1,
           "all 16 opened; mydevd RSS %d → %d KiB (rings are populated as written)" % (
               rss_before, rss_held),
           "another uid's OpenSession + fd hand-off: %d–%d ms during (%d–%d ms before)" % (
               min(during), max(during), min(before), max(before)))


def test_ring_memory_of_all_users_is_capped(stage):
    """limits.max_ring_bytes_total bounds every user's rings together, with
    ring_bytes_reserved_for_root kept for root: of 16 256 MiB opens against
    3 GiB (256 MiB reserved), 11 succeed and 5 are refused naming the limit;
    root still opens."""
    config = ('device { name: "mydev0" synthetic { rate_pps: %d } }\n'
              "limits { max_ring_bytes_total: %d }\n" % (RATE_PPS, 3 << 30))
    with stage.daemon(config=config) as d:
        owners = _start_owners(stage, d, BIG_OPENERS, 42000)
        try:
            results = _owner_results(owners)
            root = run_hostile(stage, d.socket, "open-timed", uid=0, buffer=BIG_RING)[-1]
        finally:
            _stop_owners(owners)
        d.assert_alive()
    refused = [r for r in results if r.get("ready") != "1"]
    assert len(refused) == BIG_OPENERS - 11, results
    for r in refused:
        assert r["code"] == "RESOURCE_EXHAUSTED", r
        assert "limits.max_ring_bytes_total 3221225472 less 268435456 kept for root" in \
            r["message"], r
    assert root["code"] == "OK", root
    record("16 × 256 MiB opens against `max_ring_bytes_total: 3 GiB` (256 MiB kept for root)", 1,
           "11 opened, 5 refused RESOURCE_EXHAUSTED: “%s”" % refused[0]["message"],
           "root's 256 MiB open: OK in %s ms" % root["open_attach_ms"])
