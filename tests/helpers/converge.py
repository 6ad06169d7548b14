"""The cycle every module test runs: check+diff (predicts, writes nothing) -> real -> idempotent re-run."""
import os

from helpers.kernel import Monitor, dump


def changes(a, b, path=""):
    """Where two dumps differ, as readable paths (for assertion messages)."""
    if type(a) is not type(b):
        return ["%s: %r -> %r" % (path, a, b)]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += changes(a.get(k), b.get(k), "%s.%s" % (path, k))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return ["%s: %d items -> %d: %r -> %r" % (path, len(a), len(b), a, b)]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += changes(x, y, "%s[%d]" % (path, i))
        return out
    return [] if a == b else ["%s: %r -> %r" % (path, a, b)]


def existing_ns():
    return sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []


def converge(run, module, args, expect_changed=True):
    """Runs the cycle and asserts: check == real (changed, commands, diff), check wrote nothing, the re-run
    reports changed=false with no commands and causes zero netlink notifications and identical dumps."""
    ns_before = existing_ns()
    state_before = dump(ns_before)
    check = run(module, args, check=True)
    assert not check.get("failed"), check
    assert existing_ns() == ns_before, "check mode created or removed a namespace"
    after_check = dump(ns_before)
    assert after_check == state_before, "check mode changed kernel state: %s" % changes(state_before, after_check)
    assert check["changed"] is expect_changed, check
    # --diff shows the commands: one per line as the diff's prepared text (none without changes)
    assert check["diff"].get("prepared") == ("\n".join(check["commands"]) or None), check["diff"]

    real = run(module, args)
    assert not real.get("failed"), real
    assert real["changed"] == check["changed"]
    assert real["commands"] == check["commands"], (check["commands"], real["commands"])
    assert real["diff"] == check["diff"]

    namespaces = existing_ns()
    mon = Monitor(namespaces)
    try:
        state = dump(namespaces)
        again = run(module, args)
        assert not again.get("failed"), again
        assert again["changed"] is False, again
        assert again["commands"] == []
        assert mon.events() == 0, "the idempotent re-run wrote to the kernel"
        state_again = dump(namespaces)
        assert state_again == state, "the re-run changed kernel state: %s" % changes(state, state_again)
        assert existing_ns() == namespaces
    finally:
        mon.close()
    return real
