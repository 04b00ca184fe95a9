"""Nix's settings on the command line (``--option NAME VALUE`` and the flags named
after them), restricted and pure evaluation, today's literal lints, and how errors,
traces and warnings are written to stderr.  Compared with ``nix-instantiate`` 2.8
where it has the setting; today's behaviour is written out where 2.8 lacks it."""

from __future__ import annotations

import os

import pytest

from nixlite.cli.evaluation import filter_ansi_escapes


@pytest.fixture
def tree(tmp_path):
    """a.nix imports sub/b.nix; link points outside the tree; broken points nowhere."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.nix").write_text("import ./sub/b.nix\n")
    (tmp_path / "sub" / "b.nix").write_text("42\n")
    (tmp_path / "file").write_text("hi\n")
    os.symlink("/etc/hostname", tmp_path / "link")
    os.symlink("/nonexistent", tmp_path / "broken")
    os.symlink("sub", tmp_path / "dirlink")
    return tmp_path


def _first_lines(result, n: int = 1):
    return result[0], result[1], result[2].splitlines()[:n]


SAME_AS_NIX = [
    ["--option", "foo", "bar", "-E", "1"],
    ["--option", "sandbox", "false", "--option", "build-max-jobs", "3", "-E", "1"],  # known: no warning
    ["--option", "extra-sandbox-paths", "/x", "--option", "keep-outputs", "true", "-E", "1"],
    ["--option", "show-trace", "maybe", "-E", "1"],
    ["--extra-experimental-features", "flakes nosuch", "-E", "1"],
    ["--impure", "-E", "1"],
    ["--option", "pure-eval", "true", "-E", "builtins.getEnv \"HOME\""],
    ["--option", "pure-eval", "true", "-I", "x=/tmp", "-E", "builtins.nixPath"],
    ["--option", "restrict-eval", "true", "-E", "builtins.getEnv \"HOME\""],
    ["--option", "restrict-eval", "true", "-E", "builtins.pathExists /etc"],
    ["-E", 'throw "ab\\ncd\\tx\\n\\tq"'],
    ["-E", 'throw "a\\n\\nb\\r\\n\\tc"'],
    ["-E", 'throw "\x1b[31mred\x1b[0m plain \x1b]0;x\x07 y"'],
    ["-E", 'builtins.trace "\x1b[1ma\\tb\\nc\\td" 1'],
    ["-E", 'abort "ab\\ncd"'],
]


@pytest.mark.nix
@pytest.mark.parametrize("argv", SAME_AS_NIX, ids=lambda a: " ".join(a)[:60])
def test_same_output_as_nix(argv, nixlite_eval, nix_eval):
    assert nixlite_eval(argv) == nix_eval(argv)


@pytest.mark.nix
@pytest.mark.parametrize("argv", [
    ["--option", "pure-eval", "true", "-E", "<nixpkgs>"],
    ["--option", "pure-eval", "true", "a.nix"],
    ["--option", "restrict-eval", "true", "a.nix"],
    ["--option", "restrict-eval", "true", "-I", ".", "a.nix"],
    ["--option", "restrict-eval", "true", "-I", "x=sub", "-E", "import <x/b.nix>"],
    ["--option", "restrict-eval", "true", "-I", ".", "-E", "builtins.readFile ./link"],
    ["--option", "restrict-eval", "true", "-I", ".", "-E", "builtins.readFile ./sub/../../x"],
], ids=lambda a: " ".join(a)[:60])
def test_restricted_and_pure_evaluation(argv, tree, nixlite_eval, nix_eval, monkeypatch):
    """Same verdict, value and message as 2.8 (2.8 adds a --show-trace hint where it
    has no position; nixlite points at the expression)."""
    monkeypatch.chdir(tree)
    assert _first_lines(nixlite_eval(argv)) == _first_lines(nix_eval(argv))


@pytest.mark.nix
def test_find_file_and_eval_only(tree, nix_eval, capsys, monkeypatch):
    from nixlite.cli import main

    monkeypatch.chdir(tree)
    for command, argv in [("eval", ["--find-file", "x", "x/b.nix", "-I", "x=sub"]),
                          ("instantiate", ["--eval-only", "--strict", "-E", "[ (1 + 1) ]"]),
                          ("instantiate", ["--find-file", "nope"])]:
        capsys.readouterr()
        rc = main([command, *argv])
        got = capsys.readouterr()
        expected = nix_eval(argv)  # --eval is harmless in both modes
        assert (rc, got.out, got.err.splitlines()[:1]) == (
            expected[0], expected[1], expected[2].splitlines()[:1])


def test_path_exists_follows_todays_nix(tree, nixlite_eval):
    """Strings ending in / or /. need a directory; broken symlinks exist; `..` is
    resolved in the text (2.8 said false for `missing/..` and `file/..`)."""
    cases = {"file": True, "file/": False, "file/.": False, "sub/": True, "sub/.": True,
             "broken": True, "broken/": False, "dirlink/": True, "dirlink/.": True,
             "missing/..": True, "file/..": True, "missing": False}
    names = list(cases)
    expr = "map builtins.pathExists [ " + " ".join(f'"{tree}/{n}"' for n in names) + " ]"
    expected = "[ " + " ".join("true" if cases[n] else "false" for n in names) + " ]\n"
    assert nixlite_eval(["--strict", "-E", expr]) == (0, expected, "")
    store = 'map builtins.pathExists [ "/nix/store" "/nix/store/" "/nix/store/." /nix/store ]'
    assert nixlite_eval(["--strict", "-E", store]) == (0, "[ true true true true ]\n", "")


LINT_SOURCE = '[ a/b ./c http://x /abs ~/h "s" "${d/e}" ]'


def test_lints_warn_in_source_order(nixlite_eval):
    """Today's Nix (2.34): each lint is ignore, warn or fatal."""
    argv = ["--lint-short-path-literals", "warn", "--option", "lint-url-literals", "warn",
            "--lint-absolute-path-literals", "warn", "-E", LINT_SOURCE]
    rc, out, err = nixlite_eval(argv)
    assert rc == 0 and out.startswith("[ ")
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: relative path literal 'a/b' should be prefixed with '.' for clarity: './a/b'",
        "warning: URL literal 'http://x' is deprecated",
        "warning: absolute path literals are not portable. Consider replacing path literal "
        "'/abs' by a string, relative path, or parameter (lint-absolute-path-literals)",
        "warning: absolute path literals are not portable. Consider replacing path literal "
        "'~/h' by a string, relative path, or parameter (lint-absolute-path-literals)",
        "warning: relative path literal 'd/e' should be prefixed with '.' for clarity: './d/e'",
    ]
    assert "         at «string»:1:3:\n              1| " + LINT_SOURCE in err
    assert nixlite_eval(["-E", LINT_SOURCE])[2] == ""  # ignored by default


def test_fatal_lint_is_an_error_even_where_not_evaluated(nixlite_eval):
    rc, out, err = nixlite_eval(["--lint-url-literals", "fatal", "-E", "if true then 1 else http://x"])
    assert (rc, out) == (1, "")
    assert err.startswith("error: URL literal 'http://x' is deprecated\n\n       at «string»:1:21:")


def test_abort_on_warn(nixlite_eval):
    """Today's Nix: the warning, then an error tryEval does not catch."""
    rc, out, err = nixlite_eval(["--abort-on-warn", "-E", 'builtins.tryEval (builtins.warn "w" 1)'])
    assert (rc, out) == (1, "")
    assert err.startswith("evaluation warning: w\n"
                          "error: aborting to reveal stack trace of warning, as abort-on-warn is set")
    assert nixlite_eval(["-E", 'builtins.warn "w" 1']) == (0, "1\n", "evaluation warning: w\n")


def test_import_from_derivation_can_be_refused(nixlite_eval):
    drv = 'derivation { name = "x"; builder = "/b"; system = "s"; }'
    rc, _, err = nixlite_eval(["--option", "allow-import-from-derivation", "false",
                               "-E", f"builtins.readFile \"${{{drv}}}/f\""])
    assert rc == 1
    assert err.startswith("error: cannot build '/nix/store/cmb8q6cmqa3my5qg8bwjjxww4gf9hgxl-x.drv^out'"
                          " during evaluation because the option 'allow-import-from-derivation' is disabled")


def test_escape_filter_keeps_colours_on_a_terminal():
    text = "a\x1b[31mb\x1b[0m\x1b]0;t\x07\tc\r"
    assert filter_ansi_escapes(text, keep_colours=True) == "a\x1b[31mb\x1b[0m0;t   c"
    assert filter_ansi_escapes(text, keep_colours=False) == "ab0;t   c"


@pytest.mark.nix
@pytest.mark.parametrize("expr", ['builtins.fromJSON "1e400"', 'throw "x"', '1 + "a"',
                                  'let f = x: throw "x"; in f 1',
                                  '(derivation { name = "x"; builder = "/bin/sh"; }).outPath'])
def test_show_trace_hint_where_nix_prints_it(expr, nixlite_eval, nix_eval):
    """2.8 ends an error with the hint when --show-trace would show more frames.
    (Not matched: ``toJSON (x: x)``, whose only frame in 2.8 is one nixlite does not
    record, while nixlite's is today's argument frame, which 2.8 lacks.)"""
    hint = "(use '--show-trace' to show detailed location information)"
    got, expected = nixlite_eval(["-E", expr]), nix_eval(["-E", expr])
    assert got[0] == expected[0] == 1
    assert (got[2].splitlines()[-1] == hint) == (expected[2].splitlines()[-1] == hint)
    assert hint not in nixlite_eval(["--show-trace", "-E", expr])[2]


def test_deep_json_is_a_stack_overflow(nixlite_eval):
    """toJSON and structured attributes nest no deeper than max-call-depth (10000 by
    default), with today's Nix's error, instead of running on."""
    deep = "let f = n: if n == 0 then 1 else [ (f (n - 1)) ]; in f"
    rc, _, err = nixlite_eval(["-E", f"builtins.toJSON ({deep} 20000)"])
    assert rc == 1 and err.startswith("error: stack overflow; max-call-depth exceeded\n")
    assert nixlite_eval(["-E", f"builtins.stringLength (builtins.toJSON ({deep} 9000))"]) == (0, "18001\n", "")
    assert nixlite_eval(["--max-call-depth", "3", "-E", "builtins.toJSON [ [ [ 1 ] ] ]"])[0] == 0
    assert nixlite_eval(["--max-call-depth", "2", "-E", "builtins.toJSON [ [ [ 1 ] ] ]"])[0] == 1
    drv = ('(derivation { name = "a"; builder = "b"; system = "s"; __structuredAttrs = true; '
           'x = [ [ 1 ] ]; }).drvPath')
    assert nixlite_eval(["--option", "max-call-depth", "2", "-E", drv])[0] == 0
    rc, _, err = nixlite_eval(["--option", "max-call-depth", "1", "-E", drv])
    assert rc == 1 and "stack overflow; max-call-depth exceeded" in err
