"""Nix's operators on values: arithmetic, equality, ordering and string coercion.

Shared by the compiler (for ``+ - * / == < …``) and the builtins (``add``,
``lessThan``, ``toString``, ``sort``…), so both agree to the last edge case.
"""

from __future__ import annotations

from nixlite.eval.values import (
    INT_MAX,
    INT_MIN,
    Attrs,
    CStr,
    EvalError,
    NixPath,
    NixTypeError,
    Thunk,
    call,
    canon_path,
    checked_int,
    is_derivation,
    mkstr,
    short_show,
    type_error,
    type_name,
)

# --------------------------------------------------------------------------
# arithmetic


def add(a, b, io):
    """``a + b`` for forced values: numbers, strings (with context) or paths; ``io``
    (an ``EvalIO``) copies a path appended to a string into the store."""
    ta = type(a)
    tb = type(b)
    if ta is int:
        if tb is int:
            r = a + b
            if INT_MIN <= r <= INT_MAX:
                return r
            return checked_int(r, "adding", a, b)
        if tb is float:
            return a + b
        raise _operand(EvalError(f"cannot add {type_name(b)} to an integer"), 1)
    if ta is float:
        if tb is float or tb is int:
            return a + b
        raise _operand(EvalError(f"cannot add {type_name(b)} to a float"), 1)
    if ta is NixPath:
        if tb is NixPath:
            s = b.path
        else:
            s = coerce_to_string(b, copy_to_store=None)
            if type(s) is CStr:
                raise EvalError("a string that refers to a store path cannot be appended to a path")
        return NixPath(canon_path(a.path + s))
    if ta is str and tb is str:
        return a + b
    try:
        sa = coerce_to_string(a, copy_to_store=io)
    except EvalError as exc:
        raise _operand(exc, 0)
    try:
        sb = coerce_to_string(b, copy_to_store=io)
    except EvalError as exc:
        raise _operand(exc, 1)
    if type(sa) is CStr or type(sb) is CStr:
        ctx = set()
        if type(sa) is CStr:
            ctx |= sa.ctx
        if type(sb) is CStr:
            ctx |= sb.ctx
        return CStr(str.__add__(sa, sb), frozenset(ctx))
    return str.__add__(sa, sb)


def _operand(exc: EvalError, index: int) -> EvalError:
    """Mark which operand of ``+`` failed: Nix reports the error at that operand."""
    exc.operand = index
    return exc


def _num(v, what: str):
    t = type(v)
    if t is int or t is float:
        return v
    raise type_error(v, "an integer" if what == "int" else "a float")


def sub(a, b):
    if type(a) is int and type(b) is int:
        r = a - b
        return r if INT_MIN <= r <= INT_MAX else checked_int(r, "subtracting", a, b)
    return _num(a, "int") - _num(b, "int")


def mul(a, b):
    if type(a) is int and type(b) is int:
        r = a * b
        return r if INT_MIN <= r <= INT_MAX else checked_int(r, "multiplying", a, b)
    return _num(a, "int") * _num(b, "int")


def div(a, b):
    # Nix checks the divisor first, as a float, then the dividend.
    b = _num(b, "float")
    if b == 0:
        raise EvalError("division by zero")
    a = _num(a, "float" if type(b) is float else "int")
    if type(a) is int and type(b) is int:
        q = abs(a) // abs(b)
        if (a < 0) != (b < 0):
            q = -q
        return q if INT_MIN <= q <= INT_MAX else checked_int(q, "dividing", a, b)
    return a / b


# --------------------------------------------------------------------------
# equality and ordering


def _forced(v):
    return v.force() if type(v) is Thunk else v


def eq(a, b) -> bool:
    """Nix's ``eqValues`` on two stored values-or-thunks (``elem``, list items…).

    The same stored value is equal to itself, even a function: Nix compares
    value pointers first.  The ``==`` operator compares fresh copies instead
    (``eq_operands``), so ``f == f`` is false for a function.
    """
    same = a is b
    a = _forced(a)  # Nix forces both before comparing pointers
    b = _forced(b)
    if same:
        return True
    return eq_operands(a, b)


def eq_operands(a, b) -> bool:
    """Nix's ``==`` operator on its two evaluated operands."""
    a = _forced(a)
    b = _forced(b)
    ta = type(a)
    tb = type(b)
    if ta is int or ta is float:
        if tb is int or tb is float:
            # Nix compares an int with a float as two doubles.
            return a == b if ta is tb else float(a) == float(b)
        return False
    if ta is str or ta is CStr:
        return (tb is str or tb is CStr) and str.__eq__(a, b)
    if ta is bool:
        return tb is bool and a is b
    if a is None:
        return b is None
    if ta is NixPath:
        return tb is NixPath and a.path == b.path
    if ta is list:
        if tb is not list or len(a) != len(b):
            return False
        if a is b:
            return True
        for x, y in zip(a, b):
            if not eq(x, y):
                return False
        return True
    if ta is Attrs:
        if tb is not Attrs:
            return False
        if a is b:
            return True
        if is_derivation(a) and is_derivation(b):
            if "outPath" in a and "outPath" in b:
                return eq(a["outPath"], b["outPath"])
        if len(a) != len(b):
            return False
        for k in sorted(a):
            if k not in b:
                return False
        for k in sorted(a):
            if not eq(a[k], b[k]):
                return False
        return True
    # functions never compare equal (except the same value in a list/set, above)
    return False


def less_than(a, b) -> bool:
    """Nix's ``<`` (``builtins.lessThan``) on values-or-thunks."""
    a = _forced(a)
    b = _forced(b)
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a < b if ta is tb else float(a) < float(b)
    if (ta is str or ta is CStr) and (tb is str or tb is CStr):
        return str.__lt__(a, b)
    if ta is NixPath and tb is NixPath:
        return a.path < b.path
    if ta is list and tb is list:
        for x, y in zip(a, b):
            if not eq(x, y):
                return less_than(x, y)
        return len(a) < len(b)
    if ta is tb or ((ta is str or ta is CStr) and (tb is str or tb is CStr)):
        detail = "values of that type are incomparable"
    else:
        detail = f"values are {short_show(a)} and {short_show(b)}"
    raise EvalError(f"cannot compare {type_name(a)} with {type_name(b)}; {detail}")


# --------------------------------------------------------------------------
# string coercion


def float_to_string(f: float) -> str:
    """``toString`` of a float: C++ ``std::to_string`` (``%f``)."""
    return "%f" % f


def coerce_to_string(v, *, copy_to_store, coerce_more: bool = False) -> str:
    """Nix's ``coerceToString``: returns a ``str`` or ``CStr`` (context kept).

    ``copy_to_store`` is the evaluation's ``EvalIO``, which turns paths into store
    paths (adding them to the store), or None to keep paths as they are;
    ``coerce_more`` (``toString``) also accepts numbers, Booleans, null and lists.
    """
    v = _forced(v)
    t = type(v)
    if t is str or t is CStr:
        return v
    if t is NixPath:
        if copy_to_store is not None:
            store_path = copy_to_store.copy_path_to_store(v.path)
            return CStr(store_path, frozenset((store_path,)))
        return v.path
    if t is Attrs:
        fn = v.get("__toString")
        if fn is not None:
            r = call(fn, v)
            return coerce_to_string(r, coerce_more=coerce_more, copy_to_store=copy_to_store)
        out = v.get("outPath")
        if out is not None:
            return coerce_to_string(out, coerce_more=coerce_more, copy_to_store=copy_to_store)
    if coerce_more:
        if t is int:
            return str(v)
        if t is float:
            return float_to_string(v)
        if t is bool:
            return "1" if v else ""
        if v is None:
            return ""
        if t is list:
            parts: list[str] = []
            ctx: set[str] = set()
            n = len(v)
            for i, item in enumerate(v):
                item = _forced(item)
                s = coerce_to_string(item, coerce_more=True, copy_to_store=copy_to_store)
                if type(s) is CStr:
                    ctx |= s.ctx
                parts.append(str(s))
                if i < n - 1 and (type(item) is not list or len(item) != 0):
                    parts.append(" ")
            return mkstr("".join(parts), ctx)
    raise NixTypeError(f"cannot coerce {type_name(v)} to a string: {short_show(v)}")


def coerce_to_path(v) -> str:
    """Nix's ``coerceToPath``: a string or path that must be absolute."""
    s = coerce_to_string(v, copy_to_store=None)
    if not s.startswith("/"):
        raise EvalError(f"string '{s}' doesn't represent an absolute path")
    return s
