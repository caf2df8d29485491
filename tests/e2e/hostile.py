"""hostile.py — tests/hostile_client/hostile_client in the fault tests
(faults_e2e_test.py): it runs one named attack (or a well-behaved role) per
invocation, as any uid, and prints key=value lines; a reference reader (a
clean session of another uid) must lose nothing meanwhile.

    with reference_reader(stage, d.socket) as ref:    # a clean session
        out = run_hostile(stage, d.socket, "bpf-div-zero", uid=40002)
    assert out[-1]["code"] == "INVALID_ARGUMENT"
    assert ref.result["gaps"] == "0" and ref.result["stats_dropped"] == "0"
"""
import signal
import subprocess

from .run_as import as_uid


def parse_kv(line):
    """'a=1 b="x y"' -> {'a': '1', 'b': 'x y'}."""
    import shlex
    out = {}
    for item in shlex.split(line):
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


def hostile_cmd(stage, socket_path, attack, uid=None, **flags):
    argv = as_uid(uid) + [stage.bin("hostile_client"), "--socket", socket_path,
                          "--attack", attack]
    for k, v in flags.items():
        argv += ["--" + k, str(v)]
    return argv


def run_hostile(stage, socket_path, attack, uid=None, timeout=60, **flags):
    """Runs one attack to the end; returns its key=value lines as dicts."""
    r = subprocess.run(hostile_cmd(stage, socket_path, attack, uid, **flags),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "hostile_client %s exit %d:\n%s%s" % (
        attack, r.returncode, r.stdout, r.stderr)
    return [parse_kv(l) for l in r.stdout.splitlines() if "=" in l]


class HostileProcess:
    """A long-running hostile_client role (reader, idle, owner): started,
    waited for until it prints ready=1, then stopped with SIGTERM; `result`
    merges every key=value line it printed."""

    def __init__(self, stage, socket_path, attack, uid=None, **flags):
        self.argv = hostile_cmd(stage, socket_path, attack, uid, **flags)
        self.proc = None
        self.ready = {}
        self.result = {}

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        self.ready = parse_kv(line)
        assert self.ready.get("ready") == "1", "%s did not start: %r %s" % (
            self.argv, line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        return self

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)
        for line in out.splitlines():
            self.result.update(parse_kv(line))
        self.stderr = err
        return self.result

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.returncode is None:
            self.stop()


def reference_reader(stage, socket_path, uid=40001, buffer=8 << 20):
    """A well-behaved session reading every packet and checking the
    synthetic sequence numbers (a context manager; see HostileProcess)."""
    return HostileProcess(stage, socket_path, "reader", uid=uid, buffer=buffer)


def assert_clean_reader(result, min_packets=1):
    """The reference session saw consecutive sequence numbers, no drop."""
    assert int(result.get("received", 0)) >= min_packets, result
    assert result["gaps"] == "0" and result["missing"] == "0", result
    assert result["backwards"] == "0" and result["noseq"] == "0", result
    assert result["corrupt"] == "0", result
    assert result["stats_dropped"] == "0" and result["ring_dropped"] == "0", result
