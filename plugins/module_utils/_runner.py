# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a host tool: argv (and stdin) in, (rc, stdout, stderr) out, LC_ALL=C; rc 127 when it is missing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess


class Runner:
    """Runs a tool with LC_ALL=C; returns (rc, stdout, stderr). Unit tests pass a fake."""

    def __call__(self, argv, data=None):
        env = dict(os.environ, LC_ALL="C")
        try:
            proc = subprocess.run(argv, input=data, capture_output=True, text=True, env=env, check=False)
        except OSError as exc:
            return 127, "", str(exc)
        return proc.returncode, proc.stdout, proc.stderr
