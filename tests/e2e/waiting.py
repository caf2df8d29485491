"""waiting.py — waiting with a deadline: until a predicate holds, or until
a line containing some bytes comes out of a pipe (a capture program's
stderr)."""
import time


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def wait_for_line(stream, needle, timeout=10):
    """Reads lines from a pipe until one contains needle (bytes); returns the
    lines read. Fails on EOF or timeout."""
    import select
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([stream], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError("no %r within %ss; got %r" % (needle, timeout, lines))
