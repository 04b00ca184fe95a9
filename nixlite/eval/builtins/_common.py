"""Small helpers shared by the pure builtins: Nix's ``… while evaluating`` frames
around argument forcing, fast function application, and byte views of strings.

Nix strings are byte strings; nixlite keeps them as Python ``str`` decoded from
UTF-8 with ``surrogateescape`` (so invalid bytes survive a round trip).  Byte
positions (``substring``, ``stringLength``) therefore go through ``to_bytes``.
"""

from __future__ import annotations

from nixlite.eval.values import (
    Attrs,
    CStr,
    EvalError,
    Lambda,
    NixTypeError,
    PrimOp,
    Thunk,
    call,
    short_show,
    type_error,
    type_name,
)


def to_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def from_bytes(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def byte_len(s: str) -> int:
    return len(s) if s.isascii() else len(to_bytes(s))


def sorted_names(a) -> list[str]:
    """Attribute names in Nix's (byte-wise) lexicographic order."""
    names = sorted(a)
    if not all(map(str.isascii, names)):
        names.sort(key=to_bytes)
    return names


# ----------------------------------------------------------- forcing with context


def _forced(v):
    return v.force() if type(v) is Thunk else v


def list_arg(v, what: str) -> list:
    """Force ``v`` to a list; errors (also from inside the thunk) get the frame ``what``."""
    try:
        v = v.force() if type(v) is Thunk else v
    except EvalError as e:
        raise e.add_trace(what)
    if type(v) is list:
        return v
    raise type_error(v, "a list").add_trace(what)


def attrs_arg(v, what: str) -> Attrs:
    try:
        v = v.force() if type(v) is Thunk else v
    except EvalError as e:
        raise e.add_trace(what)
    if type(v) is Attrs:
        return v
    raise type_error(v, "a set").add_trace(what)


def int_arg(v, what: str) -> int:
    try:
        v = v.force() if type(v) is Thunk else v
    except EvalError as e:
        raise e.add_trace(what)
    if type(v) is int:
        return v
    raise type_error(v, "an integer").add_trace(what)


def float_arg(v, what: str) -> float:
    """A number as float, as Nix's ``forceFloat`` (ints accepted)."""
    try:
        v = v.force() if type(v) is Thunk else v
    except EvalError as e:
        raise e.add_trace(what)
    t = type(v)
    if t is float:
        return v
    if t is int:
        return float(v)
    raise type_error(v, "a float").add_trace(what)


def bool_arg(v, what: str) -> bool:
    try:
        v = v.force() if type(v) is Thunk else v
    except EvalError as e:
        raise e.add_trace(what)
    if type(v) is bool:
        return v
    raise type_error(v, "a Boolean").add_trace(what)


def str_arg(v, what: str) -> str:
    """A string (context kept), no coercion: Nix's ``forceString``."""
    try:
        v = v.force() if type(v) is Thunk else v
    except EvalError as e:
        raise e.add_trace(what)
    t = type(v)
    if t is str or t is CStr:
        return v
    raise type_error(v, "a string").add_trace(what)


def str_noctx_arg(v, what: str) -> str:
    """Nix's ``forceStringNoCtx``: a string that must not refer to store paths."""
    s = str_arg(v, what)
    if type(s) is CStr:
        # Nix names the first element of its ordered context: plain paths, then
        # whole derivations (=…), then derivation outputs (!out!…).
        some = min(s.ctx, key=lambda c: ("/=!".index(c[0]), c))
        shown = some.rsplit("!", 1)[-1] if some.startswith("!") else some.lstrip("=")
        raise EvalError(
            f"the string '{s}' is not allowed to refer to a store path (such as '{shown}')"
        ).add_trace(what)
    return str(s) if type(s) is not str else s


def function_arg(v, what: str):
    try:
        v = v.force() if type(v) is Thunk else v
    except EvalError as e:
        raise e.add_trace(what)
    t = type(v)
    if t is Lambda or t is PrimOp or (t is Attrs and "__functor" in v):
        return v
    raise type_error(v, "a function").add_trace(what)


def coerce_arg(v, what: str, *, copy_to_store, coerce_more: bool = False) -> str:
    """Nix's ``coerceToString`` with an error frame (``copy_to_store``: the ``EvalIO``
    that copies paths to the store, or None)."""
    from nixlite.eval.ops import coerce_to_string

    try:
        return coerce_to_string(v, coerce_more=coerce_more, copy_to_store=copy_to_store)
    except EvalError as e:
        raise e.add_trace(what)


# ------------------------------------------------------------------ application


def unary(f):
    """A Python callable applying the (forced) Nix function ``f`` to one argument.

    Skips ``call``'s dispatch for the common cases, which matters in loops
    (``filter``, ``any``…) over large lists.
    """
    t = type(f)
    if t is Lambda:
        return f.fn
    if t is PrimOp:
        return f.apply
    return lambda x: call(f, x)


def binary(f):
    """A Python callable ``(a, b) -> value`` for the curried Nix function ``f``."""
    t = type(f)
    if t is Lambda:
        fn = f.fn

        def apply2(a, b):
            g = fn(a)
            if type(g) is Lambda:
                return g.fn(b)
            return call(g, b)

        return apply2
    if t is PrimOp and f.arity - len(f.args) == 2:
        pfn, args = f.fn, f.args

        def apply_prim2(a, b):
            r = pfn(*args, a, b)
            return r.force() if type(r) is Thunk else r

        return apply_prim2
    return lambda a, b: call(call(f, a), b)


def bool_result(v, what: str) -> bool:
    """The forced result of a predicate call, which must be a Boolean."""
    if type(v) is bool:
        return v
    v = _forced(v)
    if type(v) is bool:
        return v
    raise type_error(v, "a Boolean").add_trace(what)


__all__ = [
    "to_bytes", "from_bytes", "byte_len", "sorted_names", "list_arg", "attrs_arg", "int_arg", "float_arg",
    "bool_arg", "str_arg", "str_noctx_arg", "function_arg", "coerce_arg", "unary", "binary",
    "bool_result", "type_name", "short_show", "NixTypeError",
]
