"""The pure parts of `make bench`: the topology (the same for bench/tutorial.sh and the role's variables), medians,
ratios, issue 18's targets, the PLAY RECAP and module-count readers and the Markdown table. No kernel, no
Ansible run: tests/unit/test_bench.py tests them.
"""
import json
import os
import platform
import re
import statistics
import subprocess

NETWORK = "bench"
BRIDGE = "br0"
SUBNET = "172.18.0.0/16"
GATEWAY = "172.18.0.1"
HOST_PORT_BASE = 10000
CONTAINER_PORT = 80

# Task actions that run on the controller only: not module invocations on the managed host.
CONTROLLER_ACTIONS = frozenset(("set_fact", "fail", "assert", "debug", "include_tasks", "import_tasks", "include_role",
                                "import_role", "include_vars", "meta", "add_host", "group_by", "set_stats", "pause",
                                "validate_argument_spec"))


def address(i):
    """Container cI's address (I from 1), as in tutorial.sh: 172.18.(I/250).(I%250+2)."""
    return "172.18.%d.%d" % (i // 250, i % 250 + 2)


def publish(i, per=1):
    """Container cI's published ports, as in tutorial.sh: host 10000+(I-1)*P+J -> container 79+J, J = 1..P."""
    return ["%d:%d" % (HOST_PORT_BASE + (i - 1) * per + j, CONTAINER_PORT - 1 + j) for j in range(1, per + 1)]


def containers(k, per=1):
    return [dict(name="c%d" % i, address=address(i), publish=publish(i, per)) for i in range(1, k + 1)]


def role_vars(k, per=1):
    """The role's extra-vars for one network of K containers with P published ports each."""
    return dict(container_networks=[dict(name=NETWORK, bridge=BRIDGE, subnet=SUBNET, gateway=GATEWAY,
                                         containers=containers(k, per))])


def median(values):
    return statistics.median(values) if values else None


def ratio(value, base):
    if value is None or not base:
        return None
    return value / base


# Issue 8's targets: (mode, K, kind, limit, text). kind "ratio": median / the script's median of the same K;
# "scale": median / the same mode's median at K=100; "rss": peak RSS in MB; "fleet": the row's ratio (3 hosts /
# 1 host). mode None: every role row of that K.
TARGETS = (     # issue 18's (the K=1000 scale and the fleet's from issue 8)
    ("converge", 100, "ratio", 0.7, "converge K=100 <= 0.7x script"),
    ("converge", 1000, "ratio", 0.3, "converge K=1000 <= 0.3x script"),
    ("converge", 1000, "scale", 11.0, "converge K=1000 <= 11x converge K=100"),
    ("no-op", 100, "ratio", 0.5, "no-op K=100 <= 0.5x script"),
    ("no-op", 1000, "ratio", 0.1, "no-op K=1000 <= 0.1x script"),
    ("check", 1000, "ratio", 0.1, "check K=1000 <= 0.1x script"),
    (None, 1000, "rss", 100.0, "peak RSS K=1000 <= 100 MB"),
    ("fleet 3 hosts", 100, "fleet", 1.5, "fleet 3 hosts x 100 <= 1.5x one host"),
)
ROLE_MODES = ("converge", "no-op", "check", "check (fresh)")


def row(k, mode, runs, base=None, invocations=None, rss_mb=None, label=None, note="", cpu=None):
    """One table row: the median of `runs` (seconds) and its ratio to `base` (the script's median, or one host's);
    `cpu`: the CPU seconds (user + system) of each run's processes, whose median is shown beside the wall time."""
    med = median(runs)
    return dict(k=k, label=label or str(k), mode=mode, runs=[round(r, 3) for r in runs], seconds=med,
                ratio=ratio(med, base), invocations=invocations, rss_mb=rss_mb, note=note,
                cpu=median([c for c in cpu or [] if c is not None]))


def evaluate(r, rows):
    """[(target text, measured text, met)] of the targets that apply to row r (rows: the whole table, for "scale")."""
    out = []
    for mode, k, kind, limit, text in TARGETS:
        if r["k"] != k or r["label"] != str(k):
            continue
        if mode is None:
            if r["mode"] not in ROLE_MODES or r["rss_mb"] is None:
                continue
            out.append((text, "%.0f MB" % r["rss_mb"], r["rss_mb"] <= limit))
            continue
        if r["mode"] != mode:
            continue
        if kind in ("ratio", "fleet"):
            if r["ratio"] is not None:
                out.append((text, "%.2fx" % r["ratio"], r["ratio"] <= limit))
        elif kind == "scale":
            ref = [x for x in rows if x["mode"] == mode and x["k"] == 100 and x["label"] == "100"]
            got = ratio(r["seconds"], ref[0]["seconds"]) if ref else None
            if got is None:
                out.append((text, "needs K=100", None))
            else:
                out.append((text, "%.1fx" % got, got <= limit))
    return out


def _num(value, fmt):
    return "" if value is None else fmt % value


def render(rows, machine, notes=()):
    """The Markdown report: machine line, targets, the table (one line per row, its targets and met/missed)."""
    lines = ["# make bench", "", "Machine: " + machine_line(machine), "", "Targets (issue 18):"]
    lines += ["- " + t[4] for t in TARGETS]
    lines += ["", "| K | mode | median s | ratio | cpu s | invocations | peak RSS MB | runs s | target | result |",
              "|---|---|---:|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        checks = evaluate(r, rows)
        target = "; ".join(c[0] for c in checks)
        result = "; ".join("%s %s" % (c[1], "n/a" if c[2] is None else "met" if c[2] else "MISSED") for c in checks)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], r["mode"], _num(r["seconds"], "%.2f"), _num(r["ratio"], "%.2fx"), _num(r.get("cpu"), "%.2f"),
            "" if r["invocations"] is None else r["invocations"], _num(r["rss_mb"], "%.0f"),
            " ".join("%.2f" % x for x in r["runs"]) + (" (%s)" % r["note"] if r["note"] else ""), target, result))
    lines += [""] + ["- " + n for n in notes]
    return "\n".join(lines).rstrip() + "\n"


RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def parse_recap(stdout):
    """{host: {ok, changed, unreachable, failed}} from ansible-playbook's PLAY RECAP."""
    return dict((m.group(1), dict(ok=int(m.group(2)), changed=int(m.group(3)), unreachable=int(m.group(4)),
                                  failed=int(m.group(5)))) for m in RECAP.finditer(stdout))


def invocations(counts):
    """(managed-side module invocations, of them netplumb.container.*) from netplumb_count's per-action counts."""
    total = ours = 0
    for action, n in counts.items():
        if action.startswith("netplumb.container."):
            ours += n
        if action.split(".")[-1] in CONTROLLER_ACTIONS and (action.count(".") == 0 or action.startswith("ansible.")):
            continue
        total += n
    return total, ours


def peak_rss_mb(text):
    """The largest ru_maxrss (kB, one a line, written by bench/rss_python.py) in MB, None if there is none."""
    values = [int(x) for x in text.split()]
    return max(values) / 1024.0 if values else None


def _version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # pylint: disable=broad-except
        return "?"


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    try:
        iptables = subprocess.run(["iptables", "-V"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        iptables = "?"
    return dict(nproc=os.cpu_count(), kernel=platform.release(), cpu=cpu, python=platform.python_version(),
                ansible_core=_version("ansible-core"), pyroute2=_version("pyroute2"), iptables=iptables)


def managed_python(python):
    """'PATH (python X, pyroute2 Y)' of the modules' Python."""
    code = "import platform, pyroute2; print(platform.python_version(), getattr(pyroute2, '__version__', '?'))"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        out = []
    if len(out) != 2:
        return "%s (no pyroute2)" % python
    version = out[1]
    if version in ("?", "unknown"):     # Debian's 0.7.2 reports no __version__
        meta = "import importlib.metadata as m; print(m.version('pyroute2'))"
        version = subprocess.run([python, "-c", meta], capture_output=True, text=True, check=False).stdout.strip() or "?"
    return "%s (python %s, pyroute2 %s)" % (python, out[0], version)


def machine_line(m):
    line = ("nproc %(nproc)s, kernel %(kernel)s, CPU %(cpu)s, python %(python)s, ansible-core %(ansible_core)s, "
            "pyroute2 %(pyroute2)s, %(iptables)s" % m)
    if m.get("managed"):
        line += "; modules run by " + m["managed"]
    return line


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
