"""tests/suites/run.py's digest of a failed suite's log: the lines a CI that keeps only the end of the output needs
to name the failing test (pytest's summary first, then assertion and Ansible failure lines)."""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location("suite_runner", os.path.join(ROOT, "tests", "suites", "run.py"))
run = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(run)

MOLECULE_LOG = """\
\x1b[36mINFO    \x1b[0m bgp \u279c verify: Executing
============================= test session starts ==============================
tests/test_bgp.py ....F.
    def test_h1_reaches_h3_with_its_own_address(host, name):
>       assert out.stdout.strip() == caddr("h1"), out
E       AssertionError: CommandResult(command=b"ip netns exec f1 sh -c ...", exit_status=0, stdout='')
E       assert '' == '10.244.2.10'
E         - 10.244.2.10
=========================== short test summary info ============================
FAILED tests/test_bgp.py::test_h1_reaches_h3_with_its_own_address[ssh://h1] - AssertionError: CommandResult(
""" + "".join("filler line %d\n" % i for i in range(200)) + """\
\x1b[31mERROR   \x1b[0m Verifier tests failed
"""


def test_digest_names_the_failing_test_first(tmp_path):
    log = tmp_path / "molecule-bgp.log"
    log.write_text(MOLECULE_LOG)
    got = run.digest(str(log))
    assert got[0].startswith("FAILED tests/test_bgp.py::test_h1_reaches_h3_with_its_own_address[ssh://h1]")
    assert got[1:4] == ["E       AssertionError: CommandResult(command=b\"ip netns exec f1 sh -c ...\", exit_status=0, "
                        "stdout='')", "E       assert '' == '10.244.2.10'", "E         - 10.244.2.10"]
    assert got[4] == "ERROR    Verifier tests failed"       # colours gone
    assert len(got) == 5


def test_digest_bounds_lines_and_length(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join("fatal: [h%d]: FAILED! => %s\n" % (i, "x" * 300) for i in range(30)))
    got = run.digest(str(log), limit=12)
    assert len(got) == 12 and all(len(ln) == 200 for ln in got) and got[0].startswith("fatal: [h0]")


def test_digest_of_a_missing_or_clean_log_is_empty(tmp_path):
    assert run.digest(str(tmp_path / "none.log")) == []
    log = tmp_path / "ok.log"
    log.write_text("ok\n==== 3 passed in 1.0s ====\n")
    assert run.digest(str(log)) == []


def test_a_failed_run_ends_with_the_digest(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run, "LOGS", str(tmp_path))
    monkeypatch.setattr(run, "TIMES", str(tmp_path / "times.json"))
    (tmp_path / "molecule-bgp.log").write_text(MOLECULE_LOG)
    runner = run.Runner(["molecule-bgp"], 1, False, "make")
    runner.done = {"molecule-bgp": (0.0, 12.0, 2)}
    runner.first_failure = "molecule-bgp"
    assert runner.report() == 2
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "=== first failure: molecule-bgp (exit 2), log .build/suites/molecule-bgp.log"
    i = out.index("=== what failed in molecule-bgp:")
    assert out[i + 1].startswith("    FAILED tests/test_bgp.py::test_h1_reaches_h3")
    assert len(out) - i <= 14       # the digest stays within the few last lines a CI keeps


def test_digest_reads_through_molecules_box(tmp_path):
    log = tmp_path / "molecule-overlay.log"
    log.write_text("  \u2502 >       assert netcheck.ask(host) ==\n"
                   "  \u2502 E       AssertionError: assert None == '10.244.59.10'\n"
                   "  \u2502 FAILED\n  \u2502   tests/test_overlay.py::test_h1_reaches_h3[ssh://h1] - AssertionError\n"
                   "\x1b[31mCRITICAL\x1b[0m Verifier tests failed\n")
    assert run.digest(str(log)) == ["E       AssertionError: assert None == '10.244.59.10'", "FAILED",
                                    "CRITICAL Verifier tests failed"]
