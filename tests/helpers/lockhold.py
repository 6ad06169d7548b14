"""Host-lock test tools: a process that holds a flock until told to let go, modules run in child processes,
and a bounded wait on a condition (never a fixed sleep)."""
import json
import os
import subprocess
import sys
import time

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(os.path.dirname(TESTS), ".build", "collections")

# Holds an exclusive flock on argv[1], writes its PID there (as the module does), says "locked", and holds
# until its stdin closes.
_PY_HOLDER = r'''
import fcntl, os, sys
d = os.path.dirname(sys.argv[1])
os.makedirs(d, 0o755, exist_ok=True)
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.pwrite(fd, b"%d\n" % os.getpid(), 0)
sys.stdout.write("locked\n")
sys.stdout.flush()
sys.stdin.read()
'''

# Runs modules one after the other in this child (it inherits the sandbox netns of the thread that forked it):
# argv[1] is a JSON list of [name, args, check]; an optional fd in argv[2] is read to EOF first (a start gun
# shared by several children). Prints one JSON list of results.
_PY_MODULES = r'''
import json, os, sys
sys.path[:0] = [%r, %r]
from helpers.modrun import run_module
calls = json.loads(sys.argv[1])
if len(sys.argv) > 2:
    with os.fdopen(int(sys.argv[2]), "rb") as gun:
        gun.read()
print(json.dumps([run_module(name, args, check=check) for name, args, check in calls]))
''' % (TESTS, COLLECTIONS)


def wait_for(pred, timeout=30.0, what="condition"):
    """Polls pred() until it is true; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.005)


class Holder:
    """A child process holding the flock on path: kind "python" (writes its PID into the file, like a module)
    or "flock" (util-linux flock(1), which writes nothing). release() lets go and reaps it."""

    def __init__(self, path, kind="python"):
        if kind == "python":
            cmd = [sys.executable, "-c", _PY_HOLDER, path]
        else:
            os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
            cmd = ["flock", "--exclusive", path, "sh", "-c", "echo locked; exec cat >/dev/null"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        line = self.proc.stdout.readline()
        assert line.strip() == "locked", "lock holder did not start: %r" % line

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()

    def kill(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.proc.stdin.close()
        self.proc.stdout.close()


def spawn_modules(calls, start_fd=None):
    """Starts a child that runs [(name, args, check), ...]; returns the Popen (stdout: JSON results). The
    firewall modules' backend is pinned to iptables where a call does not name it (helpers.modrun.pinned)."""
    from helpers.modrun import PINNED_MODULES
    calls = [[name, dict(args, firewall_backend="iptables") if name in PINNED_MODULES and "firewall_backend" not in
              args else args, check] for name, args, check in calls]
    argv = [sys.executable, "-c", _PY_MODULES, json.dumps(calls)]
    pass_fds = ()
    if start_fd is not None:
        argv.append(str(start_fd))
        pass_fds = (start_fd,)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=pass_fds)


def results(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, "module child failed: %s" % err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def has_open(pid, path):
    """Whether process pid has path open (a module waiting for the lock has opened the lock file)."""
    fd_dir = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(os.path.join(fd_dir, name)) == path:
                return True
        except OSError:
            continue
    return False
