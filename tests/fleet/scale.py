# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One converge per host, counted (make fleet-scale), in its own lab (.build/lab-scale), torn down at the end:

- h1 over SSH: one network of N (default 100) containers, each publishing a port; its no-op re-run; then three
  networks of N containers each. The role's module invocations on the host must not grow with the number of
  containers or networks (one container_network call; the same task results), and re-runs change nothing.
- h2: tests/fleet/bench_shell.sh N, the hand-written equivalent (its time is printed, never asserted).
- h3 over SSH: BIG (default 1000) containers with a published port each, the module's Python limited to
  `ulimit -n 1024` (an interpreter wrapper): it converges, and the re-run reports changed=0.

Counts, never times, decide. Run with the venv's ansible on PATH (make fleet-scale).
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, ".build")
STATE = os.path.join(BUILD, "lab-scale")
NETLAB = ["/usr/bin/python3", os.path.join(ROOT, "tests", "lab", "netlab.py"), "--state-dir", STATE]
MAX_INVOCATIONS = 1  # container_network: every network of the host in one module call


def network(n, name="scale", second=0, publish=True):
    containers = [dict(name="%s%d" % (name[0], i), address="172.%d.%d.%d" % (18 + second, i // 250, i % 250 + 2),
                       publish=["%d:80" % (10000 + 2000 * second + i)] if publish else [])
                  for i in range(1, n + 1)]
    return [dict(name=name, bridge="br-" + name, subnet="172.%d.0.0/16" % (18 + second), containers=containers)]


def write_vars(name, networks, **extra):
    path = os.path.join(BUILD, name)
    with open(path, "w") as f:
        json.dump(dict(extra, container_networks=networks), f)
    return path


def ours(counts):
    return dict((k, v) for k, v in counts["modules"].items() if k.startswith("netplumb.container."))


def playbook(extra_vars, count_file, host="h1"):
    env = dict(os.environ, NETPLUMB_COUNT_FILE=count_file, ANSIBLE_CALLBACKS_ENABLED="netplumb_count",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "fleet", "callback_plugins"))
    cmd = ["ansible-playbook", "-i", os.path.join(STATE, "inventory.ini"), "-l", host, "-e", "@" + extra_vars,
           os.path.join(ROOT, "playbooks", "site.yml")]
    start = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    took = time.monotonic() - start
    with open(count_file) as f:
        counts = json.load(f)
    return took, counts


NOFILE_PY = """#!/bin/sh
# the modules' Python with the soft limit of a systemd-started session: ulimit -n 1024
ulimit -n 1024 || exit 97
exec /usr/bin/python3 "$@"
"""


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 100
    big = int(os.environ.get("FLEET_SCALE_BIG", "1000"))
    os.makedirs(BUILD, exist_ok=True)
    one = write_vars("scale-vars.json", network(n))
    three = write_vars("scale-vars-3.json", network(n) + network(n, "more", 1) + network(n, "third", 2))
    wrapper = os.path.join(BUILD, "python-nofile-1024")
    with open(wrapper, "w") as f:
        f.write(NOFILE_PY)
    os.chmod(wrapper, 0o755)
    many = write_vars("scale-vars-big.json", network(big, "big"), ansible_python_interpreter=wrapper)
    subprocess.run(NETLAB + ["up", "--hosts", "3"], check=True, stdout=subprocess.DEVNULL)
    result = dict(containers=n)
    try:
        start = time.monotonic()
        subprocess.run(["ansible", "-i", os.path.join(STATE, "inventory.ini"), "h1", "-m", "ansible.builtin.ping"],
                       check=True, stdout=subprocess.DEVNULL)
        result["ansible_ping_s"] = round(time.monotonic() - start, 2)
        first, c1 = playbook(one, os.path.join(BUILD, "scale-count-1.json"))
        second, c2 = playbook(one, os.path.join(BUILD, "scale-count-2.json"))
        third, c3 = playbook(three, os.path.join(BUILD, "scale-count-3.json"))
        dummy, c4 = playbook(three, os.path.join(BUILD, "scale-count-4.json"))
        start = time.monotonic()
        subprocess.run(NETLAB + ["exec", "h2", "--", "sh", os.path.join(ROOT, "tests", "fleet", "bench_shell.sh"),
                                 str(n)], check=True)
        result["shell_script_s"] = round(time.monotonic() - start, 2)
        if big:
            big_first, c5 = playbook(many, os.path.join(BUILD, "scale-count-5.json"), host="h3")
            big_second, c6 = playbook(many, os.path.join(BUILD, "scale-count-6.json"), host="h3")
            result.update(big_containers=big, big_first_run_s=round(big_first, 2), big_rerun_s=round(big_second, 2),
                          big_rerun_changed=c6["changed"], big_invocations=sum(ours(c5).values()))
    finally:
        subprocess.run(NETLAB + ["down"], check=False, stdout=subprocess.DEVNULL)
    result.update(module_invocations=sum(ours(c1).values()), per_module=ours(c1), all_task_results=c1["modules"],
                  three_networks_invocations=sum(ours(c3).values()), three_networks_task_results=c3["modules"],
                  role_first_run_s=round(first, 2), role_rerun_s=round(second, 2), three_networks_first_run_s=round(
                      third, 2), rerun_changed=c2["changed"], three_networks_rerun_changed=c4["changed"])
    print(json.dumps(result, indent=1, sort_keys=True))
    with open(os.path.join(BUILD, "scale-result.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    checks = [
        ("module invocations <= %d" % MAX_INVOCATIONS, result["module_invocations"] <= MAX_INVOCATIONS),
        ("3 networks: as many invocations as 1", result["three_networks_invocations"] == result["module_invocations"]),
        ("3 networks: the same task results as 1", c3["modules"] == c1["modules"]),
        ("re-runs change nothing", c2["changed"] == 0 and c4["changed"] == 0),
    ]
    if big:
        checks += [("%d containers under ulimit -n 1024: one invocation" % big, result["big_invocations"] == 1),
                   ("%d containers: re-run changed=0" % big, c6["changed"] == 0)]
    for what, ok in checks:
        print("%-50s %s" % (what, "ok" if ok else "FAILED"))
    return 0 if all(ok for dummy, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
