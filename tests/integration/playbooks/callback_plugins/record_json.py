# Test-only stdout callback: prints every task result and the stats as one JSON document.
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: record_json
type: stdout
short_description: test-only JSON recorder
description: Prints all task results and per-host stats as one JSON document at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "record_json"

    def __init__(self):
        super().__init__()
        self.tasks = {}

    def _record(self, result, **kwargs):
        res = dict(result._result)
        res["warnings"] = [w if isinstance(w, str) else str(getattr(w, "message", w)) for w in res.get("warnings", [])]
        self.tasks.setdefault(result._task.get_name(), {})[result._host.get_name()] = res

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = _record

    def v2_playbook_on_stats(self, stats):
        out = dict(tasks=self.tasks, stats=dict((h, stats.summarize(h)) for h in sorted(stats.processed)))
        self._display.display(json.dumps(out, default=str))
