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
