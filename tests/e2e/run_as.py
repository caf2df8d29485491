"""run_as.py — running programs as another user: `nobody` through runuser
and mydev-run (as a real user of the machine would), or a bare uid/gid
through setpriv (no passwd entry needed); and signalling the program runuser
started, which runuser itself does not do."""
import os
import subprocess
import time


def runuser_nobody_argv(mydev_run, argv, socket_path):
    """argv run as `nobody` through mydev-run, with MYDEV_SOCKET=socket_path."""
    return ["runuser", "-u", "nobody", "--", "env", "MYDEV_SOCKET=" + socket_path,
            mydev_run] + argv


def as_uid(uid):
    """argv prefix running a command as a bare uid/gid (no passwd entry needed)."""
    if uid is None:
        return []
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups"]


def signal_child(proc, sig):
    """Signals the program runuser started (runuser itself does not pass
    SIGINT on, and answers SIGTERM with SIGKILL after 2 s). A child that
    exits between being found and being signalled (a tcpdump whose mydevd
    just died) has nothing left to signal: that is not an error."""
    deadline = time.time() + 5
    while time.time() < deadline:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        if out.stdout.split():
            try:
                os.kill(int(out.stdout.split()[0]), sig)
            except ProcessLookupError:
                pass
            return
        time.sleep(0.01)
    raise AssertionError("no child of runuser pid %d" % proc.pid)
