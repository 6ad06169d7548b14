# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iptables driver: state read with ``iptables-save``, each table written with one atomic
``iptables-restore --noflush --wait``; nf_tables- or legacy-backed, never both."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex
import subprocess

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import (
    HOOKS, PREFIX, Rule, Ruleset, desired_chains, our_chain, owner_of, unique)
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


_TOKEN = re.compile(r'"([^"]*)"(?=\s|$)|(\S+)')


def split_line(line):
    """Shell-like split of one iptables-save line; the common forms (plain tokens, simple double quotes) without
    shlex's per-character loop, which dominated reading a table of thousands of rules."""
    if "'" in line or "\\" in line:
        return shlex.split(line)
    if '"' not in line:
        return line.split()
    toks = []
    for quoted, plain in _TOKEN.findall(line):
        if plain and '"' in plain:
            return shlex.split(line)
        toks.append(plain or quoted)
    return toks


def parse_save(text):
    """iptables-save output -> Ruleset of our chains (other chains and rules are only looked at).

    Counts, never sets: every rule of our chains in order (duplicates and rules of others included), every
    plain jump ``-A <HOOK> -j NETPLUMB-<HOOK>`` of a hook with its 1-based position in the built-in chain,
    and every other rule that jumps or goes to a chain of ours (a reference we did not write)."""
    chains = {}
    jumps = {}
    refs = {}
    seen = {}
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
        if PREFIX not in line:      # someone else's rule that does not refer to us: only its position counts
            chain = line.split(None, 2)[1]
            seen[(table, chain)] = seen.get((table, chain), 0) + 1
            continue
        toks = split_line(line)
        chain, args = toks[1], tuple(toks[2:])
        position = seen[(table, chain)] = seen.get((table, chain), 0) + 1
        if chain.startswith(PREFIX):
            chains.setdefault((table, chain), []).append(args)
        elif args == ("-j", our_chain(chain)) and (table, chain) in HOOKS:
            jumps.setdefault((table, chain), []).append(position)
        else:
            target = jump_target(args)
            if target and target.startswith(PREFIX):
                refs.setdefault((table, target), []).append((chain, args))
    return Ruleset(chains, jumps, refs=refs)


def jump_target(args):
    """The chain a rule jumps (-j) or goes (-g) to, or None."""
    for i, tok in enumerate(args[:-1]):
        if tok in ("-j", "-g", "--jump", "--goto"):
            return args[i + 1]
    return None


def has_rules(text):
    return any(line.startswith("-A ") for line in text.splitlines())


class IptablesDriver:
    name = "iptables"

    def __init__(self, variant, runner=None, warnings=None):
        self.variant = variant          # "nft" or "legacy"
        self.runner = runner or Runner()
        self.warnings = list(warnings or [])
        self.backend = "iptables-%s" % variant
        self.saved = {}                 # variant -> the last iptables-save text read (_hostfw reads it too)

    # --- detection ------------------------------------------------------------------------------------
    @classmethod
    def detect(cls, runner=None, explicit=False):
        runner = runner or Runner()
        field = "firewall_backend=%s" % ("iptables" if explicit else "auto")
        rc, out, err = runner(["iptables", "-V"])
        if rc == 127:
            raise StateError("%s: %s (the nftables driver is not implemented yet)"
                             % (field, _hosttools.missing_tool("iptables", "to tell the iptables backend")))
        if rc != 0:
            raise StateError("%s: `iptables -V` failed (%s); install the Debian package iptables "
                             "(the nftables driver is not implemented yet)"
                             % (field, (err or out).strip() or "rc=%d" % rc))
        if "nf_tables" in out:
            default = "nft"
        elif "legacy" in out:
            default = "legacy"
        else:
            raise StateError("cannot tell whether iptables is nf_tables- or legacy-backed from %r" % out.strip())
        found, absent, saved = {}, {}, {}
        for variant in ("nft", "legacy"):
            rc, text, err = runner(["iptables-%s-save" % variant])
            found[variant] = rc == 0 and has_rules(text)
            absent[variant] = rc == 127     # not installed (the runner's "no such file", or a shell's)
            if rc == 0:
                saved[variant] = text
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
        if absent[variant]:
            raise StateError("%s: %s" % (field, _hosttools.missing_tool(
                "iptables-%s-save" % variant, "to read the rules (iptables is %s-backed)" % variant)))
        driver = cls(variant, runner, warnings)
        driver.saved = saved
        return driver

    def tool(self, what):
        return "iptables-%s-%s" % (self.variant, what)

    # --- read -----------------------------------------------------------------------------------------
    def read(self):
        rc, out, err = self.runner([self.tool("save")])
        if rc != 0:
            raise StateError("%s failed: %s" % (self.tool("save"), (err or out).strip()))
        self.saved[self.variant] = out
        rs = parse_save(out)
        rs.backend = self.backend
        return rs

    # --- plan -----------------------------------------------------------------------------------------
    def plan(self, plan, ruleset, owned, wanted):
        """Append one batch of Actions per table changed. Returns (before, after): the owned rules' text.

        Each table is one ``iptables-restore --noflush``; every table's payload passes ``--test`` before the
        first commit, and when a later table's commit fails the tables already committed are restored to
        exactly what was read (see _Batch). One invocation with several tables is no transaction: both
        iptables-nft-restore and iptables-legacy-restore (1.8.9) commit each table at its COMMIT line."""
        target = desired_chains(ruleset, owned, wanted)

        def order(r):
            return (TABLE_ORDER.index(r.table) if r.table in TABLE_ORDER else len(TABLE_ORDER), r.chain)
        before = [r.text() for r in sorted(ruleset.owned(owned), key=order)]
        after = [r.text() for r in sorted(wanted, key=order)]
        batches = []
        for table in TABLE_ORDER:
            ops, undo, notes = self._table_ops(table, ruleset, target)
            for note in notes:
                plan.warn(note)
            if not ops:
                continue
            batch = _Batch(self, table, _payload(table, [op[0] for op in ops]), _payload(table, undo), plan,
                           batches)
            batches.append(batch)
            for i, (line, command) in enumerate(ops):
                batch.actions.append(plan.add(Action("iptables_restore", table, command,
                                                     batch.run if i == 0 else _noop)))
        if batches:
            _hosttools.need_tool(plan, self.tool("restore"), "to apply the rule changes of table%s %s (firewall "
                                 "backend %s)" % ("s" if len(batches) > 1 else "",
                                                  ", ".join(b.table for b in batches), self.backend))
        return before, after

    def _table_ops(self, table, ruleset, target):
        """Turn our chains of one table into target.

        Returns (ops, undo, notes): ops are [(restore line, equivalent command)]; undo are the restore lines
        that bring the table back from target to exactly what was read (rules of others in our chains,
        duplicates and jump positions included); notes are the repairs worth a warning."""
        pre = "iptables -t %s " % table
        chains = sorted(set(c for (t, c) in list(ruleset.chains) + list(target) if t == table))
        new_chains, edits, jump_ops, drops, notes = [], [], [], [], []
        undo_jumps, undo_new, undo_fill, undo_insert, undo_drop = [], [], [], [], []
        for chain in chains:
            hook = chain[len(PREFIX):]
            current = ruleset.chains.get((table, chain))
            exists = current is not None
            current = list(current or [])
            want = target.get((table, chain), [])
            hooked = (table, hook) in HOOKS
            positions = ruleset.jump_positions.get((table, hook), []) if hooked else []
            refs = ruleset.refs.get((table, chain), [])
            keep = bool(want) or (exists and bool(refs))    # a chain others refer to is emptied, not deleted
            if want and not exists:
                new_chains.append(chain)
            notes.extend(_content_notes(table, chain, current))
            edits.extend(self._chain_edit(pre, chain, current, want, exists))
            # the jumps of the hook: exactly one while the chain has rules ("first": at position 1), else none
            ops = _jump_edit(table, hook, chain, positions, bool(want))
            jump_ops.extend((line, pre + line) for line in ops)
            if ops and positions and want:
                notes.append(_jump_note(table, hook, chain, positions))
            if exists and not keep:
                drops.append(("-X %s" % chain, pre + "-X %s" % chain))
            if exists and not want and refs:
                who = "; ".join("-A %s %s" % (c, quote_args(a)) for c, a in refs)
                notes.append("%s (table %s) is referred to by a rule netplumb did not write (%s): it is emptied, "
                             "not deleted" % (chain, table, who))
            # undo: from target back to what was read
            if ops:
                undo_jumps.extend(["-D %s -j %s" % (hook, chain)] * (1 if want and hooked else 0))
                undo_insert.extend("-I %s %d -j %s" % (hook, pos, chain) for pos in positions)
            if exists:
                if not keep:
                    undo_new.append("-N %s" % chain)
                elif current != want:
                    undo_fill.append("-F %s" % chain)
                if not keep or current != want:
                    undo_fill.extend("-A %s %s" % (chain, _restore_args(args)) for args in current)
            elif want:
                undo_drop.extend(["-F %s" % chain, "-X %s" % chain])
        head = [("-N %s" % c, pre + "-N %s" % c) for c in new_chains]
        ops = head + edits + jump_ops + drops
        undo = undo_jumps + undo_new + undo_fill + undo_insert + undo_drop
        return ops, undo, notes

    @staticmethod
    def _chain_edit(pre, chain, current, want, exists=True):
        """A chain of ours that changes is rebuilt as a whole, in its canonical order: ``-F`` then one
        ``-A`` per wanted rule (a new chain needs no flush). The commands never name a position, so they
        depend only on the chain's desired content (and on whether it changes): check mode's prediction and
        the real run agree whatever other calls put in between, and a rule of others, a duplicate or a rule
        out of order is gone after any change. The restore of the table is atomic: no packet ever sees the
        chain half rebuilt."""
        if current == want:
            return []
        ops = [("-F %s" % chain, pre + "-F %s" % chain)] if exists else []
        return ops + [("-A %s %s" % (chain, _restore_args(args)), pre + "-A %s %s" % (chain, quote_args(args)))
                      for args in want]


def _jump_edit(table, hook, chain, positions, wanted):
    """Restore lines leaving exactly one plain jump of the hook to our chain when wanted (a "first" hook's at
    position 1, a "last" hook keeps its latest), none otherwise. ``-D HOOK -j CHAIN`` deletes the first
    such jump; only a "first" hook whose jump at position 1 stays deletes the others by number, highest
    first."""
    if (table, hook) not in HOOKS:
        return []
    spec = "-D %s -j %s" % (hook, chain)
    if not wanted:
        return [spec] * len(positions)
    if HOOKS[(table, hook)] == "last":
        return [spec] * (len(positions) - 1) if positions else ["-A %s -j %s" % (hook, chain)]
    if positions[:1] == [1]:
        return ["-D %s %d" % (hook, pos) for pos in sorted(positions[1:], reverse=True)]
    return [spec] * len(positions) + ["-I %s 1 -j %s" % (hook, chain)]


def _jump_note(table, hook, chain, positions):
    where = "position%s %s" % ("s" if len(positions) > 1 else "", ", ".join(str(p) for p in positions))
    if len(positions) > 1:
        return "%s %s jumped %d times to %s (%s): duplicates removed, one jump remains%s" % (
            table, hook, len(positions), chain, where,
            " at position 1" if HOOKS[(table, hook)] == "first" else "")
    return "%s %s jumped to %s at %s, behind rules of others: moved back to position 1" % (table, hook, chain, where)


def _content_notes(table, chain, current):
    notes = []
    counted = {}
    for args in current:
        counted[args] = counted.get(args, 0) + 1
    for args in unique(current):
        if owner_of(args) is None:
            notes.append("%s (table %s) held a rule netplumb did not write (no netplumb owner comment): "
                         "-A %s %s; removed, the chain rebuilt in order" % (chain, table, chain, quote_args(args)))
        elif counted[args] > 1:
            notes.append("%s (table %s) held %d copies of -A %s %s; reduced to one"
                         % (chain, table, counted[args], chain, quote_args(args)))
    return notes


def _payload(table, lines):
    return "*%s\n%s\nCOMMIT\n" % (table, "\n".join(lines))


def _restore_args(args):
    return " ".join(restore_quote(a) for a in args)


def _noop():
    return None


class _Batch:
    """The restore of one table: run by the first Action of the table's batch, atomic for all of them.

    All or nothing across tables: the first batch of the plan parses every table's payload first (--test
    commits nothing); when a commit fails, the batches already committed are restored, newest first, with
    their undo payload (computed from the desired state back to what was read), and one KernelError names
    the table, the tool's message and whether the rollback succeeded. Its ``done`` lists what the plan
    applied and kept: after a complete rollback nothing of the firewall (so changed=false)."""

    def __init__(self, driver, table, payload, undo, plan, siblings):
        self.driver = driver
        self.table = table
        self.payload = payload
        self.undo = undo
        self.plan = plan
        self.siblings = siblings    # every table's batch of the plan; the first one checks them all
        self.actions = []
        self.committed = False

    def run(self):
        if self.siblings and self.siblings[0] is self:
            # parse every table's payload first (--test commits nothing): a bad rule for the nat table must
            # not leave the raw table half converged
            for batch in self.siblings:
                batch._restore(["--test"])
        try:
            self._restore([])
        except OSError as exc:
            self._fail(exc)
        self.committed = True

    def _fail(self, exc):
        argv = "%s --noflush --wait" % self.driver.tool("restore")
        committed = [b for b in self.siblings if b.committed]
        restored, failed = [], []
        for batch in reversed(committed):
            try:
                batch._restore([], batch.undo)
            except OSError as undo_exc:
                failed.append((batch, undo_exc))
            else:
                batch.committed = False
                restored.append(batch)
        msg = "the commit of table %s failed: %s" % (self.table, exc.tool_message)
        if failed:
            msg += "; ROLLBACK FAILED for table %s (%s): %s keep%s this run's changes%s; re-run to converge" % (
                ", ".join(b.table for b, e in failed), "; ".join(e.tool_message for b, e in failed),
                "it" if len(failed) == 1 else "they", "s" if len(failed) == 1 else "",
                " (table %s rolled back)" % ", ".join(b.table for b in restored) if restored else "")
        elif restored:
            msg += "; rolled back table %s to exactly what was read: the firewall is unchanged" % ", ".join(
                b.table for b in reversed(restored))
        else:
            msg += "; no table was committed: the firewall is unchanged"
        undone = set(id(a) for b in restored for a in b.actions)
        done = []
        for action in self.plan.actions:
            if action is self.actions[0]:
                break
            if id(action) not in undone:
                done.append(action.command)
        raise KernelError("%s (table %s)" % (argv, self.table), msg, done)

    def _restore(self, extra, payload=None):
        argv = [self.driver.tool("restore"), "--noflush", "--wait"] + extra
        rc, out, err = self.driver.runner(argv, self.payload if payload is None else payload)
        if rc != 0:
            detail = (err or out).strip() or "no message"
            exc = OSError("%s (table %s) exited %d: %s" % (" ".join(argv), self.table, rc, detail))
            exc.tool_message = "exited %d: %s" % (rc, detail)
            raise exc


__all__ = ["IptablesDriver", "Runner", "parse_save", "jump_target", "Rule", "owner_of"]
