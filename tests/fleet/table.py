# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the report of playbooks/verify.yml (-e netplumb_verify_report=FILE) as one table per host.

Exit status 0 when every check of every host passed, 1 otherwise (2 when the report is missing).
"""
import json
import sys

HEAD = ("container", "address", "gateway ping", "neighbours", "egress seen as", "published ports reachable")


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
               "%s %s" % (mark(c["gateway_ping"]), c["gateway"]), neighbours, egress, ports)


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
        status = "every check passed" if host["ok"] else "SOME CHECKS FAILED"
        print("\n%s (%s): %d containers, %s" % (host["host"], host["address"], len(host["containers"]), status))
        print(table(lines))
        ok = ok and host["ok"]
    print("\n%s" % ("ALL CHECKS PASSED on %d hosts" % len(report) if ok else "SOME CHECKS FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
