# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conntrack entries: flushing those of a changed or removed UDP mapping (``conntrack -D``), whatever the
firewall backend (the entries belong to the kernel's connection tracking, not to a rule set)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._plan import Action
from ansible_collections.netplumb.container.plugins.module_utils._runner import Runner


def op_flush(protocol, port, runner=None):
    argv = ["conntrack", "-D", "-p", protocol, "--orig-port-dst", str(port)]
    run = runner or Runner()

    def fn():
        rc, out, err = run(argv)
        if rc not in (0, 1):     # 1: nothing matched, which is fine
            raise OSError("%s exited %d: %s" % (" ".join(argv), rc, (err or out).strip()))
    return Action("conntrack_flush", "%s/%d" % (protocol, port), " ".join(argv), fn)
