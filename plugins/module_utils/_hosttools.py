# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which tools and writable places a plan needs, and whether the host has them.

A plan's needs come from two sources:

* what a planner declares (``need_tool``, ``need_place``): the firewall driver's restore tool when the plan
  changes rules, the files kernel_prerequisites and netns write or remove;
* what an action's kind implies on its own: a sysctl write needs its /proc/sys file writable, a conntrack
  flush needs ``conntrack``, a ``modprobe`` needs ``modprobe``, a new or deleted namespace needs /run/netns,
  a new link or namespace needs the journal of pending creations in /run/netplumb.

``check(plan)`` looks each one up - tools on PATH (the PATH the tools are run with), places by their mount's
read-only flag (statvfs ST_RDONLY: a read-only bind mount says so there) and access(W_OK) - and raises one
StateError naming every missing tool (what needs it, the Debian package) and every place that cannot be
written (why). It runs after the plan is made and before its first action, in check mode too: every step of
every run through the run path's preflight (_engine.plan_step, with the run context's readers).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._nl import NETNS_RUN_DIR
from ansible_collections.netplumb.container.plugins.module_utils._owner import PENDING_PATH

PROC_SYS = "/proc/sys"
SAFETY_DOC = "docs/safety.md, Tools and writable places"

# tool -> the Debian package that installs it
PACKAGES = {
    "iptables": "iptables",
    "iptables-save": "iptables",
    "iptables-restore": "iptables",
    "iptables-nft-save": "iptables",
    "iptables-nft-restore": "iptables",
    "iptables-legacy-save": "iptables",
    "iptables-legacy-restore": "iptables",
    "conntrack": "conntrack",
    "nft": "nftables",
    "modprobe": "kmod",
    "dbus-monitor": "dbus-bin",
    "bird": "bird2",
    "birdc": "bird2",
}

TOOL = "tool"
PLACE = "place"         # an entry created, replaced or removed in a directory (its directory must be writable)
IN_PLACE = "in_place"   # an existing file written in place (a sysctl)


class MissingError(StateError):
    """The plan needs tools or writable places the host does not have. ``problems``: one line each."""

    def __init__(self, lines):
        self.problems = list(lines)
        super(MissingError, self).__init__("%s; refusing before any change (see %s)"
                                           % ("; ".join(self.problems), SAFETY_DOC))


def package_of(tool):
    return PACKAGES.get(tool) or ("iptables" if tool.startswith(("iptables", "ip6tables")) else None)


def missing_tool(tool, why):
    """The message for a tool that is not installed: names it, what needs it and the package."""
    pkg = package_of(tool)
    return "%s is not installed (not found on PATH=%s): needed %s; %s" % (
        tool, os.environ.get("PATH", os.defpath), why,
        "install the Debian package %s" % pkg if pkg else "install it")


def _needs(plan):
    out = getattr(plan, "needs", None)
    if out is None:
        out = plan.needs = []
    return out


def need_tool(plan, tool, why):
    """The plan runs ``tool``; ``why`` completes "needed ..." (e.g. "to apply the rules of table nat")."""
    _needs(plan).append((TOOL, tool, why))


def need_place(plan, path, why, in_place=False):
    """The plan creates, replaces or removes ``path`` (its directory, or the nearest existing ancestor when
    the directory is made too, must be writable); with in_place, writes the existing file ``path`` itself."""
    _needs(plan).append((IN_PLACE if in_place else PLACE, path, why))


def sysctl_path(name):
    return os.path.join(PROC_SYS, *name.split("."))


def _derived(action):
    """The needs an action's kind implies on its own."""
    kind, cmd = action.kind, "by `%s`" % action.command
    if kind == "sysctl":
        return [(IN_PLACE, sysctl_path(action.target), cmd)]
    if kind == "conntrack_flush":
        return [(TOOL, "conntrack", cmd)]
    if kind == "modprobe":
        return [(TOOL, "modprobe", cmd)]
    if kind == "netns_add":
        return [(PLACE, os.path.join(NETNS_RUN_DIR, action.target), cmd), (PLACE, PENDING_PATH, cmd)]
    if kind == "netns_del":
        return [(PLACE, os.path.join(NETNS_RUN_DIR, action.target), cmd)]
    if kind == "link_add":
        return [(PLACE, PENDING_PATH, cmd)]
    return []


def needs(plan):
    """[(kind, target, [why, ...])]: each need once, in the order first met, with every reason given."""
    order, whys, seen = [], {}, set()
    items = list(getattr(plan, "needs", None) or [])
    for action in plan.actions:
        items.extend(_derived(action))
    for kind, target, why in items:
        key = (kind, target)
        if key not in whys:
            order.append(key)
            whys[key] = []
        if (key, why) not in seen:
            seen.add((key, why))
            whys[key].append(why)
    return [(kind, target, whys[(kind, target)]) for kind, target in order]


def _why(whys):
    if len(whys) == 1:
        return whys[0]
    return "%s (and %d more)" % (whys[0], len(whys) - 1)


def place_problem(path, in_place=False):
    """None when ``path`` can be written as planned, else why not (naming the path that decides it).

    A new or replaced entry needs its directory writable, or, when the directory is made too, the nearest
    existing ancestor. A file written in place (a sysctl) needs its own mount writable and, when it exists,
    write permission on it; a sysctl that appears later (net.bridge.* once br_netfilter loads) only needs
    its mount writable (/proc/sys directories refuse access(W_OK) even to root)."""
    target = path if in_place else os.path.dirname(path)
    exists = in_place and os.path.lexists(path)
    while not os.path.lexists(target):
        parent = os.path.dirname(target)
        if parent == target:
            break
        target = parent
    if not in_place and not os.path.isdir(target):
        return "%s is not a directory" % target
    try:
        flags = os.statvfs(target).f_flag
    except OSError as exc:
        return "%s cannot be examined (%s)" % (target, exc.strerror or exc)
    if flags & os.ST_RDONLY:
        return "%s is on a read-only mount (statvfs: ST_RDONLY)" % target
    if (exists or not in_place) and not os.access(target, os.W_OK):
        return "%s is not writable (access W_OK refused: permissions or the immutable attribute)" % target
    return None


def problems(plan, which=None, probe=None):
    """One line per missing tool or unwritable place of the plan (empty: the host has all it needs)."""
    which = which or shutil.which
    probe = probe or place_problem
    out, seen = [], {}
    for kind, target, whys in needs(plan):
        if kind == TOOL:
            if target not in seen:
                seen[target] = which(target)
            if not seen[target]:
                out.append(missing_tool(target, _why(whys)))
            continue
        # entries of one directory (a thousand namespaces under /run/netns) are decided by that directory
        key = (kind, target if kind == IN_PLACE else os.path.dirname(target))
        if key not in seen:
            seen[key] = probe(target, in_place=(kind == IN_PLACE))
        why = seen[key]
        if why:
            verb = "write" if kind == IN_PLACE else "create, replace or remove"
            out.append("cannot %s %s: %s; needed %s" % (verb, target, why, _why(whys)))
    return out


def check(plan, which=None, probe=None):
    """Raise MissingError when the plan needs a tool or a writable place the host lacks."""
    found = problems(plan, which, probe)
    if found:
        raise MissingError(found)
    return plan
