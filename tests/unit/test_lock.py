"""The host lock (_lock.py) on a lock file under tmp_path: PID written, bounded wait, 0 = try once, a timeout
message that names the lock, the path, the timeout and the holder, and validation of lock_timeout."""
import os
import stat
import time

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _lock
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from helpers.lockhold import Holder


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "netplumb" / "lock")


def test_creates_dir_and_file_and_writes_own_pid(path):
    with _lock.HostLock(0, path) as lock:
        assert lock.fd is not None
        with open(path) as f:
            assert f.read() == "%d\n" % os.getpid()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755
        assert _lock.holder_pid(lock.fd, path) == os.getpid()
    assert lock.fd is None
    with open(path) as f:
        assert f.read() == "", "a released lock still names a holder"


def test_reacquire_after_release(path):
    for dummy in range(3):
        with _lock.HostLock(0, path):
            pass


@pytest.mark.parametrize("kind", ["python", "flock"])
def test_timeout_message_names_lock_path_timeout_and_holder(path, kind):
    holder = Holder(path, kind)
    try:
        with pytest.raises(StateError) as err:
            _lock.HostLock(1, path).acquire()
    finally:
        holder.release()
    msg = str(err.value)
    for part in ("lock", path, "lock_timeout=1s", "PID %d" % holder.pid):
        assert part in msg, msg


def test_zero_tries_once_and_one_waits_the_second(path):
    holder = Holder(path)
    try:
        start = time.monotonic()
        with pytest.raises(StateError):
            _lock.HostLock(0, path).acquire()
        assert time.monotonic() - start < 0.5, "timeout 0 waited"
        start = time.monotonic()
        with pytest.raises(StateError):
            _lock.HostLock(1, path).acquire()
        assert time.monotonic() - start >= 1.0, "gave up before lock_timeout"
    finally:
        holder.release()
    with _lock.HostLock(0, path):
        pass


def test_failed_attempt_leaves_no_descriptor(path):
    holder = Holder(path)
    try:
        before = len(os.listdir("/proc/self/fd"))
        lock = _lock.HostLock(0, path)
        with pytest.raises(StateError):
            lock.acquire()
        assert lock.fd is None and len(os.listdir("/proc/self/fd")) == before
    finally:
        holder.release()


def test_holder_pid_falls_back_to_the_file(path):
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write("4242\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _lock.holder_pid(fd, path) == 4242      # nobody holds it: /proc/locks knows nothing
    finally:
        os.close(fd)


def test_unopenable_lock_path_is_a_clear_state_error(tmp_path):
    blocker = tmp_path / "netplumb"
    blocker.write_text("not a directory")
    with pytest.raises(StateError) as err:
        _lock.HostLock(0, str(blocker / "lock")).acquire()
    assert "host lock %s" % (blocker / "lock") in str(err.value)


@pytest.mark.parametrize("value", [-1, -60, "5", 1.5, True, None])
def test_bad_timeout_names_the_field(value):
    with pytest.raises(ValidationError) as err:
        _lock.validate_timeout(value)
    assert str(err.value).startswith("lock_timeout=%r" % (value,))


@pytest.mark.parametrize("value", [0, 1, 60, 3600])
def test_good_timeout(value):
    assert _lock.validate_timeout(value) == value
