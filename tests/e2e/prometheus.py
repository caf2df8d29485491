"""prometheus.py — a real Prometheus (Debian's `prometheus` package) for a
test: scraping given targets every second into a throw-away TSDB, listening
on a free loopback port, queried through its HTTP API with urllib; and the
text exposition format parsed for tests reading /metrics themselves.

    with Prometheus(tmpdir, ["127.0.0.1:9471"]) as prom:
        prom.wait_target_up()
        prom.query('rate(mydev_device_packets_total[10s])')   # instant vector
        prom.query_range('mydev_target_up', t0, t1, step=1)
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from .proc_status import terminate

PROMETHEUS = "/usr/bin/prometheus"


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Prometheus:
    """prometheus scraping targets (HOST:PORT, over http) every
    scrape_interval_s at metrics_path; started on enter, stopped (SIGTERM,
    then waited for) on exit; its log kept at log_path."""

    def __init__(self, root, targets, scrape_interval_s=1, metrics_path="/metrics",
                 job="dashboard", scheme="http", basic_auth=None, tls_insecure=False):
        self.root = root
        self.targets = list(targets)
        self.interval = scrape_interval_s
        self.job = job
        os.makedirs(root, exist_ok=True)
        self.data = os.path.join(root, "tsdb")
        self.config = os.path.join(root, "prometheus.yml")
        self.log_path = os.path.join(root, "prometheus.log")
        self.port = None
        self.proc = None
        lines = [
            "global:",
            "  scrape_interval: %ds" % scrape_interval_s,
            "  scrape_timeout: %ds" % scrape_interval_s,
            "  evaluation_interval: %ds" % scrape_interval_s,
            "scrape_configs:",
            "  - job_name: %s" % json.dumps(job),
            "    metrics_path: %s" % json.dumps(metrics_path),
            "    scheme: %s" % scheme,
            # Keep the exporter's `target` label as it is (Prometheus has no
            # label of that name itself, but say so).
            "    honor_labels: true",
        ]
        if basic_auth:
            lines += ["    basic_auth:", "      username: %s" % json.dumps(basic_auth[0]),
                      "      password: %s" % json.dumps(basic_auth[1])]
        if tls_insecure:
            lines += ["    tls_config:", "      insecure_skip_verify: true"]
        lines += ["    static_configs:",
                  "      - targets: [%s]" % ", ".join(json.dumps(t) for t in self.targets)]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=30):
        shutil.rmtree(self.data, ignore_errors=True)
        # A free port can be taken between the check and the bind: try again.
        for _ in range(5):
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + self.config, "--storage.tsdb.path=" + self.data,
                 "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--storage.tsdb.retention.time=1h", "--log.level=info"],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.time() + timeout
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                        if r.status == 200:
                            return self
                except (urllib.error.URLError, OSError):
                    pass
                time.sleep(0.1)
            self.stop()
            if "address already in use" not in self.log_text():
                break
        raise AssertionError("prometheus did not start:\n" + self.log_text()[-3000:])

    def stop(self):
        if self.proc is None:
            return None
        terminate(self.proc, 20)
        self.log.close()
        code, self.proc = self.proc.returncode, None
        return code

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------ the HTTP API

    def api(self, path, **params):
        """GET /api/v1/PATH?params; returns `data` (asserts status success)."""
        url = self.url + "/api/v1/" + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        assert body.get("status") == "success", "%s: %s" % (url, body)
        return body["data"]

    def query(self, expr, at=None):
        """An instant query: [(labels dict, float value)] (vector results)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = "%.3f" % at
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def query_one(self, expr, at=None):
        """The single value of an instant query (asserts there is exactly one)."""
        res = self.query(expr, at)
        assert len(res) == 1, "%s: %r" % (expr, res)
        return res[0][1]

    def query_range(self, expr, start, end, step=1):
        """[(labels, [(t, value)])]."""
        data = self.api("query_range", query=expr, start="%.3f" % start, end="%.3f" % end,
                        step=str(step))
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
                for r in data["result"]]

    def targets_health(self):
        """{scrape URL: (health, lastError)} of the active targets."""
        data = self.api("targets", state="active")
        return {t["scrapeUrl"]: (t["health"], t.get("lastError", ""))
                for t in data["activeTargets"]}

    def wait_target_up(self, timeout=20):
        """Waits until every target has been scraped successfully."""
        last = {}
        deadline = time.time() + timeout
        while time.time() < deadline:
            last = self.targets_health()
            if len(last) == len(self.targets) and all(h == "up" for h, _ in last.values()):
                return last
            time.sleep(0.2)
        raise AssertionError("prometheus' targets not up within %ss: %r" % (timeout, last))

    def wait_samples(self, expr, n, timeout=30):
        """Waits until the query `count_over_time(EXPR[1h])` says every
        series of expr has at least n samples; returns the count result."""
        deadline = time.time() + timeout
        res = []
        while time.time() < deadline:
            res = self.query("count_over_time(%s[1h])" % expr)
            if res and all(v >= n for _, v in res):
                return res
            time.sleep(0.25)
        raise AssertionError("fewer than %d samples of %s within %ss: %r" % (n, expr, timeout,
                                                                             res))


# ------------------------------------------------------------ the text format

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v):
    return v.replace("\\\\", "\0").replace('\\"', '"').replace("\\n", "\n").replace("\0", "\\")


def parse_metrics(text):
    """The Prometheus text exposition format: ({"types": {family: type},
    "help": {family: help}}, [(name, labels dict, float value)]). Fails on a
    line it cannot read."""
    meta = {"types": {}, "help": {}}
    samples = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                meta["types"][parts[2]] = parts[3].strip() if len(parts) > 3 else ""
            elif len(parts) >= 3 and parts[1] == "HELP":
                meta["help"][parts[2]] = parts[3] if len(parts) > 3 else ""
            continue
        m = _SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = {}
        body = m.group(3) or ""
        pos = 0
        while pos < len(body):
            lm = _LABEL.match(body, pos)
            assert lm, "bad labels in %r" % line
            labels[lm.group(1)] = _unescape(lm.group(2))
            pos = lm.end()
        value = m.group(4)
        samples.append((m.group(1), labels, float(value.replace("Inf", "inf"))))
    return meta, samples


class Metrics:
    """A parsed /metrics page: select samples by name and labels."""

    def __init__(self, text):
        self.text = text
        self.meta, self.samples = parse_metrics(text)

    def get(self, name, **labels):
        """[(labels, value)] of the samples named name whose labels include these."""
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def value(self, name, **labels):
        """The one value of name{labels} (asserts exactly one sample), or None if none."""
        got = self.get(name, **labels)
        assert len(got) <= 1, "%s%r: %r" % (name, labels, got)
        return got[0][1] if got else None

    def names(self):
        return {n for n, _, _ in self.samples}

    def __repr__(self):
        return self.text[:8000]
