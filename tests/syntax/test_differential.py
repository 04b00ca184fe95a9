"""Differential test against the reference implementation, `nix-instantiate --parse`
(Nix 2.8, installed by the test command), for every .nix file under fixtures/ and the
seed (../shared/seed/dockertools-default.nix beside the repository).

nixlite follows today's Nix where 2.8 differs.  The differences, and how the comparison
absorbs them:

* 2.8 orders attributes and formals by symbol creation, today's Nix lexicographically;
  2.8 prints ``inherit (e) a`` as ``a = (e).a`` and escapes every ``$`` as ``\\$``.  Both
  outputs are therefore parsed again by nixlite and printed in one normal form (with
  inherit-from expanded as 2.8 does) before comparing.
* 2.8 prints attribute names verbatim (``{ a b = 1; }`` for ``{ "a b" = 1; }``), which does
  not parse again: files with such names are compared on accept/reject only.
* 2.8 has no pipe operators (today's Nix has ``|>``/``<|``): 2.8 rejects those files.
* 2.8 stops reading at a NUL byte; today's Nix ends the input at a NUL in code too (its
  lexer returns the byte as token 0, bison's end of file) but rejects NUL in strings.
* Syntax errors: 2.8 names tokens by their bison names (``ID``, ``ELSE``), today's Nix by
  their aliases (``identifier``, ``'else'``), and lists expected tokens in another order;
  2.8 puts end-of-file errors at the last token, today's Nix at the end of the input;
  2.8 positions ``inherit`` names at the end of the ``inherit`` keyword; and 2.8's
  grammar (``binds``, ``formals``) differs from today's, which changes the expected-token
  lists; a lone ``\\`` or ``$`` at the end of an unterminated string is a ``STR`` token for
  2.8 and end of file for today's Nix.  Syntax errors are compared on the unexpected
  token, after mapping names.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nixlite.errors import NixliteError
from nixlite.resolve import resolve
from nixlite.syntax import ast as A
from nixlite.syntax.cache import read_source
from nixlite.syntax.parser import TOKEN_NAMES, parse
from nixlite.syntax.printer import show

REPO = Path(__file__).resolve().parents[2]
FILES = sorted((REPO / "fixtures").rglob("*.nix"))

# 2.8 prints these files' attribute names unquoted, so its output does not parse again
# (any other such file must at least contain a quoted attribute name in our output).
UNQUOTED_NAMES_IN_28 = {"attrs_strings.nix", "unicode.nix"}
# Today's Nix only: pipe operators.
REJECTED_BY_28 = {"pipes.nix"}
# 2.8 stops reading at a NUL byte; today's Nix reads a string on and rejects it.
ACCEPTED_BY_28_ONLY = {"nul_in_string.nix"}
# The message itself embeds a 2.8-specific position (inherit names, see above).
MESSAGE_POSITION_DIFFERS = {"dup_inherit.nix"}
# 2.8 calls a lone `\` at the end of an unterminated string a STR token.
MESSAGE_DIFFERS = {"string_backslash_eof.nix"}

pytestmark = [
    pytest.mark.nix,
    pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="needs nix-instantiate"),
]


def _nix_parse(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nix-instantiate", "--parse", str(path)],
        capture_output=True, text=True, errors="surrogateescape", cwd=REPO, timeout=120,
    )


def _as_28_prints(e: A.Expr) -> A.Expr:
    """Expand ``inherit (e) a`` into ``a = (e).a`` everywhere, as 2.8 prints it."""
    stack = [e]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or node is None or isinstance(node, (str, int, float, bool)):
            continue
        seen.add(id(node))
        if isinstance(node, (A.Attrs, A.Let)):
            for d in node.attrs.values():
                if d.kind == A.INHERITED_FROM:
                    d.kind = A.PLAIN
                    d.value = A.Select(d.src, d.off, node.inherit_from[d.value.expr.index],
                                       [d.name], None)
        for cls in type(node).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name in ("src", "off"):
                    continue
                value = getattr(node, name, None)
                if isinstance(value, dict):
                    stack.extend(value.values())
                elif isinstance(value, (list, tuple)):
                    stack.extend(value)
                elif isinstance(value, (A.Expr, A.AttrDef, A.DynAttr, A.Formal)):
                    stack.append(value)
    return e


def _unescape_dollars(text: str) -> str:
    return text.replace("\\$", "$")


def _normal_form(text: str, path: Path) -> str:
    # Both Nix and nixlite print `./a/${b}` as `(/abs/a/ + b)`, which does not lex again
    # (a path may not end in a slash); give such paths an empty interpolation first.
    text = re.sub(r"(?<=/) \+ ", '${""} + ', text)
    return show(_as_28_prints(parse(text, str(path))))


_NAMES_28 = dict(TOKEN_NAMES)
_NAMES_28.update({"IN": TOKEN_NAMES["IN"], "INT": TOKEN_NAMES["INT"]})


def _normal_message(message: str) -> str:
    """Syntax errors compare on the unexpected token only: the expected-token lists
    follow the grammar, which today's Nix restructured since 2.8 (``binds1``,
    ``formal_set``), so they are pinned by our own failure corpus instead."""
    m = re.match(r"(syntax error, unexpected .*?)(?:, expecting (.*))?$", message)
    if not m:
        return message
    return re.sub(r"\b[A-Z_]+\b", lambda w: _NAMES_28.get(w.group(), w.group()), m.group(1))


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(p.parents[1])) for p in FILES])
def test_same_as_nix_instantiate(path, monkeypatch):
    monkeypatch.chdir(REPO)
    _check_same_as_nix_instantiate(path)


def test_seed_same_as_nix_instantiate(seed, monkeypatch):
    monkeypatch.chdir(REPO)
    _check_same_as_nix_instantiate(seed)


def _check_same_as_nix_instantiate(path: Path) -> None:
    reference = _nix_parse(path)
    try:
        ours = show(resolve(parse(read_source(str(path)), str(path))))
        ours_error = None
    except NixliteError as exc:
        ours, ours_error = None, exc
    if path.name in REJECTED_BY_28:
        assert reference.returncode == 1 and ours_error is None
        return
    if path.name in ACCEPTED_BY_28_ONLY:
        assert reference.returncode == 0 and ours_error is not None
        return
    assert (ours_error is None) == (reference.returncode == 0), (ours_error, reference.stderr)
    if ours_error is not None:
        if path.name not in MESSAGE_POSITION_DIFFERS | MESSAGE_DIFFERS:
            first_line = reference.stderr.splitlines()[0].removeprefix("error: ")
            assert _normal_message(ours_error.message) == _normal_message(first_line)
        return
    if reference.stdout == ours + "\n":
        return
    # Nix's printed form does not always read back (`(f assert c; x)`, `(dirOf /)`), so
    # a normal form exists only for most outputs; for the rest the texts must be equal
    # (or differ by 2.8's verbatim attribute names, `{ a b = 1; }`, `{ then = 1; }`).
    try:
        ours_normal = _normal_form(ours, path)
    except NixliteError:
        # neither text reads back: only the order of attributes and formals and 2.8's
        # `\$` escapes may differ, which keeps the multiset of characters
        if "inherit (" not in ours:
            assert sorted(_unescape_dollars(ours)) == sorted(
                _unescape_dollars(reference.stdout.rstrip("\n")))
        return
    try:
        reference_normal = _normal_form(reference.stdout, path)
    except NixliteError:
        assert path.name in UNQUOTED_NAMES_IN_28 or re.search(r'[{;] "', ours)
        return
    assert reference_normal == ours_normal


def test_random_expressions_agree_with_nix_instantiate():
    """The property tests' expression generator, checked against the reference: same
    accept/reject and the same normal form (pipes are left out: 2.8 lacks them)."""
    from hypothesis import HealthCheck, given, settings

    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "nixlite_test_properties", Path(__file__).with_name("test_properties.py"))
    properties = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(properties)
    expressions = properties.expressions

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(expressions)
    def check(text):
        if "|>" in text or "<|" in text:
            return
        # a leading space keeps nix-instantiate from reading `-x` as a flag
        reference = subprocess.run(["nix-instantiate", "--parse", "-E", " " + text],
                                   capture_output=True, text=True, errors="surrogateescape",
                                   cwd=REPO, timeout=60)
        try:
            ours = show(parse(" " + text, "«string»", str(REPO)))
        except NixliteError as exc:
            assert reference.returncode == 1, exc.render()
            return
        if reference.returncode != 0:  # parse-time resolution: nixlite left it out here
            assert "undefined variable" in reference.stderr, reference.stderr
            return
        try:
            expected = _normal_form(reference.stdout, REPO / "x.nix")
        except NixliteError:
            return  # 2.8 printed a verbatim attribute name (see the module docstring)
        assert _normal_form(ours, REPO / "x.nix") == expected

    check()


def test_truncated_sources_fail_like_nix_instantiate():
    """Cut the corpus at random places (sometimes splicing in a stray token): both
    implementations must accept or reject alike and name the same unexpected token."""
    corpus = sorted((REPO / "fixtures" / "parse" / "ok").glob("*.nix"))
    sources = [read_source(str(p)) for p in corpus if p.name not in REJECTED_BY_28]
    # a NUL byte cannot go into argv (nor does 2.8 read past one)
    _check_truncations([s for s in sources if "\0" not in s], draws=60, seed=2024)


def test_truncated_seed_fails_like_nix_instantiate(seed):
    """The same with the seed, a real-world file, with draws of its own: the corpus
    cases above are the same whether or not the seed is there."""
    _check_truncations([read_source(str(seed))], draws=20, seed=2025)


def _check_truncations(sources: list[str], draws: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    stray = [")", "}", "]", ";", "=", "==", ".", "in", "then", ",", ":", "?", "@", "'"]
    for _ in range(draws):
        source = rng.choice(sources)
        cut = rng.randrange(1, len(source))
        text = source[:cut]
        if rng.random() < 0.3:
            text += rng.choice(stray) + source[cut:cut + 20]
        reference = subprocess.run(["nix-instantiate", "--parse", "-E", " " + text],
                                   capture_output=True, text=True, errors="surrogateescape",
                                   cwd=REPO, timeout=60)
        try:
            resolve(parse(" " + text, "«string»", str(REPO)))
            ours = None
        except NixliteError as exc:
            ours = exc.message
        theirs = None
        if reference.returncode:
            theirs = reference.stderr.splitlines()[0].removeprefix("error: ")
        assert (ours is None) == (theirs is None), (text, ours, theirs)
        if ours is not None and "unexpected STR" not in theirs:  # see the module docstring
            assert _normal_message(ours) == _normal_message(theirs), text


def test_indented_strings_strip_like_nix_instantiate():
    """Indentation stripping decides the bytes of every builder script: random indented
    strings (spaces, tabs, CR LF, escapes, interpolation) print as 2.8 prints them,
    once 2.8's extra `\\$` escapes are undone."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from([" ", "  ", "\n", "\t", "a", "b c", "${x}", "''$", "'''",
                              "''\\n", "''\\t", "''\\ ", "$", "'", "$$", "''\\", "\r\n",
                              "$x", "'x", "\\", '"', '${"q"}'])

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(pieces, max_size=14), st.sampled_from(["", "\n", "  \n", " "]))
    def check(parts, lead):
        text = "x: ''" + lead + "".join(parts) + "''"
        reference = subprocess.run(["nix-instantiate", "--parse", "-E", text],
                                   capture_output=True, text=True, errors="surrogateescape",
                                   cwd=REPO, timeout=60)
        try:
            # resolved, as nix-instantiate --parse resolves: in `x: ''''x''` the empty
            # string is applied to an unbound `x''`
            ours = show(resolve(parse(text, "«string»", str(REPO))))
        except NixliteError:
            ours = None
        if reference.returncode != 0:
            assert ours is None, reference.stderr
            return
        assert ours == re.sub(r"\\\$(?!\{)", "$", reference.stdout.rstrip("\n"))

    check()
