"""The ``… while evaluating …`` frames the builtins attach to errors: today's
Nix wording (its libexpr error-trace tests), shown with ``--show-trace``."""

from __future__ import annotations

import pytest

from nixlite.errors import NixliteError
from nixlite.eval.state import EvalState

FRAMES = [
    ("builtins.replaceStrings 0 0 {}", "while evaluating the first argument passed to builtins.replaceStrings"),
    ("builtins.replaceStrings [ \"old\" ] [ \"new\" ] {}", "while evaluating the third argument passed to builtins.replaceStrings"),
    ("builtins.replaceStrings [ \"oo\" ] [ true ] \"foo\"", "while evaluating one of the replacement strings passed to builtins.replaceStrings"),
    ("builtins.attrNames []", "while evaluating the argument passed to builtins.attrNames"),
    ("builtins.getAttr \"foo\" {}", "in the attribute set under consideration"),
    ("builtins.listToAttrs [ {} ]", "in a {name=...; value=...;} pair"),
    ("builtins.listToAttrs [ { name = 1; } ]", "while evaluating the `name` attribute of an element of the list passed to builtins.listToAttrs"),
    ("builtins.catAttrs \"foo\" [ 1 ]", "while evaluating an element in the list passed as second argument to builtins.catAttrs"),
    ("builtins.zipAttrsWith (_: 1) [ 1 ]", "while evaluating a value of the list passed as second argument to builtins.zipAttrsWith"),
    ("builtins.elemAt \"foo\" (-1)", "while evaluating the first argument passed to 'builtins.elemAt'"),
    ("builtins.head 1", "while evaluating the first argument passed to 'builtins.head'"),
    ("builtins.filter (_: 5) [ \"foo\" ]", "while evaluating the return value of the filtering function passed to builtins.filter"),
    ("builtins.concatLists [ 1 ]", "while evaluating a value of the list passed to builtins.concatLists"),
    ("builtins.foldl' 1 \"foo\" true", "while evaluating the first argument passed to builtins.foldlStrict"),
    ("builtins.any (_: 1) [ \"foo\" ]", "while evaluating the return value of the function passed to builtins.any"),
    ("builtins.genList 1 \"foo\"", "while evaluating the second argument passed to builtins.genList"),
    ("builtins.sort (_: _: 1) [ \"foo\" \"bar\" ]", "while evaluating the return value of the sorting function passed to builtins.sort"),
    ("builtins.partition (_: 1) [ \"foo\" ]", "while evaluating the return value of the partition function passed to builtins.partition"),
    ("builtins.groupBy (x: x) [ 1 ]", "while evaluating the return value of the grouping function passed to builtins.groupBy"),
    ("builtins.concatMap (x: 1) [ \"foo\" ]", "while evaluating the return value of the function passed to builtins.concatMap"),
    ("builtins.bitAnd 1.1 2", "while evaluating the first argument passed to builtins.bitAnd"),
    ("builtins.ceil \"foo\"", "while evaluating the first argument passed to builtins.ceil"),
    ("builtins.substring {} \"foo\" true", "while evaluating the first argument (the start offset) passed to builtins.substring"),
    ("builtins.substring 0 3 {}", "while evaluating the third argument (the string) passed to builtins.substring"),
    ("builtins.stringLength {}", "while evaluating the argument passed to builtins.stringLength"),
    ("builtins.hashString 1 {}", "while evaluating the first argument passed to builtins.hashString"),
    ("builtins.match \"foo\" {}", "while evaluating the second argument passed to builtins.match"),
    ("builtins.split 1 {}", "while evaluating the first argument passed to builtins.split"),
    ("builtins.concatStringsSep \"foo\" [ 1 ]", "while evaluating one element of the list of strings to concat passed to builtins.concatStringsSep"),
    ("builtins.parseDrvName 1", "while evaluating the first argument passed to builtins.parseDrvName"),
    ("builtins.compareVersions \"abd\" {}", "while evaluating the second argument passed to builtins.compareVersions"),
    ("builtins.splitVersion 1", "while evaluating the first argument passed to builtins.splitVersion"),
    ("builtins.fromJSON \"[\"", "while decoding a JSON string"),
    ("builtins.toJSON { a = [ 1 (x: x) ]; }", "while evaluating list element at index 1"),
    ("builtins.toJSON { a = [ 1 (x: x) ]; }", "while evaluating attribute 'a'"),
]


@pytest.mark.parametrize("expr,frame", FRAMES)
def test_error_carries_todays_frame(expr, frame):
    state = EvalState(use_nix_path_env=False)
    with pytest.raises(NixliteError) as info:
        state.eval_string(expr)
    frames = [message for message, _ in getattr(info.value, "trace", [])]
    assert frame in frames
