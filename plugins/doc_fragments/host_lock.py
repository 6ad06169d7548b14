# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # The host lock every module takes before reading state and holds through apply (module_utils/_lock.py).
    DOCUMENTATION = r"""
options:
  lock_timeout:
    description:
      - Seconds to wait for the host lock, an exclusive C(flock) on C(/run/netplumb/lock) that every module of
        the collection takes before it reads any state, and holds until its changes are applied (in check mode
        too, so the prediction is not raced). Concurrent runs on one host are serialized.
      - When another run still holds the lock after this many seconds the module fails, before any change,
        with a message that names the lock file and the PID of the holder. V(0) tries once.
      - A run killed with SIGKILL does not leave the host locked (the kernel drops the lock with its process).
    type: int
    default: 60
"""
