# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One network of N (default 100) containers on one lab host: count module invocations, time the role
(first run, no-op re-run) against tests/fleet/bench_shell.sh on a second, fresh lab host.

Runs in its own lab (.build/lab-scale), torn down at the end. Fails if the role needs more than
MAX_INVOCATIONS module invocations or the re-run changes anything. Run with the venv's ansible on PATH
(make fleet-scale).
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
MAX_INVOCATIONS = 6  # preflight, then bridge, netns, veth_pair, container_nat, port_publish: one each


def network(n):
    containers = [dict(name="c%d" % i, address="172.18.%d.%d" % (i // 250, i % 250 + 2)) for i in range(1, n + 1)]
    containers[1]["publish"] = ["5000:5000/tcp"]
    return [dict(name="scale", bridge="br0", subnet="172.18.0.0/16", containers=containers)]


def playbook(extra_vars, count_file):
    env = dict(os.environ, NETPLUMB_COUNT_FILE=count_file, ANSIBLE_CALLBACKS_ENABLED="netplumb_count",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "fleet", "callback_plugins"))
    cmd = ["ansible-playbook", "-i", os.path.join(STATE, "inventory.ini"), "-l", "h1", "-e", "@" + extra_vars,
           os.path.join(ROOT, "playbooks", "site.yml")]
    start = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    took = time.monotonic() - start
    with open(count_file) as f:
        counts = json.load(f)
    return took, counts


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 100
    os.makedirs(BUILD, exist_ok=True)
    extra = os.path.join(BUILD, "scale-vars.json")
    with open(extra, "w") as f:
        json.dump(dict(container_networks=network(n)), f)
    subprocess.run(NETLAB + ["up", "--hosts", "2"], check=True, stdout=subprocess.DEVNULL)
    try:
        start = time.monotonic()
        subprocess.run(["ansible", "-i", os.path.join(STATE, "inventory.ini"), "h1", "-m", "ansible.builtin.ping"],
                       check=True, stdout=subprocess.DEVNULL)
        ping = time.monotonic() - start
        first, c1 = playbook(extra, os.path.join(BUILD, "scale-count-1.json"))
        second, c2 = playbook(extra, os.path.join(BUILD, "scale-count-2.json"))
        start = time.monotonic()
        subprocess.run(NETLAB + ["exec", "h2", "--", "sh", os.path.join(ROOT, "tests", "fleet", "bench_shell.sh"),
                                 str(n)], check=True)
        shell = time.monotonic() - start
    finally:
        subprocess.run(NETLAB + ["down"], check=False, stdout=subprocess.DEVNULL)
    ours = dict((k, v) for k, v in c1["modules"].items() if k.startswith("netplumb.container."))
    result = dict(containers=n, module_invocations=sum(ours.values()), per_module=ours,
                  all_task_results=c1["modules"], role_first_run_s=round(first, 2), role_rerun_s=round(second, 2),
                  rerun_changed=c2["changed"], shell_script_s=round(shell, 2), ansible_ping_s=round(ping, 2))
    print(json.dumps(result, indent=1, sort_keys=True))
    with open(os.path.join(BUILD, "scale-result.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    ok = result["module_invocations"] <= MAX_INVOCATIONS and c2["changed"] == 0
    print("%d containers: %d module invocations, re-run changed=%d: %s"
          % (n, result["module_invocations"], c2["changed"], "ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
