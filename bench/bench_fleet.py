"""`make bench`, the fleet part: the role over SSH on lab hosts (tests/lab/netlab.py, its own lab in
.build/lab-bench), one network of 100 containers (BENCH_FLEET_K) per host: one host alone, then three hosts in
one play (they run in parallel), each run on fresh hosts; the median of BENCH_RUNS (default 3) runs and the
ratio 3 hosts / 1 host. The last run's three hosts are re-run once and must report changed=0.

Runs in the machine's namespace like tests/fleet/scale.py: everything it creates lives in the lab, which is torn
down in `finally`. Adds its rows to .build/bench-role.json's (the isolated part's) in .build/bench.md.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, ".build")
WORK = os.path.join(BUILD, "bench")
STATE = os.path.join(BUILD, "lab-bench")
INVENTORY = os.path.join(STATE, "inventory.ini")
NETLAB = ["/usr/bin/python3", os.path.join(ROOT, "tests", "lab", "netlab.py"), "--state-dir", STATE]
sys.path.insert(0, HERE)

import benchlib  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
K = int(os.environ.get("BENCH_FLEET_K", "100"))
ONE, THREE = ["h4"], ["h1", "h2", "h3"]


class RunFailed(Exception):
    pass


def env(count):
    home = os.path.join(BUILD, "home")
    os.makedirs(home, exist_ok=True)
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), HOME=home,
                ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(BUILD, "ansible-tmp"),
                ANSIBLE_REMOTE_TEMP=os.path.join(BUILD, "ansible-remote-tmp"), PYTHONDONTWRITEBYTECODE="1",
                ANSIBLE_CALLBACKS_ENABLED="netplumb_count", NETPLUMB_COUNT_FILE=count,
                ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "fleet", "callback_plugins"))


def playbook(hosts, varsfile, tag):
    count = os.path.join(WORK, "fleet-count.json")
    log = os.path.join(WORK, "%s.log" % tag)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", INVENTORY, "-l", ",".join(hosts),
           "-e", "@" + varsfile, os.path.join(ROOT, "playbooks", "site.yml")]
    start = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, env=env(count), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    took = time.perf_counter() - start
    with open(log) as f:
        text = f.read()
    recap = benchlib.parse_recap(text)
    if rc != 0 or sorted(recap) != sorted(hosts):
        raise RunFailed("%s: ansible-playbook exited %d (log %s):\n%s" % (tag, rc, log, text[-3000:]))
    total, ours = benchlib.invocations((benchlib.load(count) or dict(modules={}))["modules"])
    return dict(seconds=took, changed=dict((h, r["changed"]) for h, r in recap.items()),
                invocations="%d (%d netplumb) per host" % (total // len(hosts), ours // len(hosts)), log=log)


def one_run(i, varsfile, last):
    subprocess.run(NETLAB + ["up", "--hosts", str(len(ONE + THREE))], check=True, stdout=subprocess.DEVNULL)
    try:
        # warm every host's ssh connection first (not timed), so both timings start from the same point
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "-i", INVENTORY, "all", "-m",
                        "ansible.builtin.ping"], env=env(os.devnull), check=True, stdout=subprocess.DEVNULL)
        one = playbook(ONE, varsfile, "fleet-1host-%d" % i)
        three = playbook(THREE, varsfile, "fleet-3hosts-%d" % i)
        for res in (one, three):
            if 0 in res["changed"].values():
                raise RunFailed("a converge on a fresh lab host reported changed=0 (log %s)" % res["log"])
        again = None
        if last:
            again = playbook(THREE, varsfile, "fleet-3hosts-noop")
            if set(again["changed"].values()) != {0}:
                raise RunFailed("fleet re-run reported %s (log %s)" % (again["changed"], again["log"]))
    finally:
        down = subprocess.run(NETLAB + ["down"], check=False, stdout=subprocess.DEVNULL)
    if down.returncode != 0:
        raise RunFailed("netlab down did not leave the lab clean (exit %d)" % down.returncode)
    return one, three, again


def main():
    os.makedirs(WORK, exist_ok=True)
    varsfile = os.path.join(WORK, "vars-fleet-%d.json" % K)
    with open(varsfile, "w") as f:
        json.dump(benchlib.role_vars(K), f)
    print("fleet: %d containers per lab host over ssh, 1 host vs 3 hosts in one play, %d runs" % (K, RUNS), flush=True)
    started = time.perf_counter()
    ones, threes, again = [], [], None
    for i in range(RUNS):
        one, three, noop = one_run(i, varsfile, i == RUNS - 1)
        ones.append(one)
        threes.append(three)
        again = noop or again
        print("  run %d: 1 host %.2f s, 3 hosts %.2f s" % (i, one["seconds"], three["seconds"]), flush=True)
    base = benchlib.median([r["seconds"] for r in ones])
    rows = [benchlib.row(K, "fleet 1 host", [r["seconds"] for r in ones], base, invocations=ones[-1]["invocations"]),
            benchlib.row(K, "fleet 3 hosts", [r["seconds"] for r in threes], base, invocations=threes[-1]["invocations"]),
            benchlib.row(K, "fleet 3 hosts no-op", [again["seconds"]], base, invocations=again["invocations"],
                         note="1 run")]
    role = benchlib.load(os.path.join(BUILD, "bench-role.json")) or {}
    machine = role.get("machine") or benchlib.machine_info()
    all_rows = [r for r in role.get("rows", []) if not r["mode"].startswith("fleet")] + rows
    notes = role.get("notes", []) + ["fleet: lab hosts (tests/lab/netlab.py) over ssh, /usr/bin/python3 with "
                                     "python3-pyroute2; fresh hosts each run; 3 hosts run in parallel (forks 5) on "
                                     "this machine's %s cores." % machine.get("nproc")]
    report = benchlib.render(all_rows, machine, notes)
    with open(os.path.join(BUILD, "bench-fleet.json"), "w") as f:
        json.dump(dict(machine=machine, rows=rows), f, indent=1)
    with open(os.path.join(BUILD, "bench.md"), "w") as f:
        f.write(report)
    print()
    print(report)
    print("fleet part took %.0f s; report in %s" % (time.perf_counter() - started, os.path.join(BUILD, "bench.md")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunFailed as e:
        print("bench FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
