# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_networks -> the exact commands that build them on an empty host, with no host read or touched.

The commands are not written here: the very converge the module container_network runs (_converge.converge,
in check mode) plans the parsed calls against an in-memory empty host, so the text is the engine's own
Action.command strings, in the order a real converge of that list on an empty host prints them as
``commands``. The empty host is a fresh network namespace as the kernel makes it:

* links: ``lo`` only (up, 127.0.0.1/8 and ::1/128); no route, no named namespace (``EmptyHost``);
* firewall: no rule at all (an iptables driver whose iptables-save prints nothing, ``_empty_driver``);
* sysctls: ``net.ipv4.ip_forward=0``, ``net.ipv6.conf.default.disable_ipv6=0``, every
  ``net.ipv4.conf.*.route_localnet=0``, br_netfilter not loaded (``EMPTY_SYSCTLS``, ``empty_sysctl``);
* no listening socket, nothing under /run/netns or /etc/netns.

The planners read a few of these facts from files rather than through netlink (sysctls, /proc/net listeners,
/run/netns, /etc/netns) and check the host's tools (_hosttools): they ask the readers of the run context
(_engine.HostReaders), and a render hands the converge the empty host's (``EmptyReaders``); nothing of the
planners is copied or swapped. What an earlier step of the render writes (a sysctl) is the run context's
prediction, as in any check-mode run. No netlink socket is opened and pyroute2 is never used (nor needed: the
filter runs on a controller without it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils import _converge, _engine, _isolation, _netspec
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import ChainedDriver
from ansible_collections.netplumb.container.plugins.module_utils._iptables import IptablesDriver
from ansible_collections.netplumb.container.plugins.module_utils._nftables import NftablesDriver, NftTool
from ansible_collections.netplumb.container.plugins.module_utils._nl import NETNS_RUN_DIR, Link, NsState

# A fresh network namespace's sysctls (what `unshare --net` gives with the kernel's defaults)
EMPTY_SYSCTLS = {
    "net.ipv4.ip_forward": "0",
    "net.ipv6.conf.default.disable_ipv6": "0",
    "net.ipv6.conf.all.disable_ipv6": "0",
}
LOOPBACK = (u"127.0.0.1/8", u"::1/128")


def empty_sysctl(name):
    """The value of sysctl ``name`` on the empty host (None: absent, as net.bridge.* without br_netfilter)."""
    if name in EMPTY_SYSCTLS:
        return EMPTY_SYSCTLS[name]
    if name.startswith("net.ipv4.conf.") and name.endswith(".route_localnet"):
        return "0"
    if name.startswith("net.ipv6.conf.") and name.endswith(".disable_ipv6"):
        return "0"
    return None


class EmptyReaders(_engine.HostReaders):
    """The empty host's file readers (the run context's readers of a render)."""

    def sysctl(self, name):
        return empty_sysctl(name)

    def proc_sys(self, path):
        prefix = _isolation.PROC_SYS.rstrip("/") + "/"
        if not path.startswith(prefix):
            return None
        return empty_sysctl(path[len(prefix):].replace("/", "."))

    def listeners(self, protocol, proc_net=None):
        return []

    def check_free(self, field, name, path):
        return None

    def read_file(self, path):
        return None

    def check_tools(self, plan):
        return plan     # the tools are the host's business


class _Msg(dict):
    """An address message as pyroute2 gives it: fields by [key], attributes by get_attr()."""

    def __init__(self, fields, attrs):
        super(_Msg, self).__init__(fields)
        self.attrs = attrs
        self["attrs"] = list(attrs.items())

    def get_attr(self, name):
        return self.attrs.get(name)


class _EmptySock(object):
    """The host namespace's netlink socket as the host model (_preflight) reads it: lo's addresses, no route."""

    marshal = None

    def get_addr(self, **kwargs):
        out = []
        for text in LOOPBACK:
            iface = ipaddress.ip_interface(text)
            out.append(_Msg(dict(index=1, prefixlen=iface.network.prefixlen, scope=254, family=iface.version),
                            dict(IFA_LOCAL=str(iface.ip), IFA_ADDRESS=str(iface.ip))))
        return out

    def get_routes(self, **kwargs):
        return []

    def get_links(self, **kwargs):
        return []

    def get_netnsid(self, **kwargs):
        return {"nsid": None}


class EmptyHost(object):
    """What _nl.Netlink is to the planners, for a host with nothing on it. Nothing can be written (planning
    only: an action of a rendered plan is never run)."""

    run_dir = NETNS_RUN_DIR

    def __init__(self):
        lo = Link(1, "lo", "loopback", None, 65536, True, None, None, None, None)
        self.host = NsState(None, [lo], {}, {})
        self._memo = {}

    # --- what the planners read ------------------------------------------------------------------------
    def read(self, ns=None):
        if ns is None:
            return self.host
        raise StateError("network namespace %r does not exist (%s/%s)" % (ns, self.run_dir, ns))

    @contextlib.contextmanager
    def frozen(self):
        yield self

    def memo(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def peek(self, key):
        return self._memo.get(key)

    def ns_exists(self, name):
        return False

    def ns_list(self):
        return []

    def ns_pids(self, name):
        return []

    def sock(self, ns=None):
        if ns is not None:
            self.read(ns)
        return _EmptySock()

    def with_ns_fd(self, ns, fn):
        self.read(ns)

    def ns_create(self, name):
        raise StateError("render: namespace %s is planned, never created (nothing is applied)" % name)

    ns_delete = ns_create

    def index(self, ns, name):
        raise StateError("render: %s is planned, never looked up (nothing is applied)" % name)

    def forget(self):
        return None

    def close(self):
        return None


def _runner(argv, data=None):
    """The firewall tools of the empty host: every iptables-save prints no rule; nothing else runs."""
    if argv and argv[0].startswith("iptables-") and argv[0].endswith("-save"):
        return 0, "", ""
    return 1, "", "render: %s is not run (no host)" % " ".join(argv)


def _nft_runner(argv, data=None):
    """nft on the empty host: our table does not exist; nothing is written."""
    if argv[:3] == ["nft", "-j", "list"]:
        return 1, "", "Error: No such file or directory"
    return _runner(argv, data)


def _empty_driver(backend):
    """The check-mode firewall driver of the run on a host with no rule: nftables when asked for, else iptables
    (nf_tables-backed; the commands do not depend on the flavour: ``iptables -t TABLE ...``), which is what
    ``auto`` picks on a host with no rule but an iptables-only toolset."""
    if backend == "nftables":
        return ChainedDriver(NftablesDriver(NftTool(runner=_nft_runner)), True)
    driver = IptablesDriver("nft", _runner)
    driver.saved = {"nft": ""}
    return ChainedDriver(driver, True)


def render(networks, firewall_backend="auto", root=_netspec.ROOT):
    """{errors, commands, networks, calls}: the commands a converge of ``networks`` runs on an empty host, in
    order, all of them (``commands``), per present network (``networks``: name, bridge, commands) and per module
    call (``calls``: label, module, commands). Input errors are _netspec.parse's, word for word; a refusal of
    the engine's preflight on the empty host (a host_ip that is no address of it, say) is one line per refused
    call, as the module reports it. With errors, no command."""
    parsed = _netspec.parse(networks, firewall_backend, root=root)
    out = dict(errors=list(parsed["errors"]), commands=[], networks=[], calls=[])
    if out["errors"]:
        return out
    try:
        drivers = {firewall_backend: _empty_driver(firewall_backend)}
        res = _converge.converge(EmptyHost(), parsed["calls"], True, diff=False, drivers=drivers,
                                 readers=EmptyReaders())
    except _converge.RefusedError as exc:
        out["errors"] = exc.errors
        return out
    except NetplumbError as exc:
        out["errors"] = [str(exc)]
        return out
    out["commands"] = res["commands"]
    out["calls"] = [dict(label=c["label"], module=c["module"], commands=c["commands"]) for c in res["calls"]]
    for n in parsed["present"]:
        out["networks"].append(dict(name=n["name"], bridge=n["bridge"], commands=[
            cmd for c in res["calls"] if c["label"] == n["field"] for cmd in c["commands"]]))
    return out
