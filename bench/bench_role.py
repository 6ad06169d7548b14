"""`make bench`, the isolated part: the role container_network against the tutorials' shell recipe, one network of
K containers with masquerade and one published port each, K in BENCH_K (default "10 100 1000").

For each K, each timing the median of BENCH_RUNS (default 3) runs, all in this one run:
  script         bench/tutorial.sh K, each run in a fresh network namespace (the baseline)
  converge       ansible-playbook -c local playbooks/site.yml -e @vars, each run in a fresh namespace
  no-op          the same again on the last converged namespace: must report changed=0
  check          --check on that converged namespace: must report changed=0
  check (fresh)  --check on a fresh namespace (BENCH_FRESH_CHECK_RUNS, default 1): must create nothing
Then the published-ports line: BENCH_PORTS (default 5000, 0: skipped) ports over 50 containers, script vs
converge and no-op (BENCH_PORTS_RUNS runs, default 1); a role run still going after BENCH_PORTS_TIMEOUT seconds
(default 900, 0: none) is stopped and its row marked "(stopped)": its time is a lower bound.

Module invocations come from tests/fleet/callback_plugins/netplumb_count; the managed side's peak RSS from
bench/rss_python.py (installed as .build/bench/rss-python)
as ansible_python_interpreter. Writes .build/bench-role.json and .build/bench.md.
Fails only if a run fails or a re-run changes something; missed targets are reported. Run it through `make
bench` (isolated first: tests/isolated.sh inside `unshare --net --mount`).
"""
import json
import os
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, ".build")
WORK = os.path.join(BUILD, "bench")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

# conftest makes the collection importable
import conftest  # noqa: E402,F401  pylint: disable=unused-import
from helpers.kernel import Sandbox  # noqa: E402
import benchlib  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
KS = [int(k) for k in os.environ.get("BENCH_K", "10 100 1000").split()]
FRESH_CHECK_RUNS = int(os.environ.get("BENCH_FRESH_CHECK_RUNS", "1"))
PORTS = int(os.environ.get("BENCH_PORTS", "5000"))
PORTS_CONTAINERS = 50
PORTS_RUNS = int(os.environ.get("BENCH_PORTS_RUNS", "1"))
PORTS_TIMEOUT = float(os.environ.get("BENCH_PORTS_TIMEOUT", "900")) or None
PLAYBOOK = os.path.join(ROOT, "playbooks", "site.yml")
SCRIPT = os.path.join(HERE, "tutorial.sh")
RESULT = os.path.join(BUILD, "bench-role.json")
REPORT = os.path.join(BUILD, "bench.md")
WRAPPER = os.path.join(WORK, "rss-python")
FLOOR = os.environ.get("BENCH_FLOOR", "1") != "0"
# the managed side's Python (the modules run under it): the venv's (PyPI pyroute2, requirements.txt) unless set,
# e.g. BENCH_PYTHON=/usr/bin/python3 for Debian's python3-pyroute2 (what the role installs on a Debian host)
MANAGED_PYTHON = os.environ.get("BENCH_PYTHON") or sys.executable


class RunFailed(Exception):
    pass


def netns_names():
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def in_fresh_namespace(fn):
    box = Sandbox()
    try:
        return fn()
    finally:
        box.close()


def children_cpu():
    """CPU seconds (user + system) of every waited-for child so far: a run's share is the difference around it.
    Unlike the wall time, a machine busy with other work does not inflate it (the kernel's own asynchronous work,
    such as freeing a closed namespace, is nobody's child and not in it)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def script(k, per=1):
    """Seconds of tutorial.sh in the current (fresh) namespace (its CPU seconds in script.cpu)."""
    before = netns_names()
    start = time.perf_counter()
    cpu0 = children_cpu()
    subprocess.run([SCRIPT, str(k), str(per)], check=True)
    took = time.perf_counter() - start
    script.cpu.append(children_cpu() - cpu0)
    if len(netns_names() - before) != k:
        raise RunFailed("tutorial.sh %d made %d namespaces" % (k, len(netns_names() - before)))
    return took


def playbook(varsfile, tag, check=False, timeout=None, book=PLAYBOOK):
    """Runs site.yml (or `book`) on localhost in the current namespace: dict(seconds, changed, invocations, ours,
    rss_mb)."""
    count = os.path.join(WORK, "count.json")
    rss = os.path.join(WORK, "rss.txt")
    log = os.path.join(WORK, "%s.log" % tag)
    for path in (count, rss):
        if os.path.exists(path):
            os.unlink(path)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(BUILD, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(BUILD, "ansible-remote-tmp"), PYTHONDONTWRITEBYTECODE="1",
               ANSIBLE_CALLBACKS_ENABLED="netplumb_count", NETPLUMB_COUNT_FILE=count,
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "fleet", "callback_plugins"),
               BENCH_RSS_FILE=rss, BENCH_REAL_PYTHON=MANAGED_PYTHON)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % WRAPPER, "-e", "@" + varsfile, book]
    if check:
        cmd.append("--check")
    start = time.perf_counter()
    cpu0 = children_cpu()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # ansible-playbook and its workers, all in its own session
            proc.wait()
            return dict(seconds=time.perf_counter() - start, timed_out=True, log=log)
    took = time.perf_counter() - start
    cpu = children_cpu() - cpu0
    with open(log) as f:
        text = f.read()
    recap = benchlib.parse_recap(text).get("localhost")
    if rc != 0 or recap is None:
        raise RunFailed("%s: ansible-playbook exited %d (log %s):\n%s" % (tag, rc, log, text[-3000:]))
    counts = benchlib.load(count) or dict(modules={})
    total, ours = benchlib.invocations(counts["modules"])
    with open(rss) if os.path.exists(rss) else open(os.devnull) as f:
        rss_mb = benchlib.peak_rss_mb(f.read())
    return dict(seconds=took, cpu=cpu, changed=recap["changed"], invocations=total, ours=ours, rss_mb=rss_mb, log=log,
                timed_out=False)


def install_wrapper():
    """bench/rss_python.py as an executable interpreter with the venv python in its #! line (see its docstring)."""
    with open(os.path.join(HERE, "rss_python.py")) as f:
        source = f.read()
    with open(WRAPPER, "w") as f:
        f.write("#!%s -IS\n%s" % (sys.executable, source))
    os.chmod(WRAPPER, 0o755)


def write_vars(k, per=1):
    path = os.path.join(WORK, "vars-%d-%d.json" % (k, per))
    with open(path, "w") as f:
        json.dump(benchlib.role_vars(k, per), f)
    return path


def converged(res, k, before, tag):
    made = len(netns_names() - before)
    if res["changed"] == 0 or made != k:
        raise RunFailed("%s: converge reported changed=%d and made %d of %d namespaces (log %s)"
                        % (tag, res["changed"], made, k, res["log"]))


def unchanged(res, tag):
    if res["changed"] != 0:
        raise RunFailed("%s: a re-run on the converged namespace reported changed=%d (log %s)" % (tag, res["changed"], res["log"]))


def summary(k, mode, results, base, label=None, note=""):
    inv = max(r["invocations"] for r in results)
    ours = max(r["ours"] for r in results)
    rss = [r["rss_mb"] for r in results if r["rss_mb"] is not None]
    return benchlib.row(k, mode, [r["seconds"] for r in results], base, invocations="%d (%d netplumb)" % (inv, ours),
                        rss_mb=max(rss) if rss else None, label=label, note=note,
                        cpu=[r.get("cpu") for r in results])


def progress(r):
    print("  %-6s %-14s %8.2f s  cpu %s s  ratio %s  invocations %s  peak RSS %s MB" % (
        r["label"], r["mode"], r["seconds"], "-" if r.get("cpu") is None else "%.2f" % r["cpu"],
        "-" if r["ratio"] is None else "%.2fx" % r["ratio"],
        r["invocations"] or "-", "-" if r["rss_mb"] is None else "%.0f" % r["rss_mb"]), flush=True)


def bench_k(k):
    rows = []
    varsfile = write_vars(k)
    script.cpu = []
    base_runs = [in_fresh_namespace(lambda: script(k)) for dummy in range(RUNS)]
    rows.append(benchlib.row(k, "script", base_runs, median_of(base_runs), cpu=script.cpu))
    progress(rows[-1])
    base = rows[-1]["seconds"]
    conv, noop, check = [], [], []
    box = None
    try:
        for i in range(RUNS):
            box = Sandbox()
            before = netns_names()
            conv.append(playbook(varsfile, "k%d-converge-%d" % (k, i)))
            converged(conv[-1], k, before, "K=%d converge run %d" % (k, i))
            if i < RUNS - 1:
                box.close()
                box = None
        for i in range(RUNS):
            noop.append(playbook(varsfile, "k%d-noop-%d" % (k, i)))
            unchanged(noop[-1], "K=%d no-op run %d" % (k, i))
        for i in range(RUNS):
            check.append(playbook(varsfile, "k%d-check-%d" % (k, i), check=True))
            unchanged(check[-1], "K=%d check run %d" % (k, i))
    finally:
        if box is not None:
            box.close()
    for mode, results in (("converge", conv), ("no-op", noop), ("check", check)):
        rows.append(summary(k, mode, results, base))
        progress(rows[-1])
    fresh = []
    for i in range(FRESH_CHECK_RUNS):
        fresh.append(in_fresh_namespace(lambda: fresh_check(varsfile, k, i)))
    if fresh:
        rows.append(summary(k, "check (fresh)", fresh, base, note="%d run(s)" % len(fresh)))
        progress(rows[-1])
    return rows


def bench_floor():
    """The fixed cost of a run: the role on a network with no container (converged first), re-run - the
    controller's start, the plan and one module call doing nothing. No script row: its ratio would be 0/0."""
    varsfile = write_vars(0)
    box = Sandbox()
    try:
        playbook(varsfile, "floor-converge")
        runs = []
        for i in range(RUNS):
            runs.append(playbook(varsfile, "floor-noop-%d" % i))
            unchanged(runs[-1], "floor no-op run %d" % i)
    finally:
        box.close()
    row = summary(0, "no-op", runs, None, label="floor", note="a network with no container: the fixed cost of a run")
    progress(row)
    return [row]


def bench_ansible_floor():
    """ansible-playbook's own fixed cost, beside the role's floor: the same command line, inventory, interpreter
    and callbacks, a play of one ansible.builtin.ping (one module call doing nothing, whose AnsiballZ payload holds
    only ansible's own module_utils). What the role's floor costs beyond it is the role's."""
    book = os.path.join(WORK, "ping.yml")
    with open(book, "w") as f:
        f.write("- name: One module call doing nothing\n  hosts: all\n  gather_facts: false\n  tasks:\n"
                "    - name: Ping\n      ansible.builtin.ping:\n")
    varsfile = write_vars(0)
    runs = []
    for i in range(RUNS):
        runs.append(playbook(varsfile, "ansible-floor-%d" % i, book=book))
        unchanged(runs[-1], "ansible floor run %d" % i)
    row = summary(0, "one ping", runs, None, label="ansible",
                  note="ansible-playbook alone: one play, one ansible.builtin.ping (the floor of any role)")
    progress(row)
    return [row]


def fresh_check(varsfile, k, i):
    before = netns_names()
    res = playbook(varsfile, "k%d-check-fresh-%d" % (k, i), check=True)
    bridge = subprocess.run(["ip", "link", "show", "dev", benchlib.BRIDGE], capture_output=True, check=False).returncode
    if netns_names() != before or bridge == 0:
        raise RunFailed("K=%d check mode on a fresh namespace created something (log %s)" % (k, res["log"]))
    if res["changed"] == 0:
        raise RunFailed("K=%d check mode on a fresh namespace predicted no change (log %s)" % (k, res["log"]))
    return res


def median_of(values):
    return benchlib.median(values)


def bench_ports(ports):
    per = ports // PORTS_CONTAINERS
    k = PORTS_CONTAINERS
    label = "%d ports" % (per * k)
    varsfile = write_vars(k, per)
    script.cpu = []
    base_runs = [in_fresh_namespace(lambda: script(k, per)) for dummy in range(PORTS_RUNS)]
    rows = [benchlib.row(k, "script", base_runs, median_of(base_runs), label=label, note="%d containers x %d" % (k, per),
                         cpu=script.cpu)]
    progress(rows[-1])
    conv, noop = [], []
    box = None
    try:
        for i in range(PORTS_RUNS):
            box = Sandbox()
            before = netns_names()
            conv.append(playbook(varsfile, "ports-converge-%d" % i, timeout=PORTS_TIMEOUT))
            if conv[-1]["timed_out"]:
                break
            converged(conv[-1], k, before, "%s converge run %d" % (label, i))
            if i < PORTS_RUNS - 1:
                box.close()
                box = None
        for i in range(PORTS_RUNS if not conv[-1]["timed_out"] else 0):
            noop.append(playbook(varsfile, "ports-noop-%d" % i, timeout=PORTS_TIMEOUT))
            if noop[-1]["timed_out"]:
                break
            unchanged(noop[-1], "%s no-op run %d" % (label, i))
    finally:
        if box is not None:
            box.close()
    for mode, results in (("converge", conv), ("no-op", noop)):
        if results and results[-1]["timed_out"]:
            # stopped: the row says "more than", never a made-up number
            rows.append(benchlib.row(k, mode + " (stopped)", [results[-1]["seconds"]], rows[0]["seconds"], label=label,
                                     note="stopped after BENCH_PORTS_TIMEOUT=%.0f s: the time is a lower bound" % PORTS_TIMEOUT))
            progress(rows[-1])
            continue
        if not results:
            continue
        rows.append(summary(k, mode, results, rows[0]["seconds"], label=label))
        progress(rows[-1])
    return rows


def notes():
    return ["ratio: the row's median over the script's median (same K, same run); fleet rows: over one host's.",
            "converge: fresh namespace each run; no-op and check: the last converged namespace; medians of %d runs "
            "(check (fresh): %d, published ports: %d)." % (RUNS, FRESH_CHECK_RUNS, PORTS_RUNS),
            "invocations: managed-side module invocations per run (controller-only actions such as set_fact not "
            "counted), of them netplumb.container.* in parentheses.",
            "peak RSS: the largest module process (with its children) over the row's runs, through bench/rss_python.py "
            "(which adds one small python start, about 15 ms, per invocation to the role's times).",
            "cpu s: the median CPU seconds (user + system) of the run's processes (ansible-playbook, its workers, the "
            "module; the script's ip and iptables): what the run costs whatever else runs. On an idle machine a role "
            "run's wall time is close to it; when the wall time is far above it, the machine was busy (load average "
            "at the start and end of this run: %s)." % (" / ".join(LOADS) or "?")]


LOADS = []


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main():
    os.makedirs(WORK, exist_ok=True)
    install_wrapper()
    machine = benchlib.machine_info()
    machine["managed"] = benchlib.managed_python(MANAGED_PYTHON)
    print("machine: " + benchlib.machine_line(machine))
    print("targets (issue 18):\n  " + "\n  ".join(t[4] for t in benchlib.TARGETS), flush=True)
    rows = []
    LOADS.append(loadavg())
    started = time.perf_counter()
    if FLOOR:
        rows += bench_ansible_floor()
        rows += bench_floor()
    for k in KS:
        print("K=%d, %d runs each" % (k, RUNS), flush=True)
        rows += bench_k(k)
        save(rows, machine)
    if PORTS:
        print("%d published ports over %d containers" % (PORTS, PORTS_CONTAINERS), flush=True)
        rows += bench_ports(PORTS)
        save(rows, machine)
    LOADS.append(loadavg())
    report = benchlib.render(rows, machine, notes())
    print()
    print(report)
    print("isolated part took %.0f s; report in %s" % (time.perf_counter() - started, REPORT))
    return 0


def save(rows, machine):
    with open(RESULT, "w") as f:
        json.dump(dict(machine=machine, rows=rows, notes=notes()), f, indent=1)
    with open(REPORT, "w") as f:
        f.write(benchlib.render(rows, machine, notes()))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunFailed as e:
        print("bench FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
