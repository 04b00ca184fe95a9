"""Property tests with Nix 2.8 as the oracle: random POSIX regexes and subject
strings for ``match``/``split``, random version strings for ``compareVersions``,
``splitVersion`` and ``parseDrvName``.  Each example is a batch of cases put in
one expression, evaluated once by Nix and once by nixlite."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from nixlite.eval.builtins.versions import compare_versions, split_version

pytestmark = pytest.mark.nix

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, phases=[Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------ regexes

_atoms = st.sampled_from(["a", "b", "c", ".", "[ab]", "[^a]", "[a-c]", "[[:alpha:]]", "\\\\.", "()", "é"])


def _tree(children):
    return st.one_of(
        st.tuples(children, children).map("".join),
        st.tuples(children, children).map(lambda t: f"{t[0]}|{t[1]}"),
        children.map(lambda r: f"({r})"),
        st.tuples(children, st.sampled_from(["*", "+", "?", "{1,2}", "{2}", "{0,}", "**", "*?"]))
        .map(lambda t: f"({t[0]}){t[1]}" if len(t[0]) > 1 else t[0] + t[1]),
    )


regexes = st.recursive(_atoms, _tree, max_leaves=6).flatmap(
    lambda r: st.sampled_from([r, "^" + r, r + "$", "x*" + r]))
subjects = st.text(alphabet="abc.é", max_size=6)


def _compare(cases_expr: str, nl_eval, nix_one):
    expected = nix_one(cases_expr)
    assert expected.ok, expected.err
    assert nl_eval(cases_expr) == (True, expected.out)


@SETTINGS
@given(st.lists(st.tuples(regexes, subjects), min_size=30, max_size=30))
def test_regex_match_like_nix(nl_eval, nix_one, nix_str, cases):
    expr = "[ " + " ".join(
        f"(builtins.match {nix_str(r)} {nix_str(s)})" for r, s in cases) + " ]"
    _compare(expr, nl_eval, nix_one)


# Patterns with "|" exercise the re-implemented libstdc++ search (longest alternative).
@SETTINGS
@given(st.lists(st.tuples(regexes, subjects), min_size=30, max_size=30))
def test_regex_split_like_nix(nl_eval, nix_one, nix_str, cases):
    expr = "[ " + " ".join(
        f"(builtins.split {nix_str(r)} {nix_str(s)})" for r, s in cases) + " ]"
    _compare(expr, nl_eval, nix_one)


# ----------------------------------------------------------------- versions

versions = st.text(alphabet="0123456789.-aprezé", max_size=10) | st.lists(
    st.sampled_from(["1", "2", "10", "pre", "rc", "a", "", "99999999999", "0"]), max_size=4
).map(".".join)


@SETTINGS
@given(st.lists(st.tuples(versions, versions), min_size=40, max_size=40))
def test_versions_like_nix(nl_eval, nix_one, nix_str, pairs):
    expr = "[ " + " ".join(
        f"(builtins.compareVersions {nix_str(a)} {nix_str(b)}) (builtins.splitVersion {nix_str(a)}) "
        f"(builtins.parseDrvName {nix_str(a + '-' + b)})"
        for a, b in pairs) + " ]"
    _compare(expr, nl_eval, nix_one)


@given(versions, versions)
def test_compare_versions_is_antisymmetric(a, b):
    assert compare_versions(a, b) == -compare_versions(b, a)
    assert compare_versions(a, a) == 0


@given(versions)
def test_split_version_drops_only_separators(v):
    parts = split_version(v)
    assert all(parts)
    assert "".join(parts) == v.replace(".", "").replace("-", "")


# ------------------------------------------------------- toJSON / toXML values

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\b\f\x00"), max_size=6)


def _nix_values(draw_text):
    leaf = st.one_of(
        st.integers(-(2**63) + 1, 2**63 - 1).map(lambda i: f"({i})"),
        draw_text,
        st.sampled_from(["true", "false", "null", "(x: x)", "({ a, b ? 1 }: a)"]),
    )
    return st.recursive(
        leaf,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4).map(lambda xs: "[ " + " ".join(xs) + " ]"),
            st.dictionaries(_text.filter(bool), kids, max_size=4).map(
                lambda d: "{ " + "".join(f"{_q(k)} = {v}; " for k, v in d.items()) + "}"),
        ),
        max_leaves=12,
    )


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${").replace(
        "\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


values = _nix_values(_text.map(_q))


@SETTINGS
@given(st.lists(values, min_size=15, max_size=15))
def test_to_xml_like_nix(nl_eval, nix_one, values):
    expr = "[ " + " ".join(f"(builtins.toXML {v})" for v in values) + " ]"
    _compare(expr, nl_eval, nix_one)


@SETTINGS
@given(st.lists(values.filter(lambda v: "x: x" not in v and ": a" not in v), min_size=15, max_size=15))
def test_to_json_like_nix(nl_eval, nix_one, values):
    # (no floats: their printing is one of the documented differences from 2.8)
    expr = "[ " + " ".join(f"(builtins.toJSON {v})" for v in values) + " ]"
    _compare(expr, nl_eval, nix_one)
