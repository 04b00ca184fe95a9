"""The resolver's annotation contract (see nixlite.resolve's docstring)."""

import pytest

from nixlite.errors import NixliteError
from nixlite.resolve import DYNAMIC, GLOBAL, WITH_SLOTS, resolve
from nixlite.resolve.globals import BUILTINS_ATTR_NAMES, GLOBAL_INDEX, GLOBAL_NAMES
from nixlite.syntax import ast as A
from nixlite.syntax.parser import parse


def r(text):
    return resolve(parse(text, "«string»"))


def vars_named(tree, name):
    found = []
    stack = [tree]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or not hasattr(node, "__slots__"):
            continue
        seen.add(id(node))
        if type(node) is A.Var and node.name == name:
            found.append(node)
        for cls in type(node).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if slot in ("src", "off"):
                    continue
                value = getattr(node, slot, None)
                if isinstance(value, dict):
                    stack.extend(value.values())
                elif isinstance(value, (list, tuple)):
                    stack.extend(v for v in value if hasattr(v, "__slots__"))
                elif hasattr(value, "__slots__"):
                    stack.append(value)
    return found


def test_lambda_slots_and_levels():
    tree = r("x: y: x")
    assert tree.slots == ("x",) and tree.body.slots == ("y",)
    v = tree.body.body
    assert (v.level, v.index, v.withs) == (1, 0, None)


def test_formals_see_each_other_and_the_at_name():
    tree = r("args @ { a ? b, b ? args, ... }: a")
    assert tree.slots == ("args", "a", "b")
    a_default = tree.formals[0].default
    b_default = tree.formals[1].default
    assert (a_default.level, a_default.index) == (0, 2)
    assert (b_default.level, b_default.index) == (0, 0)


def test_let_is_recursive_and_inherit_looks_outside():
    tree = r("x: let x = 1; y = x; inherit (z) w; z = { w = 2; }; in y")
    let = tree.body
    assert let.slots == ("x", "y", "w", "z")
    y = let.attrs["y"].value
    assert (y.level, y.index) == (0, 0)  # the let's own x
    [z] = let.inherit_from
    assert (z.level, z.index) == (0, 3)  # inherit (e) sources are inside the let
    body = let.body
    assert (body.level, body.index) == (0, 1)
    inner = r("x: let inherit x; in x").body
    inherited = inner.attrs["x"].value
    assert (inherited.level, inherited.index) == (0, 0)  # the lambda's x, seen from outside
    assert inner.attrs["x"].kind == A.INHERITED


def test_rec_set_opens_a_frame_plain_set_does_not():
    tree = r("x: [ rec { a = x; b = a; } { a = x; } ]")
    rec_set, plain = tree.body.elems
    assert rec_set.slots == ("a", "b") and plain.slots is None
    assert (rec_set.attrs["a"].value.level, rec_set.attrs["b"].value.level) == (1, 0)
    assert plain.attrs["a"].value.level == 0


def test_with_is_dynamic_and_never_shadows():
    tree = r("x: with { }; with { }; [ x y true ]")
    outer_with = tree.body
    inner_with = outer_with.body
    assert outer_with.slots == WITH_SLOTS == inner_with.slots
    x, y, true = inner_with.body.elems
    assert (x.level, x.index) == (2, 0)  # lexical binding outside the withs wins
    assert (y.level, y.index, y.withs) == (DYNAMIC, -1, (0, 1))  # innermost with first
    assert (true.level, true.index) == (GLOBAL, GLOBAL_INDEX["true"])


def test_with_attrs_expression_is_outside_the_with():
    tree = r("with { }; with a; b")
    a = tree.body.attrs
    assert (a.level, a.withs) == (DYNAMIC, (0,))


def test_operators_resolve_their_desugared_variable():
    tree = r("let __sub = a: b: 0; in [ (1 - 2) (-1) (1 * 2) ]")
    minus, neg, times = tree.body.elems
    assert (minus.fn.level, minus.fn.index) == (0, 0)  # shadowed, as in Nix
    assert (neg.fn.level, neg.fn.index) == (0, 0)
    assert (times.fn.level, times.fn.name) == (GLOBAL, "__mul")


def test_search_path_uses_find_file_and_nix_path():
    tree = r("<nixpkgs>")
    assert tree.fn.name == "__findFile" and tree.fn.level == GLOBAL
    assert tree.args[0].name == "__nixPath" and tree.args[0].level == GLOBAL


@pytest.mark.parametrize("text, name, col", [
    ("x: y", "y", 4),
    ("let a = b; in a", "b", 9),
    ("{ a = 1; }.${x}", "x", 14),
    ("rec { inherit a; }", "a", 15),
    ("x: (y z)", "y", 5),
    ("{ a ? b }: a", "b", 7),
])
def test_undefined_variable(text, name, col):
    with pytest.raises(NixliteError) as info:
        r(text)
    assert info.value.message == f"undefined variable '{name}'"
    assert (info.value.pos.line, info.value.pos.col) == (1, col)


def test_first_undefined_variable_in_nix_order():
    with pytest.raises(NixliteError) as info:
        r("a > b")  # __lessThan b a: b is bound first
    assert info.value.message == "undefined variable 'b'"


def test_too_deep_is_nix_stack_overflow_error():
    with pytest.raises(NixliteError) as info:
        r("[ " * 300_000 + "1" + " ]" * 300_000)
    assert info.value.render() == "error: stack overflow (possible infinite recursion)"


def test_deep_nesting_does_not_crash():
    depth = 30000
    tree = r("x: " + "[ " * depth + "x" + " ]" * depth)
    node = tree.body
    for _ in range(depth):
        node = node.elems[0]
    assert (node.level, node.index) == (0, 0)


def test_globals_cover_builtins_with_prefixes():
    assert GLOBAL_NAMES[:1] == ("abort",)
    for bare in ("true", "false", "null", "builtins", "import", "map", "throw", "toString",
                 "derivation", "abort", "removeAttrs", "baseNameOf", "dirOf", "isNull",
                 "placeholder", "scopedImport", "fetchTarball", "break"):
        assert bare in GLOBAL_INDEX
    for prefixed in ("__sub", "__lessThan", "__findFile", "__nixPath", "__attrNames",
                     "__storeDir", "__currentSystem", "__convertHash", "__warn"):
        assert prefixed in GLOBAL_INDEX
    assert "__map" not in GLOBAL_INDEX and "attrNames" not in GLOBAL_INDEX
    assert len(set(GLOBAL_NAMES)) == len(GLOBAL_NAMES)
    assert "builtins" in BUILTINS_ATTR_NAMES and "sub" in BUILTINS_ATTR_NAMES


@pytest.mark.nix
def test_globals_match_nix_28_plus_documented_additions():
    import shutil
    import subprocess

    if shutil.which("nix-instantiate") is None:
        pytest.skip("needs nix-instantiate")
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "-E", "builtins.attrNames builtins"],
        capture_output=True, text=True, check=True).stdout
    names_28 = set(out.strip("[] \n").replace('"', "").split())
    added_since_28 = {"break", "addDrvOutputDependencies", "convertHash", "readFileType",
                      "traceVerbose", "warn"}
    assert set(BUILTINS_ATTR_NAMES) == names_28 | added_since_28
