"""``nixlite eval`` as a command: files, stdin, -A, --arg/--argstr, -I, errors, the seed."""

from __future__ import annotations

from pathlib import Path

import pytest

STUBS = Path(__file__).parent / "data" / "seed-stubs.nix"


def _write(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


FILES = {
    "default.nix": "{ a ? 1, b }: { sum = a + b; inner = { c = [ 10 { d = b; } ]; f = { x ? 5 }: x + a; }; g = x: x; }",
    "lib.nix": "{ double = x: x * 2; pos = __curPos; attrPos = builtins.unsafeGetAttrPos \"k\" { k = 1; }; }",
    "main.nix": "let lib = import ./lib.nix; in [ (lib.double 21) lib.pos lib.attrPos (import ./lib.nix == lib) ]",
    "dir/default.nix": "{ fromDir = true; }",
    "usedir.nix": "import ./dir",
    "scoped.nix": "builtins.scopedImport { x = 40; } ./needs-x.nix",
    "needs-x.nix": "x + 2",
    "rd/a.txt": "hello\n",
    "rd/sub/b": "",
    "readers.nix": "[ (builtins.readFile ./rd/a.txt) (builtins.readDir ./rd) (builtins.pathExists ./rd/a.txt) (builtins.pathExists ./rd/nope) ]",
    "search.nix": "[ <foo> <foo/a.txt> ]",
}

CASES = [
    ["--strict", "default.nix", "--arg", "b", "2"],
    ["--strict", "default.nix", "--argstr", "b", "x", "-A", "inner.c.1"],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "inner.f"],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "g"],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "inner.c.0", "-A", "sum"],
    ["default.nix", "--arg", "b", "2"],
    ["--strict", "default.nix"],
    ["--strict"],
    ["--strict", "main.nix"],
    ["--strict", "usedir.nix"],
    ["--strict", "scoped.nix"],
    ["--strict", "readers.nix"],
    ["--strict", "-I", "foo=rd", "search.nix"],
    ["--strict", "-I", "rd", "-E", "<a.txt>"],
    ["--strict", "-E", "<nope>"],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "nope"],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "sum.x"],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "inner.c.5"],
    ["--strict", "-E", "1", "-E", "2"],
    ["--strict", "-E", ""],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "inner."],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", ".inner"],
    ["--strict", "default.nix", "--arg", "b", "2", "-A", "inner..c"],
    ["--xml", "main.nix"],
    ["--xml", "--strict", "default.nix", "--arg", "b", "2"],
    ["--json", "--strict", "default.nix", "--arg", "b", "2", "-A", "inner.c"],
]


@pytest.mark.nix
@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_command_matches_nix(argv, tmp_path, nixlite_eval, nix_eval):
    _write(tmp_path, FILES)
    expected = nix_eval(argv)
    if "--json" in argv and expected[0] == 0:
        # today's nix-instantiate ends JSON output with a newline; 2.8 did not
        expected = (expected[0], expected[1] + "\n", expected[2])
    got = nixlite_eval(argv)
    assert got[:2] == expected[:2], (got[2], expected[2])


LIB_STYLE = Path(__file__).parent / "data" / "lib-style.nix"


@pytest.mark.nix
@pytest.mark.parametrize("flags", [["--strict"], [], ["--strict", "--json"]])
def test_lib_style_program_matches_nix(flags, nixlite_eval, nix_eval):
    argv = [*flags, str(LIB_STYLE)]
    expected = nix_eval(argv)
    if "--json" in flags:
        expected = (expected[0], expected[1] + "\n", expected[2])
    got = nixlite_eval(argv)
    assert got[0] == 0, got[2]
    assert got[:2] == expected[:2]


@pytest.mark.nix
def test_stdin(tmp_path, nix_eval, nixlite_eval, monkeypatch):
    import io
    import sys

    text = "let x = 3; in [ x (x * x) ]"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    got = nixlite_eval(["--strict", "-"])
    assert got[:2] == nix_eval(["--strict", "-"], stdin=text)[:2]


@pytest.mark.nix
def test_seed_yields_docker_tools_functions(nixlite_eval, nix_eval, seed):
    expr = f"builtins.mapAttrs (n: v: builtins.typeOf v) (import {STUBS} {seed})"
    got = nixlite_eval(["--strict", "-E", expr])
    assert got[0] == 0, got[2]
    assert got[1] == nix_eval(["--strict", "-E", expr])[1]
    for name in ("buildImage", "buildLayeredImage", "streamLayeredImage", "pullImage", "exportImage"):
        assert f'{name} = "lambda";' in got[1]


def test_seed_lazy_print(nixlite_eval, nix_eval, seed):
    argv = ["-E", f"import {STUBS} {seed}"]
    got = nixlite_eval(argv)
    assert got[0] == 0, got[2]
    assert got[1].startswith("{ binSh = <CODE>; buildImage = <CODE>;")
    assert got[1] == nix_eval(argv)[1]


def test_trace_goes_to_stderr(nixlite_eval):
    assert nixlite_eval(["-E", "builtins.trace \"hi\" 1"]) == (0, "1\n", "trace: hi\n")
    assert nixlite_eval(["-E", "builtins.traceVerbose \"hi\" 1"]) == (0, "1\n", "")
    assert nixlite_eval(["--trace-verbose", "-E", "builtins.traceVerbose \"hi\" 1"]) == (0, "1\n", "trace: hi\n")
    # today's printer for non-string trace messages
    assert nixlite_eval(["-E", "builtins.trace { a = 1; b = x: x; } 1"]) == (
        0, "1\n", "trace: { a = 1; b = «thunk»; }\n")


def test_imported_files_go_through_the_parse_cache(tmp_path, nixlite_eval, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(cache))
    _write(tmp_path, {"lib.nix": "{ answer = 42; }", "main.nix": "(import ./lib.nix).answer"})
    assert nixlite_eval(["main.nix"]) == (0, "42\n", "")
    entries = [p for p in cache.rglob("*") if p.is_file() and "tables" not in p.name]
    assert len(entries) == 2  # main.nix and lib.nix
    # a corrupt entry is ignored and rewritten, never an error
    for p in entries:
        p.write_bytes(b"not a pickle")
    assert nixlite_eval(["main.nix"]) == (0, "42\n", "")
