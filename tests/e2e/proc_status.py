"""proc_status.py — what /proc says about a running mydevd: its open fds and
resident memory (nothing leaks), and every thread's user, groups and
capabilities (what the kernel says it may do); and stopping a child
process with SIGTERM, then SIGKILL."""
import os
import signal
import subprocess

CAP_NET_RAW_MASK = 1 << 13


def process_resources(pid):
    """(open fd count, VmRSS in KiB) of a process."""
    fds = len(os.listdir("/proc/%d/fd" % pid))
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return fds, rss


def process_status(pid, tid=None):
    """/proc/PID/status (or a thread's, /proc/PID/task/TID/status) as a dict."""
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%d/status" % (pid, tid)
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def assert_privileges(pid, user, caps):
    """Every thread of pid runs as `user` (real, effective, saved and fs
    ids; its groups only) with exactly `caps` permitted, effective and in the
    bounding set, and nothing inheritable or ambient."""
    import grp
    import pwd
    pw = pwd.getpwnam(user)
    groups = sorted({pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem})
    tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    assert tids
    for tid in tids:
        st = process_status(pid, tid)
        where = "mydevd thread %d (%s): %r" % (tid, st.get("Name"), st)
        assert st["Uid"].split() == [str(pw.pw_uid)] * 4, where
        assert st["Gid"].split() == [str(pw.pw_gid)] * 4, where
        assert sorted(int(g) for g in st["Groups"].split()) == groups, where
        for field in ("CapEff", "CapPrm", "CapBnd"):
            assert int(st[field], 16) == caps, "%s %s: %s" % (field, st[field], where)
        assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0, where
    return len(tids)


def terminate(proc, timeout):
    """Stops a child process as its service manager would: SIGTERM, then up
    to `timeout` seconds for it to exit, then SIGKILL. True when it exited by
    itself (or had already exited), False when it had to be killed."""
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
