"""Where the module's peak RSS comes from (issue 18): container_network on the bench's network of K containers
(bench/benchlib.py), converged once, then its no-op re-run and check, each in a FRESH interpreter (as Ansible
runs a module), with the resident set sampled every few ms from /proc/self/status by a thread; each time it
grows by RSS_STEP_MB (default 2) the main thread's stack is noted, so every rise is named by what was running.
Prints VmHWM after the imports and at the end, RssAnon/RssFile at the peak, and the rises by phase.

  make profile-rss                              K=1000 (PROFILE_K), the venv's pyroute2 (0.9.7)
  make profile-rss PROFILE_PY=.venv-deb/bin/python      Debian's pyroute2 0.7.2 (and python3-nftables)

RSS_NO_LIBNFT=1: the child uses the nft binary even where python3-nftables imports (to tell the two apart).
RSS_MODES="no-op check" (default): the runs measured after the converge.
Run through tests/isolated.sh (the Makefile's target does): every run is in a throwaway namespace.
"""
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
K = int(os.environ.get("PROFILE_K", "1000"))
STEP = float(os.environ.get("RSS_STEP_MB", "2")) * 1024     # kB
PHASES = (      # (a frame's function or file part, the phase it names), the innermost match wins
    ("json", "JSON"),
    ("exit_json", "result (exit_json)"),
    ("_hostfw", "firewall: other firewalls"),
    ("_nftables", "firewall: nftables"),
    ("_iptables", "firewall: iptables"),
    ("_firewall", "firewall"),
    ("_netns", "namespaces"),
    ("_links", "links"),
    ("_nl", "netlink"),
    ("pyroute2", "pyroute2"),
    ("_fwnet", "planning NAT/ports"),
    ("_steps", "steps"),
    ("_engine", "engine"),
    ("AnsibleModule", "argument parsing"),
)


def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, dummy, val = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(val.split()[0])
    return out


class Sampler(threading.Thread):
    """Samples VmRSS; at each rise of STEP kB over the last noted level, notes the main thread's stack."""

    def __init__(self, main_ident):
        threading.Thread.__init__(self, daemon=True)
        self.main = main_ident
        self.stop = False
        self.rises = []
        self.peak = None

    def run(self):
        noted = status()["VmRSS"]
        while not self.stop:
            st = status()
            if self.peak is None or st["VmRSS"] > self.peak["VmRSS"]:
                self.peak = st
            if st["VmRSS"] >= noted + STEP:
                self.rises.append((st["VmRSS"] - noted, st["VmRSS"], stack(sys._current_frames().get(self.main))))
                noted = st["VmRSS"]
            time.sleep(0.002)


def stack(frame):
    """The frame's stack as names, innermost first. No frame is kept: a frame object held after its function
    returned would keep its locals (a parsed document) alive and inflate what is measured."""
    out = []
    while frame is not None:
        code = frame.f_code
        out.append("%s:%s" % (os.path.basename(code.co_filename).replace(".py", ""), code.co_name))
        frame = frame.f_back
    return out      # innermost first


def phase(frames):
    if any("importlib" in fr for fr in frames):
        mods = [fr for fr in frames if fr.endswith(":<module>") and "importlib" not in fr]
        return "imports", mods[-1] if mods else frames[0]
    for fr in frames:
        for part, name in PHASES:
            if part in fr:
                return name, fr
    return "other", frames[0] if frames else "?"


def child(mode):
    """One module run in this fresh interpreter; prints one JSON line of measurements."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    sys.path.insert(0, HERE)
    start = status()
    sampler = Sampler(threading.get_ident())
    sampler.start()
    import conftest  # noqa: F401  pylint: disable=unused-import
    from helpers.modrun import run_module
    import benchlib
    from ansible_collections.netplumb.container.plugins.modules import container_network  # noqa: F401
    from ansible_collections.netplumb.container.plugins.module_utils import _nl, _nftables  # noqa: F401
    if os.environ.get("RSS_NO_LIBNFT") == "1":
        _nftables._libnftables = lambda: None
    imported = status()
    args = dict(networks=benchlib.role_vars(K)["container_networks"], variable="container_networks")
    t0 = time.perf_counter()
    res = run_module("container_network", args, check=(mode == "check"), diff=False)
    took = time.perf_counter() - t0
    sampler.stop = True
    sampler.join()
    end = status()
    assert not res.get("failed"), res.get("msg")
    by_phase = {}
    for grew, dummy, frames in sampler.rises:
        name, where = phase(frames)
        key = "%s [%s]" % (name, where)
        by_phase[key] = by_phase.get(key, 0) + grew
    print("RSSJSON " + json.dumps(dict(
        mode=mode, seconds=round(took, 2), changed=res["changed"], commands=len(res.get("commands", [])),
        start=start, imported=imported, peak=sampler.peak, end=end,
        rises=[(round(g / 1024, 1), round(r / 1024, 1), f[:8]) for g, r, f in sampler.rises],
        by_phase=dict((k, round(v / 1024, 1)) for k, v in by_phase.items()))), flush=True)


def mb(kb):
    return "%.0f" % (kb / 1024.0)


def main():
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    sys.path.insert(0, HERE)
    import conftest  # noqa: F401  pylint: disable=unused-import
    from helpers.kernel import Sandbox
    import benchlib
    print("python %s, pyroute2 %s, K=%d%s" % (sys.version.split()[0], benchlib._version("pyroute2"), K,
                                              ", nft binary forced" if os.environ.get("RSS_NO_LIBNFT") else ""))
    box = Sandbox()
    try:
        for mode in ["converge"] + os.environ.get("RSS_MODES", "no-op check").split():
            out = subprocess.run([sys.executable, __file__, "--child", mode], check=True, stdout=subprocess.PIPE,
                                 universal_newlines=True).stdout
            line = [x for x in out.splitlines() if x.startswith("RSSJSON ")][-1]
            r = json.loads(line[len("RSSJSON "):])
            print("%-9s %6.1f s changed=%s commands=%d  VmHWM: start %s MB, after imports %s MB, end %s MB "
                  "(sampled peak VmRSS %s MB: RssAnon %s, RssFile %s)" % (
                      mode, r["seconds"], r["changed"], r["commands"], mb(r["start"]["VmHWM"]),
                      mb(r["imported"]["VmHWM"]), mb(r["end"]["VmHWM"]), mb(r["peak"]["VmRSS"]),
                      mb(r["peak"]["RssAnon"]), mb(r["peak"]["RssFile"])), flush=True)
            for key, grew in sorted(r["by_phase"].items(), key=lambda kv: -kv[1]):
                print("          +%5.1f MB  %s" % (grew, key))
            if os.environ.get("RSS_VERBOSE"):
                for grew, rss, frames in r["rises"]:
                    print("            +%4.1f -> %5.1f  %s" % (grew, rss, " < ".join(frames)))
    finally:
        box.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        main()
