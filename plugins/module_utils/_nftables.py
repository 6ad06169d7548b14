# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The native nftables driver (stage 1 placeholder: selection only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._iptables import IptablesDriver


class NftablesDriver:
    @classmethod
    def detect(cls, runner=None, explicit=True):
        raise StateError("firewall_backend=nftables: the nftables driver is not implemented yet; "
                         "use firewall_backend=auto or iptables (iptables-nft is fine)")


def choose(runner=None):
    return IptablesDriver.detect(runner=runner, explicit=False)
