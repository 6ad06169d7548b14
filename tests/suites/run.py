"""Runs make suites side by side in a few lanes, each in its own make, timed; used by `make test` and
`make test-kernel` (through tests/suites/run.sh).

    tests/suites/run.py [--jobs N] [--keep-going] SUITE...

- Two suites that name the same resource in tests/suites/suites.txt never run at the same time; a suite not
  listed there runs alone. Among the suites that may start, the longest (by its idle time in suites.txt, else
  the last run's time in .build/suites/times.json) starts first.
- Each suite's output goes to .build/suites/SUITE.log; one line is printed when a suite starts and ends.
- At the first failure no further suite starts; the running ones finish (they clean up their labs), then the
  failure's log tail is printed, and last (where a CI keeps only the end of the output) a digest of what failed:
  pytest's FAILED/ERROR summary lines, the first assertion lines, Ansible's fatal lines. --keep-going runs every
  suite anyway.
- The table of times (start offset, seconds, result per suite; the wall time and the sum) is printed in every
  case, also on failure or interrupt; the exit code is the first failed suite's.

Environment: MAKE (the make to call), SUITE_JOBS (lanes, default 3), SUITE_LOG_TAIL (lines, default 60).
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LOGS = os.path.join(ROOT, ".build", "suites")
TIMES = os.path.join(LOGS, "times.json")
ALONE = "*"


def read_declarations(path=os.path.join(HERE, "suites.txt")):
    """{suite: (seconds, frozenset(resources))} from suites.txt."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            name, secs, res = line[0], float(line[1]), [r for r in line[2:] if r != "-"]
            out[name] = (secs, frozenset(res))
    return out


def conflicts(a, b, decl):
    ra = decl[a][1] if a in decl else frozenset([ALONE])
    rb = decl[b][1] if b in decl else frozenset([ALONE])
    return ALONE in ra or ALONE in rb or bool(ra & rb)


def last_times():
    try:
        with open(TIMES) as f:
            return {k: float(v) for k, v in json.load(f).items()}
    except (OSError, ValueError):
        return {}


def tail(path, n):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 200 * n))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    return lines[-n:]


ANSI = re.compile(r"\x1b\[[0-9;]*m")
# pytest's short summary, its assertion lines, Ansible's failed tasks, molecule's failed action
DIGEST = re.compile(r"^(FAILED\b|ERROR |E {3}|fatal: \[|failed: \[|ERROR +\S.*failed|CRITICAL )")


def digest(path, limit=12):
    """The lines of the log at PATH that say what failed (ANSI colours gone, each at most 200 characters): every
    pytest FAILED/ERROR summary line first, then the first assertion and Ansible failure lines, LIMIT in all."""
    try:
        with open(path, "rb") as f:
            # molecule draws a box's left edge before its output
            lines = [ANSI.sub("", ln).strip().lstrip("\u2502").strip()
                     for ln in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return []
    hits = [ln for ln in lines if DIGEST.match(ln)]
    summary = [ln for ln in hits if ln.startswith(("FAILED ", "ERROR ")) and "::" in ln]
    rest = [ln for ln in hits if ln not in summary]
    return [ln[:200] for ln in (summary + rest)[:limit]]


class Runner:
    def __init__(self, suites, jobs, keep_going, make):
        self.decl = read_declarations()
        prev = last_times()
        # the declared idle times order the start; a last run's time only for a suite not declared (a run beside
        # other work inflates times unevenly: sanity measured 125 s one run and 307 s the next, and started late)
        self.weight = {s: self.decl[s][0] if s in self.decl else prev.get(s, 0.0) for s in suites}
        self.pending = list(suites)
        self.order = list(suites)
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.make = make
        self.running = {}      # pid -> (suite, Popen, start, log file)
        self.done = {}         # suite -> (start offset, seconds, rc)
        self.first_failure = None
        self.t0 = time.monotonic()
        self.stopping = False

    def startable(self):
        cands = [s for s in self.pending
                 if not any(conflicts(s, r[0], self.decl) for r in self.running.values())]
        return sorted(cands, key=lambda s: (-self.weight[s], self.order.index(s)))

    def start(self, suite):
        log = open(os.path.join(LOGS, suite + ".log"), "wb")
        env = dict(os.environ)
        # pytest's cache is one directory in the checkout for every suite: nobody writes it
        env["PYTEST_ADDOPTS"] = (env.get("PYTEST_ADDOPTS", "") + " -p no:cacheprovider").strip()
        # its own process group, so an interrupt reaches the suite's every process by the group's id
        p = subprocess.Popen([self.make, "--no-print-directory", suite], cwd=ROOT, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        now = time.monotonic()
        self.running[p.pid] = (suite, p, now, log)
        self.pending.remove(suite)
        print("[%4d s] start %-16s (log .build/suites/%s.log; beside: %s)" % (
            now - self.t0, suite, suite, ", ".join(r[0] for r in self.running.values() if r[0] != suite) or "-"),
            flush=True)

    def reap(self):
        pid, status = os.wait()
        if pid not in self.running:
            return
        suite, p, start, log = self.running.pop(pid)
        p.returncode = os.waitstatus_to_exitcode(status)
        log.close()
        now = time.monotonic()
        rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
        self.done[suite] = (start - self.t0, now - start, rc)
        result = "ok  " if rc == 0 else "FAIL"
        why = "" if rc == 0 else "  (exit %d)" % rc
        print("[%4d s] %s %-16s %4d s%s" % (now - self.t0, result, suite, now - start, why), flush=True)
        if rc != 0 and self.first_failure is None:
            self.first_failure = suite
            if not self.keep_going and self.pending:
                print("         no further suite starts; waiting for: %s" % (
                    ", ".join(r[0] for r in self.running.values()) or "-"), flush=True)

    def interrupt(self, signum, frame):
        self.stopping = True
        for entry in self.running.values():
            try:
                os.killpg(entry[1].pid, signum)
            except ProcessLookupError:
                pass

    def run(self):
        os.makedirs(LOGS, exist_ok=True)
        signal.signal(signal.SIGINT, self.interrupt)
        signal.signal(signal.SIGTERM, self.interrupt)
        print("=== %d suites in up to %d lanes: %s" % (len(self.pending), self.jobs, " ".join(self.pending)),
              flush=True)
        while self.pending or self.running:
            go_on = not self.stopping and (self.first_failure is None or self.keep_going)
            if go_on:
                for suite in self.startable():
                    if len(self.running) >= self.jobs:
                        break
                    if not any(conflicts(suite, r[0], self.decl) for r in self.running.values()):
                        self.start(suite)
            if not self.running:
                break
            try:
                self.reap()
            except InterruptedError:
                continue
        return self.report()

    def report(self):
        wall = time.monotonic() - self.t0
        print("=== suite times (start: seconds after the first suite started)")
        for s in self.order:
            if s in self.done:
                off, secs, rc = self.done[s]
                print("%-18s %5d s  (start %4d s)%s" % (s, secs, off, "" if rc == 0 else "  FAILED (exit %d)" % rc))
            else:
                print("%-18s     -    not run" % s)
        total = sum(v[1] for v in self.done.values())
        print("%-18s %5d s  (sum of the suites' times: %d s, %d lanes)" % ("total", wall, total, self.jobs))
        ok = {s: round(v[1], 1) for s, v in self.done.items() if v[2] == 0}
        if ok:
            times = last_times()
            times.update(ok)
            with open(TIMES + ".tmp", "w") as f:
                json.dump(times, f, indent=1, sort_keys=True)
            os.replace(TIMES + ".tmp", TIMES)
        failed = [s for s in self.order if s in self.done and self.done[s][2] != 0]
        n = int(os.environ.get("SUITE_LOG_TAIL", "60"))
        for s in failed:
            log = os.path.join(LOGS, s + ".log")
            print("=== %s failed (exit %d); the last %d lines of %s:" % (s, self.done[s][2], n, log))
            for line in tail(log, n):
                print("    " + line)
        for s in failed:
            lines = digest(os.path.join(LOGS, s + ".log"))
            if lines:
                print("=== what failed in %s:" % s)
                for line in lines:
                    print("    " + line)
        if failed:
            first = self.first_failure
            print("=== first failure: %s (exit %d), log .build/suites/%s.log" % (first, self.done[first][2], first))
            return self.done[first][2]
        if self.stopping or self.pending:
            return 130
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("SUITE_JOBS", "3")))
    ap.add_argument("--keep-going", "-k", action="store_true")
    ap.add_argument("suites", nargs="+")
    a = ap.parse_args()
    sys.exit(Runner(a.suites, a.jobs, a.keep_going, os.environ.get("MAKE", "make")).run())


if __name__ == "__main__":
    main()
