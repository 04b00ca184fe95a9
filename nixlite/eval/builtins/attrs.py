"""Attribute-set builtins.  Values are never forced unless Nix forces them;
results keep the definition positions of the attributes they reuse (as Nix
does for ``removeAttrs``, ``intersectAttrs`` and ``listToAttrs``, not for the
computed values of ``mapAttrs``/``zipAttrsWith``), so ``unsafeGetAttrPos``
agrees with Nix."""

from __future__ import annotations

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import (
    attrs_arg,
    function_arg,
    list_arg,
    sorted_names,
    str_noctx_arg,
)
from nixlite.eval.values import Attrs, EvalError, Thunk, call


def _missing(name: str, what: str) -> EvalError:
    return EvalError(f"attribute '{name}' missing").add_trace(what)


def _with_pos(out: Attrs, pos) -> Attrs:
    out.pos = pos
    return out


@builtin("attrNames", 1)
def attr_names(a):
    a = attrs_arg(a, "while evaluating the argument passed to builtins.attrNames")
    return sorted_names(a)


@builtin("attrValues", 1)
def attr_values(a):
    a = attrs_arg(a, "while evaluating the argument passed to builtins.attrValues")
    return [a[k] for k in sorted_names(a)]


@builtin("getAttr", 2)
def get_attr(name, a):
    name = str_noctx_arg(name, "while evaluating the first argument passed to builtins.getAttr")
    a = attrs_arg(a, "while evaluating the second argument passed to builtins.getAttr")
    try:
        return a[name]
    except KeyError:
        raise _missing(name, "in the attribute set under consideration") from None


@builtin("hasAttr", 2)
def has_attr(name, a):
    name = str_noctx_arg(name, "while evaluating the first argument passed to builtins.hasAttr")
    a = attrs_arg(a, "while evaluating the second argument passed to builtins.hasAttr")
    return name in a


@builtin("catAttrs", 2)
def cat_attrs(name, xs):
    name = str_noctx_arg(name, "while evaluating the first argument passed to builtins.catAttrs")
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.catAttrs")
    seen = _CAT_INDEXES.get(id(xs))
    if seen is not None and seen[0] is xs:
        index = seen[1]
        if index is not None:
            return index.get(name, _NOTHING)
        seen[2] += 1
        if seen[2] * len(xs) >= seen[3]:  # the lookups so far cost as much as an index
            seen[1] = index = _names_index(xs)
            return index.get(name, _NOTHING)
    what = "while evaluating an element in the list passed as second argument to builtins.catAttrs"
    out = []
    for x in xs:
        if type(x) is not Attrs:
            x = attrs_arg(x, what)
        if name in x:
            out.append(x[name])
    if seen is None and len(xs) > _CAT_INDEX_MIN:
        if len(_CAT_INDEXES) >= _CAT_INDEX_MAX:
            _CAT_INDEXES.clear()
        # every element is forced now: an index can only give the same answers
        _CAT_INDEXES[id(xs)] = [xs, None, 1, sum(map(len, map(_forced, xs)))]
    return out


# ``zipAttrsWith`` (lib's, over catAttrs) asks one list for every name its sets
# have: quadratic in the number of sets, as the module system uses it.  A list
# asked often enough gets an index name → values, built once from its (already
# forced, immutable) sets.  Holding the list keeps its id from being reused.
_CAT_INDEXES: dict[int, list] = {}
_CAT_INDEX_MIN = 16
_CAT_INDEX_MAX = 256
_NOTHING: list = []


def _forced(v):
    return v.val if type(v) is Thunk else v


def _names_index(xs: list) -> dict[str, list]:
    """name → the values the sets of ``xs`` (forced) give it, in list order."""
    index: dict[str, list] = {}
    for x in map(_forced, xs):
        for k, v in x.items():
            found = index.get(k)
            if found is None:
                index[k] = [v]
            else:
                found.append(v)
    return index


_ABSENT = object()


@builtin("intersectAttrs", 2)
def intersect_attrs(a, b):
    a = attrs_arg(a, "while evaluating the first argument passed to builtins.intersectAttrs")
    b = attrs_arg(b, "while evaluating the second argument passed to builtins.intersectAttrs")
    if len(a) < len(b):
        keys = [k for k in a if k in b]
    else:
        keys = [k for k in b if k in a]
    out = Attrs({k: b[k] for k in keys})
    if b.pos:
        out.pos = {k: b.pos[k] for k in keys if k in b.pos}
    return out


@builtin("removeAttrs", 2)
def remove_attrs(a, names):
    a = attrs_arg(a, "while evaluating the first argument passed to builtins.removeAttrs")
    names = list_arg(names, "while evaluating the second argument passed to builtins.removeAttrs")
    what = "while evaluating the values of the second argument passed to builtins.removeAttrs"
    drop = set()
    for n in names:
        drop.add(n if type(n) is str else str_noctx_arg(n, what))
    if not drop.intersection(a):
        return a
    return _with_pos(Attrs({k: v for k, v in a.items() if k not in drop}), a.pos)


@builtin("listToAttrs", 1)
def list_to_attrs(xs):
    xs = list_arg(xs, "while evaluating the argument passed to builtins.listToAttrs")
    elem_what = "while evaluating an element of the list passed to builtins.listToAttrs"
    name_what = ("while evaluating the `name` attribute of an element of the list "
                 "passed to builtins.listToAttrs")
    pair = "in a {name=...; value=...;} pair"
    out = Attrs()
    pos: dict = {}
    for x in xs:
        x = attrs_arg(x, elem_what)
        name = x.get("name", _ABSENT)
        if name is _ABSENT:
            raise _missing("name", pair)
        if type(name) is not str:
            try:
                name = str_noctx_arg(name, name_what)
            except EvalError as e:
                raise e.at(x.attr_pos("name"))
        if name in out:
            continue
        value = x.get("value", _ABSENT)
        if value is _ABSENT:
            raise _missing("value", pair)
        out[name] = value
        xpos = x.pos
        if xpos:
            p = xpos.get("value")  # a Pos or a located node: its line is found when asked
            if p is not None:
                pos[name] = p
    if pos:
        out.pos = pos
    return out


def _map_attr(arg):
    f, name, value = arg
    return call(call(f, name), value)


@builtin("mapAttrs", 2)
def map_attrs(f, a):
    a = attrs_arg(a, "while evaluating the second argument passed to builtins.mapAttrs")
    # Nix gives the new attributes no position (unsafeGetAttrPos is null).
    return Attrs({k: Thunk(_map_attr, (f, k, v)) for k, v in a.items()})


@builtin("zipAttrsWith", 2)
def zip_attrs_with(f, xs):
    f = function_arg(f, "while evaluating the first argument passed to builtins.zipAttrsWith")
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.zipAttrsWith")
    what = "while evaluating a value of the list passed as second argument to builtins.zipAttrsWith"
    grouped = _names_index([attrs_arg(x, what) for x in xs])
    return Attrs({k: Thunk(_map_attr, (f, k, vs)) for k, vs in grouped.items()})
