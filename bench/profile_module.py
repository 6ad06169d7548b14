"""The module container_network alone, in-process, on the bench's network of K containers (bench/benchlib.py):
converge in a fresh namespace, then its no-op re-run and check, each timed, with the netlink requests counted
(socket sends of the process) and, with PROFILE=1, a cProfile of each (top functions by own time, to
.build/bench/profile-*.txt). No ansible-playbook: what remains of a playbook's time beyond these is its floor.

  make profile-module                     K=1000 (PROFILE_K), the venv's pyroute2
  make profile-module PROFILE_PY=.venv-deb/bin/python    Debian's pyroute2 0.7.2

Run through tests/isolated.sh (the Makefile's target does): every run is in a throwaway namespace.
"""
import cProfile
import io
import os
import pstats
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

import conftest  # noqa: E402,F401  pylint: disable=unused-import
from helpers.kernel import Sandbox  # noqa: E402
from helpers.modrun import run_module  # noqa: E402
import benchlib  # noqa: E402

K = int(os.environ.get("PROFILE_K", "1000"))
PROFILE = os.environ.get("PROFILE", "1") != "0"
OUT = os.path.join(ROOT, ".build", "bench")


def socket_calls(prof):
    """Calls of the socket primitives, from the profile: {'sendto': n, 'recv_into': m, ...} (netlink is the
    only socket this process uses)."""
    out = {}
    for (fname, line, func), st in pstats.Stats(prof).stats.items():
        if "_socket.socket" in func:
            name = func.split("'")[1] if "'" in func else func
            out[name] = out.get(name, 0) + st[1]
    return out


def run(tag, check=False):
    args = dict(networks=benchlib.role_vars(K)["container_networks"], variable="container_networks")
    prof = cProfile.Profile() if PROFILE else None
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    if prof:
        prof.enable()
    res = run_module("container_network", args, check=check, diff=False)
    if prof:
        prof.disable()
    took = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    assert not res.get("failed"), res.get("msg")
    ncmd = len(res.get("commands", []))
    # CPU seconds of this process (user + system: our Python and the kernel's work in our syscalls): what the
    # run costs whatever else the machine does; the wall time also counts waiting for a CPU on a busy machine
    print("%-9s K=%d  %7.2f s  cpu %6.2f s (user %.2f, system %.2f)  changed=%s  commands=%d" % (
        tag, K, took, cpu, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, res["changed"], ncmd), flush=True)
    if prof:
        calls = socket_calls(prof)
        sends = sum(n for name, n in calls.items() if name.startswith("send"))
        print("          socket calls: %s; sends per container %.1f (profiled: times above include cProfile)" % (
            ", ".join("%s %d" % kv for kv in sorted(calls.items())), sends / K))
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(30)
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(40)
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats("netplumb", 60)
        prof.dump_stats(os.path.join(OUT, "profile-%s-%d.prof" % (tag, K)))     # for pstats / snakeviz
        path = os.path.join(OUT, "profile-%s-%d.txt" % (tag, K))
        with open(path, "w") as f:
            f.write(s.getvalue())
        print("          profile: %s" % os.path.relpath(path, ROOT))
    return res


def main():
    os.makedirs(OUT, exist_ok=True)
    print("python %s, pyroute2 %s" % (sys.version.split()[0], benchlib._version("pyroute2")))
    box = Sandbox()
    try:
        run("converge")
        assert not run("no-op")["changed"]
        assert not run("check", check=True)["changed"]
    finally:
        box.close()


if __name__ == "__main__":
    main()
