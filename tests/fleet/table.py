# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the report of playbooks/verify.yml (-e netplumb_verify_report=FILE) as one table per host.

Exit status 0 when every check of every host passed, 1 otherwise (2 when the report is missing).
The cross-host column: each fleet container's connections to the other hosts' fleet containers, "ok N/N (src
kept)" when each of them saw the sender's own address; "-" for a container not on a fleet network.
"""
import json
import sys

HEAD = ("container", "address", "gateway ping", "neighbours", "egress seen as", "published ports reachable",
        "cross-host")


def mark(ok):
    return "ok" if ok else "FAIL"


def rows(host):
    for c in host["containers"]:
        nb = c["neighbours"]
        neighbours = "-" if not nb else "%s %d/%d" % (mark(all(nb.values())), sum(nb.values()), len(nb))
        egress = c["egress_seen_as"] or "no answer"
        egress = "%s %s" % (mark(c["egress_seen_as"] == c["expected_egress"]), egress)
        ports = ", ".join("%s %s (from %s)" % (mark(p["ok"]), p["spec"], p["from"]) for p in c["ports"]) or "-"
        yield (c["container"], "%s via %s" % (c["address"], c["gateway"]),
               "%s %s" % (mark(c["gateway_ping"]), c["gateway"]), neighbours, egress, ports, cross_host(c))


def cross_ok(c):
    return all(x["ok"] for x in c.get("cross_host") or [])


def cross_host(c):
    """'-' (no fleet peers), 'ok N/N (src kept)', or 'FAIL k/N' with each failed peer and what it saw."""
    cross = c.get("cross_host") or []
    if not cross:
        return "-"
    good = sum(1 for x in cross if x["ok"])
    if good == len(cross):
        return "ok %d/%d (src kept)" % (good, len(cross))
    failed = ["%s@%s %s" % (x["container"], x["host"], "seen as %s" % x["seen_as"] if x.get("seen_as")
                            else "no answer") for x in cross if not x["ok"]]
    return "FAIL %d/%d (%s)" % (good, len(cross), ", ".join(failed))


def table(lines):
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(HEAD))]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    out = [fmt % HEAD, fmt % tuple("-" * w for w in widths)]
    out += [fmt % line for line in lines[1:]]
    return "\n".join(s.rstrip() for s in out)


def main(argv):
    try:
        with open(argv[1]) as f:
            report = json.load(f)
    except (IndexError, OSError, ValueError) as exc:
        print("no verify report: %s" % exc)
        return 2
    ok = True
    for host in sorted(report, key=lambda h: h["host"]):
        lines = [HEAD] + list(rows(host))
        host_ok = host["ok"] and all(cross_ok(c) for c in host["containers"])
        status = "every check passed" if host_ok else "SOME CHECKS FAILED"
        print("\n%s (%s): %d containers, %s" % (host["host"], host["address"], len(host["containers"]), status))
        print(table(lines))
        ok = ok and host_ok
    print("\n%s" % ("ALL CHECKS PASSED on %d hosts" % len(report) if ok else "SOME CHECKS FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
