# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: netplumb_count
type: aggregate
short_description: Count module invocations per module (loop items count one each), write them as JSON
description:
  - "Writes a count per module of every executed (not skipped) task result, loop items counted one by one,
    to the file named by E(NETPLUMB_COUNT_FILE). Used by tests/fleet/scale.py."
requirements:
  - "enabled with ANSIBLE_CALLBACKS_ENABLED=netplumb_count"
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "netplumb_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.counts = {}
        self.changed = 0

    def _count(self, result, looped):
        if looped != bool(result._task.loop):
            return
        name = result._task.action
        self.counts[name] = self.counts.get(name, 0) + 1
        if result._result.get("changed"):
            self.changed += 1

    def v2_runner_on_ok(self, result):
        self._count(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result, False)

    def v2_runner_item_on_ok(self, result):
        self._count(result, True)

    def v2_runner_item_on_failed(self, result):
        self._count(result, True)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("NETPLUMB_COUNT_FILE")
        if path:
            with open(path, "w") as f:
                json.dump(dict(modules=self.counts, changed=self.changed), f, indent=1, sort_keys=True)
