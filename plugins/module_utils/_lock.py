# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host lock: one netplumb run at a time reads state, plans and applies on a host.

flock(2) on /run/netplumb/lock (/run is the per-boot tmpfs). The kernel drops the lock when its holder's file
descriptor closes, so a run killed with SIGKILL never leaves the host locked. The wait is bounded: the lock is
tried without blocking, again after short pauses, until the deadline; 0 tries once. The holder writes its PID
into the file; a timeout names it (taken from /proc/locks, which also knows holders that are not netplumb,
e.g. the flock(1) tool, else from the file).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import time

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError

LOCK_DIR = "/run/netplumb"
LOCK_PATH = LOCK_DIR + "/lock"
DEFAULT_TIMEOUT = 60

_FIRST_PAUSE = 0.02     # seconds between tries, doubling up to _MAX_PAUSE
_MAX_PAUSE = 0.25


def validate_timeout(value, field="lock_timeout"):
    """An int >= 0 (seconds). bool is refused although it is an int subclass."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, value, "must be a whole number of seconds (0 = try the lock once)")
    if value < 0:
        raise ValidationError(field, value, "must be 0 or more seconds (0 = try the lock once)")
    return value


def holder_pid(fd, path=LOCK_PATH):
    """The PID holding the flock on the open file fd, or None when unknown."""
    try:
        st = os.fstat(fd)
        key = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:567 0 EOF"; waiters read "1: -> FLOCK ..."
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key and fields[4].isdigit():
                    return int(fields[4])
    except (OSError, ValueError):
        pass
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except (OSError, ValueError):
        return None


class HostLock:
    """Context manager: ``with HostLock(timeout): ...`` holds the exclusive host lock inside the block.

    Raises StateError when the lock cannot be taken within timeout seconds (message: "lock", the path, the
    timeout and the holder's PID), or when the lock file cannot be opened.
    """

    def __init__(self, timeout=DEFAULT_TIMEOUT, path=LOCK_PATH):
        self.timeout = validate_timeout(timeout)
        self.path = path
        self.fd = None

    def _open(self):
        directory = os.path.dirname(self.path)
        try:
            if not os.path.isdir(directory):
                try:
                    os.makedirs(directory, 0o755)
                    os.chmod(directory, 0o755)      # whatever the umask
                except FileExistsError:             # a concurrent run made it first
                    pass
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StateError("host lock %s: cannot open it: %s (errno %d)"
                             % (self.path, os.strerror(exc.errno), exc.errno))

    def acquire(self):
        fd = self._open()
        deadline = time.monotonic() + self.timeout
        pause = _FIRST_PAUSE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR):
                    os.close(fd)
                    raise StateError("host lock %s: flock failed: %s (errno %d)"
                                     % (self.path, os.strerror(exc.errno), exc.errno))
            left = deadline - time.monotonic()
            if left <= 0:
                pid = holder_pid(fd, self.path)
                os.close(fd)
                raise StateError(
                    "host lock %s is held by PID %s (another run on this host); still held after waiting "
                    "lock_timeout=%ss. Nothing was changed: retry when it is done, or raise lock_timeout"
                    % (self.path, pid if pid is not None else "unknown", self.timeout))
            time.sleep(min(pause, left))
            pause = min(pause * 2, _MAX_PAUSE)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, ("%d\n" % os.getpid()).encode("ascii"), 0)
        except OSError:
            pass    # the PID is a courtesy for the timeout message; /proc/locks knows the holder anyway
        self.fd = fd
        return self

    def release(self):
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)     # closing the only descriptor drops the flock

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False
