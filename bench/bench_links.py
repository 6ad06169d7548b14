"""Benchmark: N containers (namespace, veth into it, bridge, address, default route) three ways, each in a fresh
private network namespace, all in this one run:

  script    bench/links.sh, one `ip` process per step (the tutorials' way; the baseline)
  modules   the three modules' main() in-process (netns, linux_bridge, veth_pair batch): the engine alone
  playbook  ansible-playbook -c local with the same three tasks (what a user runs), then its no-op re-run

Prints seconds and the ratio to the script. Run through `make bench` (it isolates the process first).
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

# conftest makes the collection importable
import conftest  # noqa: E402,F401  pylint: disable=unused-import
from helpers.kernel import Sandbox  # noqa: E402
from helpers.modrun import run_module  # noqa: E402

N = int(os.environ.get("BENCH_N", "100"))
PLAYBOOK = os.path.join(HERE, "links.yml")


def pairs(n):
    return [dict(name="vh%d" % i, peer="eth0", peer_netns="c%d" % i, bridge="br0",
                 peer_addresses=["172.18.%d.%d/16" % (1 + i // 200, 10 + i % 200)], peer_gateway="172.18.0.1")
            for i in range(n)]


def timed(fn):
    box = Sandbox()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        box.close()


def script():
    subprocess.run([os.path.join(HERE, "links.sh"), str(N)], check=True)


def modules():
    for name, args in (("netns", dict(name=["c%d" % i for i in range(N)])),
                       ("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"])),
                       ("veth_pair", dict(pairs=pairs(N)))):
        res = run_module(name, args, diff=False)
        assert res["changed"] and not res.get("failed"), res


def modules_noop():
    modules()
    t0 = time.perf_counter()
    for name, args in (("netns", dict(name=["c%d" % i for i in range(N)])),
                       ("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"])),
                       ("veth_pair", dict(pairs=pairs(N)))):
        res = run_module(name, args, diff=False)
        assert not res["changed"], res
    modules_noop.elapsed = time.perf_counter() - t0


def playbook_cmd():
    build = os.path.join(ROOT, ".build")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_HOME=os.path.join(build, "ansible-home"),
               ANSIBLE_LOCAL_TEMP=os.path.join(build, "ansible-tmp"), ANSIBLE_REMOTE_TEMP=os.path.join(build, "ansible-remote-tmp"))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "n=%d" % N, PLAYBOOK]
    return cmd, env


def playbook():
    cmd, env = playbook_cmd()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True, cwd=ROOT).stdout
    playbook.noop = time.perf_counter() - t0
    assert "changed=0" in out, out[-500:]


def main():
    base = timed(script)
    mods = timed(modules)
    timed(modules_noop)
    t0 = time.perf_counter()
    timed(playbook)
    pb_total = time.perf_counter() - t0 - playbook.noop
    rows = [("script (baseline, %d containers)" % N, base), ("modules in-process, create", mods),
            ("modules in-process, no-op re-run", modules_noop.elapsed), ("ansible-playbook -c local, create", pb_total),
            ("ansible-playbook -c local, no-op re-run", playbook.noop)]
    print("%-45s %8s %8s" % ("", "seconds", "ratio"))
    for label, sec in rows:
        print("%-45s %8.2f %8.2f" % (label, sec, sec / base))


if __name__ == "__main__":
    main()
