"""Run a module's main() in-process, the way Ansible would run it on the host, and return its JSON result."""
import contextlib
import importlib
import io
import json

from ansible.module_utils.common import warnings as _ansible_warnings
from ansible.module_utils.testing import patch_module_args


def run_module(name, args, check=False, diff=True):
    """Returns the module's result dict; 'failed' is set when it called fail_json."""
    mod = importlib.import_module("ansible_collections.netplumb.container.plugins.modules.%s" % name)
    _ansible_warnings._global_warnings.clear()    # one process runs many modules: each reports its own warnings
    args = dict(args)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            mod.main()
        except SystemExit:
            pass
    text = out.getvalue()
    try:
        res = json.loads(text)
    except ValueError:
        raise AssertionError("module %s printed no JSON: %r" % (name, text))
    # ansible-core 2.19 reports warnings as structured events: keep their text
    res["warnings"] = [w if isinstance(w, str) else w.get("event", {}).get("msg", str(w))
                       for w in res.get("warnings", [])]
    return res


# The modules whose firewall_backend decides which rules a test sees. firewall_backend=auto picks nftables on a
# fresh namespace (nft works, no iptables rule): the suites that do not test a backend run once, with iptables
# (their assertions read iptables-save); the backend tests (test_nat_packets, test_nft_backend, the attacker
# tests) name the backend themselves.
PINNED_MODULES = ("container_nat", "port_publish", "swarm_firewall", "host_gw_routes", "container_network",
                  "container_network_info", "container_network_persist")


def pinned(backend="iptables"):
    def run(name, args, check=False, diff=True):
        if name in PINNED_MODULES and "firewall_backend" not in args:
            args = dict(args, firewall_backend=backend)
        return run_module(name, args, check=check, diff=diff)
    return run
