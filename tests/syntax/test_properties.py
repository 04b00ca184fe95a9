"""Property tests: printing is a fixed point of parse-then-print, and no input, however
broken, makes the parser fail with anything but a NixliteError."""

from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nixlite.errors import NixliteError
from nixlite.resolve import resolve
from nixlite.syntax.parser import parse
from nixlite.syntax.printer import show

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

names = st.sampled_from(["a", "b", "x", "y'", "foo-bar", "_z", "or", "__sub", "true"])
attr_names = st.one_of(names, st.sampled_from(['"a b"', '"if"', '""', '"ü"', '"x.y"']))
strings = st.text(alphabet=st.sampled_from(list('ab $\\"{}\n\t\'ü')), max_size=8)


def _string_literal(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


atoms = st.one_of(
    names.filter(lambda n: n != "or"),
    st.integers(min_value=0, max_value=2**63 - 1).map(str),
    st.sampled_from(["1.5", "0.25", ".5", "3.", "123.25", "0.0001"]),
    strings.map(_string_literal),
    st.sampled_from(["/a/b", "/nix/store", "<nixpkgs>", "<p/q>", "http://e.org/x?y=1",
                     "__curPos", "[ ]", "{ }", "''\n  ind\n    ented\n''", "''a''${x}''"]),
)


def _compound(inner):
    paren = inner.map(lambda e: f"({e})")
    attr_path = st.lists(st.one_of(attr_names, inner.map(lambda e: "${" + e + "}")),
                         min_size=1, max_size=3).map(".".join)
    binding = st.tuples(attr_path, inner).map(lambda t: f"{t[0]} = {t[1]};")
    inherit = st.lists(names.filter(lambda n: n != "or"), min_size=1, max_size=3).map(
        lambda ns: "inherit " + " ".join(ns) + ";")
    inherit_from = st.tuples(paren, st.lists(names, min_size=1, max_size=2)).map(
        lambda t: f"inherit {t[0]} " + " ".join(t[1]) + ";")
    bindings = st.lists(st.one_of(binding, inherit, inherit_from), max_size=4).map(" ".join)
    ops = st.sampled_from(["+", "-", "*", "/", "++", "//", "==", "!=", "<", ">", "<=", ">=",
                           "&&", "||", "->", "|>", "<|"])
    return st.one_of(
        st.tuples(paren, ops, paren).map(" ".join),
        st.tuples(paren, ops, paren, ops, paren).map(lambda t: "{} {} !{} {} {}".format(*t)),
        paren.map(lambda e: f"!{e}"),
        paren.map(lambda e: f"-{e}"),
        st.lists(paren, min_size=2, max_size=4).map(" ".join),
        st.lists(paren, max_size=4).map(lambda es: "[ " + " ".join(es) + " ]"),
        bindings.map(lambda b: "{ " + b + " }"),
        bindings.map(lambda b: "rec { " + b + " }"),
        st.tuples(bindings, inner).map(lambda t: f"let {t[0]} in {t[1]}"),
        st.tuples(paren, attr_path).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(paren, attr_path, paren).map(lambda t: f"{t[0]}.{t[1]} or {t[2]}"),
        st.tuples(paren, attr_path).map(lambda t: f"{t[0]} ? {t[1]}"),
        st.tuples(names.filter(lambda n: n != "or"), inner).map(lambda t: f"{t[0]}: {t[1]}"),
        st.tuples(st.lists(st.tuples(names.filter(lambda n: n != "or"),
                                     st.one_of(st.none(), paren)),
                           max_size=3, unique_by=lambda f: f[0]),
                  st.booleans(), inner).map(_formals_lambda),
        st.tuples(paren, inner).map(lambda t: f"with {t[0]}; {t[1]}"),
        st.tuples(paren, paren, paren).map(lambda t: f"if {t[0]} then {t[1]} else {t[2]}"),
        st.tuples(paren, inner).map(lambda t: f'"a${{{t[0]}}}b${{{t[1]}}}"'),
        paren.map(lambda e: f"/p/q${{{e}}}.nix"),
    )


def _formals_lambda(t):
    formals, ellipsis, body = t
    parts = [n if d is None else f"{n} ? {d}" for n, d in formals]
    if ellipsis:
        parts.append("...")
    return "{ " + ", ".join(parts) + " }: " + body


expressions = st.recursive(atoms, _compound, max_leaves=25)


@SETTINGS
@given(expressions)
def test_print_parse_print_is_a_fixed_point(text):
    try:
        tree = parse(text, "«string»", "/base")
    except NixliteError:
        assume(False)  # e.g. a duplicate attribute: not an expression
    printed = show(tree)
    again = show(parse(printed, "«string»", "/base"))
    if "${" in text or "''" in text:
        # Nix prints an interpolation of three or more parts as one flat concatenation
        # `(a + b + c)`, which reads back as `((a + b) + c)`: stable from there on
        assert show(parse(again, "«string»", "/base")) == again
    else:
        assert again == printed


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_nixlite_errors(data):
    text = data.decode("utf-8", "surrogateescape")
    try:
        show(resolve(parse(text, "«string»", "/base")))
    except NixliteError as exc:
        assert exc.render().startswith("error: ")


TOKENS = ["{", "}", "[", "]", "(", ")", ";", ":", ",", "@", ".", "=", "?", "!", "+", "-", "*",
          "/", "<", ">", "==", "!=", "<=", ">=", "&&", "||", "->", "//", "++", "|>", "<|",
          "...", "${", '"', "''", "if", "then", "else", "assert", "with", "let", "in",
          "rec", "inherit", "or", "x", "1", "2.5", "./p", "~/h", "<n>", "u:v", "#c\n", "/**/",
          "$", "\\", "'", "`", "a/${", "\n", "\r\n"]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.booleans())
def test_token_soup_only_raises_nixlite_errors(tokens, spaced):
    text = (" " if spaced else "").join(tokens)
    try:
        show(resolve(parse(text, "«string»", "/base")))
    except NixliteError as exc:
        assert exc.render().startswith("error: ")


CORPUS = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "parse" / "ok").glob("*.nix"))
SAMPLES = [p.read_bytes().decode("utf-8", "surrogateescape") for p in CORPUS]


def _mutate_and_parse(source: str, data) -> None:
    start = data.draw(st.integers(0, len(source)))
    end = data.draw(st.integers(start, min(len(source), start + 30)))
    insert = data.draw(st.sampled_from(TOKENS + [""]))
    text = source[:start] + insert + source[end:]
    try:
        show(resolve(parse(text, "«string»", "/base")))
    except NixliteError as exc:
        assert exc.render().startswith("error: ")


@SETTINGS
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_sources_only_raise_nixlite_errors(source, data):
    _mutate_and_parse(source, data)


def test_mutated_seed_only_raises_nixlite_errors(seed):
    source = seed.read_text()

    @SETTINGS
    @given(st.data())
    def check(data):
        _mutate_and_parse(source, data)

    check()
