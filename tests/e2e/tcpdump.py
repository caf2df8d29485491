"""tcpdump.py — Debian's tcpdump in the tests: waiting until a capture
(through the module or not) is listening, and Debian's own tcpdump/libpcap
applying a filter to a file, as the reference mydev's results are compared
with."""
import subprocess
import time

from .pcap_files import read_pcap


def wait_listening(proc, timeout=10):
    """Waits for tcpdump's 'listening on' line (the session is open)."""
    deadline = time.time() + timeout
    line = b""
    while time.time() < deadline:
        line = proc.stderr.readline()
        if b"listening on" in line or not line:
            break
    assert b"listening on" in line, "tcpdump did not start: %r" % line


def system_tcpdump_filter(src, dst, expr=None):
    """Applies a filter (none: copies every record) with Debian's own
    tcpdump/libpcap, as the reference; src may be pcap or pcapng, dst is pcap."""
    subprocess.run(["/usr/bin/tcpdump", "-r", src, "-w", dst] + ([expr] if expr else []),
                   check=True, capture_output=True, timeout=60)
    return read_pcap(dst)[1]
