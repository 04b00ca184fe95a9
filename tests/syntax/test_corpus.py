"""Our own corpus: every construct with the text `nixlite parse` must print, and a
failure corpus with the exact error (message, position, source excerpt).

Expected files use @DIR@ for the fixture directory and @HOME@ for $HOME, since paths are
made absolute at parse time as Nix makes them."""

from pathlib import Path

import pytest

from nixlite.cli import main

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "parse"
OK = sorted((CORPUS / "ok").glob("*.nix"))
FAIL = sorted((CORPUS / "fail").glob("*.nix"))
HOME = "/home/nixlite-test"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", HOME)
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path / "cache"))


def _expected(path: Path) -> str:
    return path.read_text().replace("@DIR@", str(path.parent)).replace("@HOME@", HOME)


@pytest.mark.parametrize("nix", OK, ids=[p.stem for p in OK])
def test_ok_corpus(nix, capsysbinary):
    assert main(["parse", str(nix)]) == 0
    out, err = capsysbinary.readouterr()
    assert err == b""
    expected = nix.with_suffix(".expected").read_bytes()  # bytes: not always UTF-8
    expected = expected.replace(b"@DIR@", str(nix.parent).encode()).replace(
        b"@HOME@", HOME.encode())
    assert out == expected


@pytest.mark.parametrize("nix", FAIL, ids=[p.stem for p in FAIL])
def test_fail_corpus(nix, capsys):
    assert main(["parse", str(nix)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == _expected(nix.with_suffix(".err"))


def test_corpora_are_not_empty():
    assert len(OK) >= 40 and len(FAIL) >= 25


def test_parse_expression_and_stdin(capsys, monkeypatch):
    import io
    import sys

    assert main(["parse", "-E", "x: x.a or 1"]) == 0
    assert capsys.readouterr().out == "(x: (x).a or (1))\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"1 +")))
    assert main(["parse", "-"]) == 1
    assert capsys.readouterr().err == (
        "error: syntax error, unexpected end of file\n\n"
        "       at «stdin»:1:4:\n\n"
        "            1| 1 +\n"
        "             |    ^\n"
    )


def test_missing_file_is_an_error(capsys, tmp_path):
    assert main(["parse", str(tmp_path / "nope.nix")]) == 1
    assert capsys.readouterr().err == (
        f"error: getting status of '{tmp_path / 'nope.nix'}': No such file or directory\n")
    assert main(["parse", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"error: opening file '{tmp_path / 'default.nix'}': No such file or directory\n")


def test_symlinked_file_resolves_paths_next_to_its_target(capsys, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "default.nix").write_text("./data")
    (tmp_path / "link.nix").symlink_to(tmp_path / "real" / "default.nix")
    assert main(["parse", str(tmp_path / "link.nix")]) == 0
    assert capsys.readouterr().out == f"{tmp_path}/real/data\n"
    assert main(["parse", str(tmp_path / "real")]) == 0
    assert capsys.readouterr().out == f"{tmp_path}/real/data\n"


def test_inputs_as_nix_instantiate_takes_them(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default.nix").write_text("1 + 2")
    (tmp_path / "b.nix").write_text("x: x")
    assert main(["parse"]) == 0  # no file: ./default.nix
    assert main(["parse", "default.nix", "b.nix"]) == 0
    assert main(["parse", "-E", "a: a", "[ 1 ]"]) == 0
    assert capsys.readouterr().out == "(1 + 2)\n(1 + 2)\n(x: x)\n(a: a)\n[ (1) ]\n"


@pytest.mark.parametrize("name", ["bad_token_after", "dup_attr", "undefined_var",
                                  "unterminated_string"])
def test_parse_and_eval_print_a_parse_error_alike(name, capsys):
    """Both commands lay out errors as Nix 2.8 does (the eval goldens are 2.8's)."""
    nix = CORPUS / "fail" / f"{name}.nix"
    assert main(["parse", str(nix)]) == 1
    from_parse = capsys.readouterr().err
    assert main(["eval", str(nix)]) == 1
    assert capsys.readouterr().err == from_parse == _expected(nix.with_suffix(".err"))
    assert "\n\n       at " in from_parse
