"""The role container_network through ansible-playbook under cProfile: where the controller's CPU goes.

For each K in PROFILE_ROLE_K (default "0 1000"; 0 is the floor: one network with no container) in a throwaway network
namespace: the role converges once unprofiled, then its no-op re-run runs under cProfile with `-f 1`. Ansible
forks a worker process per task (multiprocessing, fork): the main process (the strategy: loading, variable
management, results) is profiled as a whole, and each worker (TaskExecutor: templating the task's arguments,
the conditionals, the action plugin, running the module and reading its JSON answer) is profiled on its own and
the workers' profiles are added up. The module itself runs in its own Python on the "managed" side (a further
process, `make profile-module` profiles it): here its time is the workers' wait for it.

Writes .build/bench/profile-role-K.txt (CPU of the run, time per task, top functions of both sides by cumulative
and own time) and the raw profiles beside it.

  make profile-role                       floor and K=1000
  make profile-role PROFILE_ROLE_K=100

Run through tests/isolated.sh (the Makefile's target does): every run is in a throwaway namespace.
"""
import glob
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, ".build")
OUT = os.path.join(BUILD, "bench")
PLAYBOOK = os.path.join(ROOT, "playbooks", "site.yml")
KS = [int(k) for k in os.environ.get("PROFILE_ROLE_K", "0 1000").split()]
TOP = int(os.environ.get("PROFILE_TOP", "35"))


def run_profiled_ansible(prefix, argv):
    """In the child: ansible-playbook's main under cProfile, each forked worker under its own profile."""
    import cProfile
    from ansible.executor.process import worker

    original = worker.WorkerProcess._run

    def profiled_run(self):
        # dumped just before the worker sends its result: once the result is sent, the main process may end the
        # run and the worker with it (the pickling of the result for the queue is therefore not in the profile)
        prof = cProfile.Profile(time.process_time)
        t0 = time.perf_counter()
        c0 = time.process_time()
        send = self._final_q.send_task_result

        def dump_then_send(*args, **kwargs):
            prof.disable()
            if not os.path.exists(name + ".json"):
                prof.dump_stats(name)
                with open(name + ".json", "w") as f:
                    json.dump(dict(task=self._task.get_name(), wall=time.perf_counter() - t0,
                                   cpu=time.process_time() - c0), f)
            return send(*args, **kwargs)

        name = "%s-worker-%d.prof" % (prefix, os.getpid())
        self._final_q.send_task_result = dump_then_send
        prof.enable()
        return original(self)

    worker.WorkerProcess._run = profiled_run
    from ansible.cli.playbook import main
    sys.argv = ["ansible-playbook"] + argv
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        main()
    except SystemExit as e:
        code = e.code
    else:
        code = 0
    finally:
        prof.disable()
        prof.dump_stats(prefix + "-main.prof")
    sys.exit(code)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def env():
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(BUILD, "ansible-tmp"),
                ANSIBLE_REMOTE_TEMP=os.path.join(BUILD, "ansible-remote-tmp"), PYTHONDONTWRITEBYTECODE="1")


def playbook(varsfile, log, prefix=None):
    argv = ["-i", "localhost,", "-c", "local", "-f", "1", "-e", "ansible_python_interpreter=%s" % sys.executable,
            "-e", "@" + varsfile, PLAYBOOK]
    if prefix:
        cmd = [sys.executable, os.path.abspath(__file__), "--run", prefix] + argv
    else:
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")] + argv
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, env=env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    took, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if rc != 0:
        with open(log) as f:
            raise SystemExit("ansible-playbook exited %d (log %s):\n%s" % (rc, log, f.read()[-3000:]))
    return took, cpu


def stats_text(stats, order, top):
    buf = io.StringIO()
    stats.stream = buf
    stats.sort_stats(order).print_stats(top)
    text = buf.getvalue()
    return text[text.find("   ncalls"):] if "   ncalls" in text else text


def profile_k(k):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    sys.path.insert(0, HERE)
    import conftest  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    from helpers.kernel import Sandbox  # pylint: disable=import-outside-toplevel
    import benchlib  # pylint: disable=import-outside-toplevel

    varsfile = os.path.join(OUT, "profile-role-vars-%d.json" % k)
    with open(varsfile, "w") as f:
        json.dump(benchlib.role_vars(k), f)
    prefix = os.path.join(OUT, "profile-role-%d" % k)
    for old in glob.glob(prefix + "-*.prof*"):
        os.unlink(old)
    box = Sandbox()
    try:
        playbook(varsfile, prefix + "-converge.log")
        plain = playbook(varsfile, prefix + "-noop.log")
        took, cpu = playbook(varsfile, prefix + "-noop-profiled.log", prefix=prefix)
    finally:
        box.close()
    main = pstats.Stats(prefix + "-main.prof")
    workers = sorted(w for w in glob.glob(prefix + "-worker-*.prof") if os.path.exists(w + ".json"))
    tasks = []
    for w in workers:
        with open(w + ".json") as f:
            tasks.append(json.load(f))
    wstats = pstats.Stats(*workers)
    lines = ["The role container_network, K=%d, no-op re-run (ansible-playbook -f 1, -c local)" % k,
             "unprofiled: %.2f s wall, %.2f s CPU (ansible-playbook, its workers and the module)" % plain,
             "profiled:   %.2f s wall, %.2f s CPU" % (took, cpu),
             "main process: %.2f s CPU in its profile; workers (%d tasks run): %.2f s CPU in theirs (cProfile timer: process CPU time)"
             % (main.total_tt, len(workers), wstats.total_tt), "",
             "Per task (worker process CPU, wall; the module's own process is not in the CPU):"]
    for t in sorted(tasks, key=lambda t: -t["cpu"]):
        lines.append("  %7.3f s cpu %7.3f s wall  %s" % (t["cpu"], t["wall"], t["task"]))
    for title, st in (("MAIN PROCESS", main), ("WORKERS (all tasks)", wstats)):
        lines += ["", "== %s by cumulative time" % title, stats_text(st, "cumulative", TOP),
                  "== %s by own time" % title, stats_text(st, "tottime", TOP)]
    report = prefix + ".txt"
    with open(report, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:6 + len(tasks)]))
    print("full profile: %s" % report, flush=True)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--run":
        run_profiled_ansible(sys.argv[2], sys.argv[3:])
        return
    os.makedirs(OUT, exist_ok=True)
    for k in KS:
        profile_k(k)


if __name__ == "__main__":
    main()
