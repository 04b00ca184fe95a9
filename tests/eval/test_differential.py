"""The evaluator corpus (fixtures/eval): nixlite against goldens made by real Nix 2.8.

Every ``fixtures/eval/<topic>/<case>.nix`` runs in-process through ``nixlite eval`` in
each mode that has a golden (``--strict``, ``--strict --json``, ``--strict --xml``,
plain); stdout must equal the golden byte for byte. A failing case must exit 1 with the
same ``error: …`` message line and the same ``at FILE:LINE:COL:`` position line as the
golden. ``<case>.today.<kind>`` files override a 2.8 golden where today's Nix prints
something else (see fixtures/eval/TODAY.md). Cases listed in
``fixtures/eval/known-failures.txt`` are strict expected failures: nixlite bugs
still open, or 2.8 goldens whose today's form is not established; remove a line when
the case passes.

``test_goldens_match_live_nix`` re-runs real ``nix-instantiate`` (when installed) and
checks the stored 2.8 goldens are still what it prints; it batches cases into few
processes to stay fast.

Regenerate goldens with ``python fixtures/regen.py eval``.
"""

from __future__ import annotations

import importlib.util
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("fixtures_regen", REPO / "fixtures" / "regen.py")
regen = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("fixtures_regen", regen)
_spec.loader.exec_module(regen)

CASES = regen.eval_cases()
KNOWN_FAILURES = regen.known_failures(regen.EVAL_DIR)


def expected_error(case) -> str | None:
    """The error golden when the case should fail today, else None.

    A ``.today.strict.out`` means today's Nix succeeds where 2.8 failed (a newer
    builtin), so the 2.8 ``.err`` no longer applies."""
    if case.golden("today.err").exists():
        return case.expected("err")
    if case.golden("today.strict.out").exists():
        return None
    return case.expected("err")


def expected_output(case, mode: str) -> tuple[str | None, str | None]:
    """(stdout, error text) expected today for a succeeding case in ``mode``.

    Today's ``nix-instantiate --eval --json`` ends its output with a newline, which
    2.8 did not write; a 2.8 ``.json.out`` golden gets one appended."""
    if case.golden(f"today.{mode}.err").exists():
        return None, case.expected(f"{mode}.err")
    out = case.expected(f"{mode}.out")
    if mode == "json" and out is not None and not case.golden("today.json.out").exists():
        out += "\n"
    return out, case.expected(f"{mode}.err")


def _params():
    """One parameter per (case, mode) that has a golden."""
    out = []
    for case in CASES:
        if expected_error(case) is not None:
            modes = ["strict"]
        else:
            modes = [m for m in regen.modes_of(case) if any(expected_output(case, m))]
        for mode in modes:
            ident = f"{case.name}:{mode}"
            marks = []
            if ident in KNOWN_FAILURES or case.name in KNOWN_FAILURES:
                marks.append(pytest.mark.xfail(reason="listed in fixtures/eval/known-failures.txt", strict=True))
            out.append(pytest.param(case, mode, id=ident, marks=marks))
    return out


def error_signature(stderr: str) -> tuple[str | None, str | None]:
    """The message line (the last ``error: …`` with text) and the position line after it.

    Works for both 2.8's layout (message first, then ``at``) and today's (``… while``
    trace frames first, the message last), so goldens from either compare alike.
    """
    lines = stderr.splitlines()
    msg_index = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("error: ") and stripped != "error:":
            msg_index = i
    if msg_index is None:
        return None, None
    message = lines[msg_index].strip()
    position = None
    for line in lines[msg_index + 1:]:
        stripped = line.strip()
        if stripped.startswith("… ") or stripped.startswith("error:"):
            break
        if re.fullmatch(r"at .+:\d+:\d+:", stripped):
            position = stripped
            break
    return message, position


def run_nixlite_case(case, mode: str, capsysbinary, monkeypatch, store_root) -> tuple[int, str, str]:
    """Run ``nixlite eval`` in-process on a case; return (status, stdout, stderr) normalised."""
    from nixlite.cli import main

    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NIX_PATH", "")
    monkeypatch.setenv("NIXLITE_STORE", str(store_root))
    monkeypatch.delenv("NIX_STORE_DIR", raising=False)  # goldens use /nix/store
    monkeypatch.chdir(case.path.parent)
    stdin = regen.stdin_text(case)
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsysbinary.readouterr()
    try:
        status = main(["eval", *regen.mode_flags(mode, case), *case.args, *regen.input_args(case)])
    except SystemExit as exc:  # argparse rejects an option
        status = exc.code if isinstance(exc.code, int) else 2
    out = capsysbinary.readouterr()
    return status, regen.normalise(regen.decode(out.out)), regen.normalise(regen.decode(out.err))


def check_error(expected: str, status: int, stdout: str, stderr: str) -> None:
    assert status == 1, f"expected failure, got status {status}, stdout {stdout!r}"
    want_msg, want_pos = error_signature(expected)
    got_msg, got_pos = error_signature(stderr)
    assert got_msg == want_msg, f"stderr was:\n{stderr}"
    if want_pos is not None:  # today's Nix shows some positions only in trace frames
        assert got_pos == want_pos, f"stderr was:\n{stderr}"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    """A private nixlite store: cases that import paths must not touch the user's."""
    return tmp_path_factory.mktemp("eval-store") / "store"


@pytest.mark.parametrize(("case", "mode"), _params())
def test_eval_matches_golden(case, mode, capsysbinary, monkeypatch, store_root):
    status, stdout, stderr = run_nixlite_case(case, mode, capsysbinary, monkeypatch, store_root)
    err = expected_error(case)
    if err is not None:
        if "loose-error" in case.flags:  # message text comes from a third-party parser
            assert status == 1 and "error:" in stderr, f"expected a failure, got {stdout!r}"
            return
        check_error(err, status, stdout, stderr)
        return
    out, mode_err = expected_output(case, mode)
    if out is None:
        check_error(mode_err, status, stdout, stderr)
        return
    assert status == 0, f"nixlite failed:\n{stderr}"
    assert stdout == out
    if mode == "strict":
        trace = case.expected("trace")
        if trace is not None:
            assert stderr == trace


def test_corpus_is_large_and_has_goldens():
    """Every case has its goldens (run fixtures/regen.py after adding cases)."""
    assert len(CASES) >= 400
    missing = [c.name for c in CASES if c.expected("err") is None and c.expected("strict.out") is None]
    assert not missing, f"cases without goldens: {missing[:20]}"
    listed = {name.split(":")[0] for name in KNOWN_FAILURES}
    unknown = listed - {c.name for c in CASES}
    assert not unknown, f"known-failures.txt names unknown cases: {sorted(unknown)[:20]}"


def test_today_overrides_are_documented():
    """Every ``.today.*`` override is listed in TODAY.md with its reason."""
    doc = (regen.EVAL_DIR / "TODAY.md").read_text()
    for case in CASES:
        for p in case.path.parent.glob(f"{case.path.stem}.today.*"):
            assert case.name in doc, f"{p.name} is not explained in fixtures/eval/TODAY.md"


# --- the goldens against the live reference -------------------------------------------

def _batched_nix_strict(cases, flags: list[str]) -> dict[str, str]:
    """Evaluate many argument-less cases in one nix-instantiate process: each successful
    result is printed on its own line (strict output never contains a raw newline)."""
    out: dict[str, str] = {}
    if not cases:
        return out
    cmd = ["nix-instantiate", "--eval", *flags, *[str(c.path) for c in cases]]
    p = subprocess.run(cmd, capture_output=True, env=regen.nix_env(cases[0]),
                       cwd=regen.EVAL_DIR, timeout=300)
    assert p.returncode == 0, regen.decode(p.stderr)
    text = regen.normalise(regen.decode(p.stdout))
    if "--json" in flags:
        # JSON results are written without a trailing newline by Nix 2.8; split by the
        # known lengths of the stored goldens instead.
        pos = 0
        for c in cases:
            golden = regen.read(c.golden("json.out"))
            out[c.name] = text[pos:pos + len(golden)]
            pos += len(golden)
        assert pos == len(text)
    else:
        lines = text.split("\n")
        assert lines[-1] == ""
        for c, line in zip(cases, lines[:-1], strict=True):
            out[c.name] = line + "\n"
    return out


@pytest.mark.nix
@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="Nix 2.8 not installed")
def test_goldens_match_live_nix():
    simple = [c for c in CASES if not c.args and not c.env and not {"expr", "stdin"} & c.flags]
    ok_strict = [c for c in simple if c.golden("strict.out").exists() and not c.golden("trace").exists()]
    ok_json = [c for c in ok_strict if c.golden("json.out").exists()]
    mismatches = []
    got = _batched_nix_strict(ok_strict, ["--strict"])
    for c in ok_strict:
        if got[c.name] != regen.read(c.golden("strict.out")):
            mismatches.append(f"{c.name}:strict")
    got = _batched_nix_strict(ok_json, ["--strict", "--json"])
    for c in ok_json:
        if got[c.name] != regen.read(c.golden("json.out")):
            mismatches.append(f"{c.name}:json")
    # Everything else (errors, xml, lazy, cases with arguments): one process per case.
    batched = {c.name for c in ok_strict}
    rest = [c for c in CASES if c.name not in batched]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(regen.nix_goldens, rest))
    for c, goldens in zip(rest, results):
        stored = regen.stored_goldens(c)
        if goldens != stored:
            mismatches.append(c.name)
    # The remaining modes of batched cases (xml, lazy, json errors).
    extra = [c for c in ok_strict if {"xml", "lazy"} & set(regen.modes_of(c)) or c.golden("json.err").exists()]
    for c in extra:
        for mode in regen.modes_of(c)[1:]:
            if mode == "json" and c.golden("json.out").exists():
                continue
            status, stdout, stderr = regen.run_nix_eval(c, mode)
            want = c.golden(f"{mode}.out") if status == 0 else c.golden(f"{mode}.err")
            if not want.exists() or regen.read(want) != (stdout if status == 0 else stderr):
                mismatches.append(f"{c.name}:{mode}")
    assert not mismatches, f"goldens differ from live Nix (run fixtures/regen.py): {mismatches}"
