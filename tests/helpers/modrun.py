"""Run a module's main() in-process, the way Ansible would run it on the host, and return its JSON result."""
import contextlib
import importlib
import io
import json

from ansible.module_utils.testing import patch_module_args


def run_module(name, args, check=False, diff=True):
    """Returns the module's result dict; 'failed' is set when it called fail_json."""
    mod = importlib.import_module("ansible_collections.netplumb.container.plugins.modules.%s" % name)
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
        return json.loads(text)
    except ValueError:
        raise AssertionError("module %s printed no JSON: %r" % (name, text))
