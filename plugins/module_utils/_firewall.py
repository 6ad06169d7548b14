# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall seam: driver selection (firewall_backend=auto|iptables|nftables) and the driver a run of
several calls shares (ChainedDriver). Planners hand intents (_fwintent) to the driver; each driver renders,
reads, plans and applies its own rules (_iptables.IptablesDriver, _nftables.NftablesDriver).

The names of the iptables chain model (Rule, Ruleset, desired_chains, ...) are re-exported here for the
readers that still look at iptables rules (the gather, the prune); new code takes them from _iptables.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (  # noqa: F401 pylint: disable=unused-import
    OWNER_PREFIX, network_of)
from ansible_collections.netplumb.container.plugins.module_utils._iptables import (  # noqa: F401 pylint: disable=unused-import
    HOOKS, PREFIX, IptablesDriver, Rule, Ruleset, _merge_missing, desired_chains, open_networks, our_chain,
    owner_of, rank, unique)
from ansible_collections.netplumb.container.plugins.module_utils import _iptables, _nftables

BACKENDS = ("auto", "iptables", "nftables")


def get_driver(backend, runner=None):
    """The driver for firewall_backend=auto|iptables|nftables (see docs/firewall-backends.md for auto)."""
    if backend not in BACKENDS:
        raise StateError("firewall_backend=%r: must be one of %s" % (backend, ", ".join(BACKENDS)))
    return _nftables.select(backend, runner)


class ChainedDriver:
    """One firewall driver for a run of several calls (the module container_network): detected once; with
    ``check_mode`` each read() after the first returns the state as the earlier calls' plans leave it, so a
    check-mode run predicts every call exactly, though none of them is applied. The queries go to the
    driver."""

    def __init__(self, driver, check_mode):
        self.driver = driver
        self.check_mode = check_mode
        self.warnings = driver.warnings
        self.backend = driver.backend
        self._state = None

    def __getattr__(self, name):    # the queries, runner, tool, saved ...: the driver's own
        if name == "driver":
            raise AttributeError(name)
        return getattr(self.driver, name)

    def read(self):
        if self._state is None or not self.check_mode:
            self._state = self.driver.read()
        return self._state

    def plan(self, plan, state, owned, intents):
        out = self.driver.plan(plan, state, owned, intents)
        if self.check_mode:
            self._state = self.driver.predicted(state, owned, intents)
        return out


def render_iptables(intents):
    """The iptables driver's rules of the intents (for readers that compare iptables rules)."""
    return _iptables.render(intents)
