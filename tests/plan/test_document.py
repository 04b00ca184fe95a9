"""How a plan writes a derivation's strings: whatever the string, writing it (TOML or
JSON), reading it back and decoding it gives the very same string; JSON objects and
arrays written as toJSON writes them are decoded (nulls and JSON inside strings too)."""

from __future__ import annotations

import json
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from nixlite.plan.document import dump, encode_string, json_text, parse

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    | inner.map(json_text),  # JSON nested in a string, as baseJson
    max_leaves=12)


def _round_trip(s: str, fmt: str) -> str:
    """``s`` as the env of a one-node plan, written in ``fmt`` and read back."""
    document = {"version": 1, "store-dir": "/nix/store", "targets": [{"node": "n", "output": "out"}],
                "nodes": {"n": {"kind": "command", "name": "n", "system": "x", "builder": "/bin/sh",
                                "outputs": {"out": {}}, "env": {"v": encode_string(s)}}}}
    return parse(dump(document, fmt), "p", ".").nodes["n"].env["v"]


@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_any_string_round_trips(s):
    assert _round_trip(s, "toml") == s
    assert _round_trip(s, "json") == s


@given(_json_values.filter(lambda v: isinstance(v, (dict, list))))
def test_json_strings_round_trip_decoded(value):
    s = json_text(value)
    assert isinstance(encode_string(s), dict)
    assert _round_trip(s, "toml") == s
    assert _round_trip(s, "json") == s


def test_what_a_reviewer_reads():
    s = json_text({"a": None, "l": [1, None], "base": json_text({"Cmd": ["/bin/sh"]}),
                   "script": "echo \"hi\"\n"})
    table = encode_string(s)
    assert table == {"json": {"l": [1, {}], "base": {"Cmd": ["/bin/sh"]}, "script": "echo \"hi\"\n"},
                     "nulls": ["/a", "/l/1"], "json-strings": ["/base"]}
    text = dump({"v": table}, "toml").decode()
    assert "script = '''\necho \"hi\"\n'''" in text  # a literal string: nothing escaped
    assert tomllib.loads(text)["v"] == table


def test_strings_left_as_they_are():
    # not toJSON's layout, a JSON scalar, not JSON at all: kept as the string
    for s in ['{"b": 1}', '{"b":1,"a":2}', "1", "[1,2", "'''", "a\r\nb"]:
        assert encode_string(s) == s
        assert _round_trip(s, "toml") == s
    assert encode_string("\udcff") == {"base64": "/w=="}
    assert json.loads(dump({"v": encode_string('[1,null]')}, "json"))["v"] == \
        {"json": [1, {}], "nulls": ["/1"]}
