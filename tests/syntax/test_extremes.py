"""Inputs at the edges: NUL bytes, bytes that are not UTF-8, a 10 MB string, deep
nesting, and long runs of path characters (`a.b.c.…`, `-----1`), which the lexer
must not rescan at every token.  Each gives a result or a clean Nix-style error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nixlite.cli import main
from nixlite.errors import NixliteError
from nixlite.syntax import lexer
from nixlite.syntax.parser import parse
from nixlite.syntax.printer import show


def _parse_cli(tmp_path, monkeypatch, data: bytes, capsysbinary):
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "in.nix"
    path.write_bytes(data)
    status = main(["parse", str(path)])
    out, err = capsysbinary.readouterr()
    return status, out, err.decode("utf-8", "surrogateescape").replace(str(path), "F")


def test_nul_byte_in_code_ends_the_input(tmp_path, monkeypatch, capsysbinary):
    # today's lexer returns the byte as token 0, which bison reads as end of file
    status, out, err = _parse_cli(tmp_path, monkeypatch, b"1 + \0 2", capsysbinary)
    assert (status, out) == (1, b"")
    assert err.startswith("error: syntax error, unexpected end of file\n\n       at F:1:6:\n\n")
    status, out, err = _parse_cli(tmp_path, monkeypatch, b"[ 1 ] \0 ]", capsysbinary)
    assert (status, out, err) == (0, b"[ (1) ]\n", "")


def test_bytes_that_are_not_utf8_pass_through(tmp_path, monkeypatch, capsysbinary):
    status, out, err = _parse_cli(tmp_path, monkeypatch, b'"a\xff\xfeb" + "c"', capsysbinary)
    assert (status, out, err) == (0, b'("a\xff\xfeb" + "c")\n', "")
    status, out, err = _parse_cli(tmp_path, monkeypatch, b"1 + \xff", capsysbinary)
    assert (status, out) == (1, b"")
    assert err.startswith("error: syntax error, unexpected invalid token\n\n       at F:1:5:\n\n")


def test_ten_megabyte_string(tmp_path, monkeypatch, capsysbinary):
    body = b"ab\\n" * 2_500_000
    status, out, err = _parse_cli(tmp_path, monkeypatch, b'"' + body + b'"', capsysbinary)
    assert (status, err) == (0, "")
    assert out == b'"' + body + b'"\n'


def test_deep_parentheses(tmp_path, monkeypatch, capsysbinary):
    status, out, err = _parse_cli(
        tmp_path, monkeypatch, b"(" * 5000 + b"1" + b")" * 5000, capsysbinary)
    assert (status, out, err) == (0, b"1\n", "")
    status, out, err = _parse_cli(tmp_path, monkeypatch, b"(" * 5000, capsysbinary)
    assert (status, out) == (1, b"")
    assert err.startswith("error: syntax error, unexpected end of file\n\n       at F:1:5001:\n\n")


def test_long_select_chain_and_dash_run():
    n = 100_000
    tree = parse("{ b = 1; }" + ".b" * n)
    assert show(tree) == "({ b = 1; })" + ".b" * n
    assert show(parse("-" * 2000 + "1")) == "(__sub 0 " * 2000 + "1" + ")" * 2000


# Strings rich in path characters, slashes, colons and interpolation.
_PATHY = st.text(alphabet="ab1._-+/:'~<>${}\" \n#*", max_size=40)


@settings(max_examples=400, deadline=None)
@given(_PATHY)
def test_skipping_path_scans_changes_no_token(text):
    """The lexer leaves the URI and path alternatives out inside runs it has proven
    path-free; the tokens must be those of the full regex everywhere."""

    def tokens():
        try:
            return lexer.tokenize(text)
        except NixliteError as exc:
            return (exc.message, exc.off)

    fast = tokens()
    no_path = lexer._DEFAULT_NO_PATH
    lexer._DEFAULT_NO_PATH = lexer._DEFAULT
    try:
        full = tokens()
    finally:
        lexer._DEFAULT_NO_PATH = no_path
    assert fast == full


def test_deep_nesting_parses_as_todays_nix_does(tmp_path, monkeypatch, capsysbinary):
    """Today's Nix parses with bison's lalr1.cc, whose stack grows as needed, so deep
    lists, sets, lets and `++` chains parse (Nix 2.8's GLR parser stopped at 10,000
    stack entries with `memory exhausted`).  Every step here is linear in the depth."""
    n = 10_000
    cases = {
        "[" * n + "1" + "]" * n: "[ (" * (n - 1) + "[ (1) ]" + ") ]" * (n - 1),
        "{a=" * n + "1" + ";}" * n: "{ a = " * n + "1" + "; }" * n,
        "let a = " * n + "1" + "; in a" * n: "(let a = " * n + "1" + "; in a)" * n,
        " ++ ".join(["[1]"] * n): "([ (1) ] ++ " * (n - 1) + "[ (1) ]" + ")" * (n - 1),
    }
    for text, printed in cases.items():
        status, out, err = _parse_cli(tmp_path, monkeypatch, text.encode(), capsysbinary)
        assert (status, err) == (0, "")
        assert out.decode() == printed + "\n"


def test_long_integer_literals_are_refused_as_nix_refuses_them():
    # Python converts at most 4,300 digits: refused before it sees them
    digits = "1" * 5000
    try:
        parse("[ " + digits + " ]")
    except NixliteError as exc:
        assert exc.message == f"invalid integer '{digits}'"
        assert (exc.pos.line, exc.pos.col) == (1, 3)
    else:
        raise AssertionError("5,000 digits parsed")
    assert show(parse("0" * 5000 + "9223372036854775807")) == "9223372036854775807"
    for too_big in ("9223372036854775808", "0" * 30 + "99999999999999999999"):
        try:
            parse(too_big)
        except NixliteError as exc:
            assert exc.message == f"invalid integer '{too_big}'"
        else:
            raise AssertionError(f"{too_big} parsed")
