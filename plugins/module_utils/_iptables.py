# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iptables driver: state read with ``iptables-save``, each table written with one atomic
``iptables-restore --noflush --wait``; nf_tables- or legacy-backed, never both."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
import subprocess

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import (
    HOOKS, PREFIX, Rule, Ruleset, desired_chains, our_chain, owner_of)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action

TABLE_ORDER = ("raw", "nat", "filter")


def quote_args(args):
    """Shell form of rule tokens (``!`` needs no quoting outside interactive shells)."""
    return " ".join(a if a == "!" else shlex.quote(a) for a in args)


def restore_quote(tok):
    """iptables-restore splits on whitespace and understands double quotes."""
    if tok == "" or any(c.isspace() for c in tok) or '"' in tok:
        return '"%s"' % tok.replace('"', '\\"')
    return tok


class Runner:
    """Runs a tool with LC_ALL=C; returns (rc, stdout, stderr). Unit tests pass a fake."""

    def __call__(self, argv, data=None):
        env = dict(os.environ, LC_ALL="C")
        try:
            proc = subprocess.run(argv, input=data, capture_output=True, text=True, env=env, check=False)
        except OSError as exc:
            return 127, "", str(exc)
        return proc.returncode, proc.stdout, proc.stderr


def parse_save(text):
    """iptables-save output -> Ruleset of our chains (other chains and rules are only looked at)."""
    chains = {}
    jumps = set()
    table = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            continue
        if line == "COMMIT":
            table = None
            continue
        if line.startswith(":"):
            name = line[1:].split()[0]
            if name.startswith(PREFIX):
                chains.setdefault((table, name), [])
            continue
        if not line.startswith("-A "):
            continue
        toks = shlex.split(line)
        chain, args = toks[1], tuple(toks[2:])
        if chain.startswith(PREFIX):
            chains.setdefault((table, chain), []).append(args)
        elif args == ("-j", our_chain(chain)):
            jumps.add((table, chain))
    return Ruleset(chains, jumps)


def has_rules(text):
    return any(line.startswith("-A ") for line in text.splitlines())


class IptablesDriver:
    name = "iptables"

    def __init__(self, variant, runner=None, warnings=None):
        self.variant = variant          # "nft" or "legacy"
        self.runner = runner or Runner()
        self.warnings = list(warnings or [])
        self.backend = "iptables-%s" % variant

    # --- detection ------------------------------------------------------------------------------------
    @classmethod
    def detect(cls, runner=None, explicit=False):
        runner = runner or Runner()
        rc, out, err = runner(["iptables", "-V"])
        if rc != 0:
            raise StateError("firewall_backend=%s: `iptables -V` failed (%s); install iptables "
                             "(the nftables driver is not implemented yet)"
                             % ("iptables" if explicit else "auto", (err or out).strip() or "rc=%d" % rc))
        if "nf_tables" in out:
            default = "nft"
        elif "legacy" in out:
            default = "legacy"
        else:
            raise StateError("cannot tell whether iptables is nf_tables- or legacy-backed from %r" % out.strip())
        found = {}
        for variant in ("nft", "legacy"):
            rc, text, err = runner(["iptables-%s-save" % variant])
            found[variant] = rc == 0 and has_rules(text)
        warnings = []
        if found["nft"] and found["legacy"]:
            raise StateError("iptables rules exist in both the nf_tables backend (iptables-nft-save) and the "
                             "legacy backend (iptables-legacy-save); refusing to add a third opinion. Move "
                             "every tool to one backend (update-alternatives --config iptables) first")
        variant = default
        other = "legacy" if default == "nft" else "nft"
        if found[other] and not found[default]:
            variant = other
            warnings.append("iptables is %s-backed but every existing rule lives in iptables-%s; using "
                            "iptables-%s so the rules stay in one place" % (default, other, other))
        return cls(variant, runner, warnings)

    def tool(self, what):
        return "iptables-%s-%s" % (self.variant, what)

    # --- read -----------------------------------------------------------------------------------------
    def read(self):
        rc, out, err = self.runner([self.tool("save")])
        if rc != 0:
            raise StateError("%s failed: %s" % (self.tool("save"), (err or out).strip()))
        rs = parse_save(out)
        rs.backend = self.backend
        return rs

    # --- plan -----------------------------------------------------------------------------------------
    def plan(self, plan, ruleset, owned, wanted):
        """Append one batch of Actions per table changed. Returns (before, after): the owned rules' text."""
        target = desired_chains(ruleset, owned, wanted)
        before = [r.text() for r in ruleset.owned(owned)]
        after = [r.text() for r in sorted(wanted, key=lambda r: (TABLE_ORDER.index(r.table), r.chain))]
        batches = []
        for table in TABLE_ORDER:
            ops = self._table_ops(table, ruleset, target)
            if not ops:
                continue
            payload = "*%s\n%s\nCOMMIT\n" % (table, "\n".join(op[0] for op in ops))
            batch = _Batch(self, table, payload, batches)
            batches.append(batch)
            for i, (line, command) in enumerate(ops):
                plan.add(Action("iptables_restore", table, command, batch.run if i == 0 else _noop))
        return before, after

    def _table_ops(self, table, ruleset, target):
        """[(restore line, equivalent command)] turning our chains of one table into target."""
        ops = []
        pre = "iptables -t %s " % table
        chains = sorted(set(c for (t, c) in list(ruleset.chains) + list(target) if t == table))
        new_chains, jumps_add, jumps_del, drops = [], [], [], []
        for chain in chains:
            hook = chain[len(PREFIX):]
            current = list(ruleset.chains.get((table, chain), []))
            exists = (table, chain) in ruleset.chains
            want = target.get((table, chain), [])
            jumped = (table, hook) in ruleset.jumps
            if want and not exists:
                new_chains.append(chain)
            ops.extend(self._chain_edit(pre, chain, current, want))
            if want and not jumped and (table, hook) in HOOKS:
                if HOOKS[(table, hook)] == "first":
                    jumps_add.append(("-I %s 1 -j %s" % (hook, chain)))
                else:
                    jumps_add.append(("-A %s -j %s" % (hook, chain)))
            if not want and exists:
                if jumped:
                    jumps_del.append("-D %s -j %s" % (hook, chain))
                drops.append("-X %s" % chain)
        head = [("-N %s" % c, pre + "-N %s" % c) for c in new_chains]
        tail = [(j, pre + j) for j in jumps_add + jumps_del + drops]
        return head + ops + tail

    @staticmethod
    def _chain_edit(pre, chain, current, want):
        """Minimal -D / -I / -A edits; a full rewrite (-F then -A) when others' rules are out of order."""
        ops = []
        remaining = list(current)
        pool = list(want)
        for args in current:          # delete what is not wanted (and duplicates beyond the wanted count)
            if args in pool:
                pool.remove(args)
            else:
                remaining.remove(args)
                line = "-D %s %s" % (chain, _restore_args(args))
                ops.append((line, pre + "-D %s %s" % (chain, quote_args(args))))
        # remaining must be a subsequence of want, in order; else rewrite the chain
        it = iter(want)
        if not all(any(a == w for w in it) for a in remaining):
            ops = [("-F %s" % chain, pre + "-F %s" % chain)]
            for args in want:
                ops.append(("-A %s %s" % (chain, _restore_args(args)),
                            pre + "-A %s %s" % (chain, quote_args(args))))
            return ops
        j = 0
        for i, args in enumerate(want):
            if j < len(remaining) and remaining[j] == args:
                j += 1
                continue
            if j >= len(remaining):
                ops.append(("-A %s %s" % (chain, _restore_args(args)),
                            pre + "-A %s %s" % (chain, quote_args(args))))
            else:
                ops.append(("-I %s %d %s" % (chain, i + 1, _restore_args(args)),
                            pre + "-I %s %d %s" % (chain, i + 1, quote_args(args))))
        return ops


def _restore_args(args):
    return " ".join(restore_quote(a) for a in args)


def _noop():
    return None


class _Batch:
    """The restore of one table: run by the first Action of the table's batch, atomic for all of them."""

    def __init__(self, driver, table, payload, siblings):
        self.driver = driver
        self.table = table
        self.payload = payload
        self.siblings = siblings    # every table's batch of the plan; the first one checks them all

    def run(self):
        if self.siblings and self.siblings[0] is self:
            # parse every table's payload first (--test commits nothing): a bad rule for the nat table must
            # not leave the raw table half converged
            for batch in self.siblings:
                batch._restore(["--test"])
        self._restore([])

    def _restore(self, extra):
        argv = [self.driver.tool("restore"), "--noflush", "--wait"] + extra
        rc, out, err = self.driver.runner(argv, self.payload)
        if rc != 0:
            detail = (err or out).strip()
            raise OSError("%s (table %s) exited %d: %s" % (" ".join(argv), self.table, rc, detail))


__all__ = ["IptablesDriver", "Runner", "parse_save", "Rule", "owner_of"]
