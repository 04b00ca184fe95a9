"""Printing values the ways Nix prints them.

* ``print_ambiguous`` — what ``nix-instantiate --eval`` prints (Nix's
  ``printAmbiguous``, unchanged since 2.8 because it is part of that command's
  interface): unevaluated thunks as ``<CODE>``, functions as ``<LAMBDA>`` /
  ``<PRIMOP>`` / ``<PRIMOP-APP>``, sets and lists already printed as
  ``«repeated»``.
* ``show_value`` — today's human-oriented printer (``nix eval``, ``trace``,
  error messages): ``«lambda @ FILE:L:C»``, ``«primop map»``, ``«thunk»``,
  with optional limits (``show_for_error``).
"""

from __future__ import annotations

import re

from nixlite.eval.values import Attrs, CStr, Lambda, NixPath, PrimOp, Thunk

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*\Z")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\n\r\t]|\$\{')


def escape_string(s: str) -> str:
    """A Nix string literal: quotes, ``\\`` ``\\n`` ``\\r`` ``\\t`` and ``${`` escaped."""
    if _NEEDS_ESCAPE.search(s) is None:
        return f'"{s}"'
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), "\\${"), s) + '"'


_NAME_ESCAPE = re.compile(r'["\\\n\r\t$]')
_NAME_ESCAPES = dict(_ESCAPES, **{"$": "\\$"})


def attr_name(name: str) -> str:
    """An attribute name as Nix prints it: bare when a valid identifier (``if``
    excepted), else quoted, escaping every ``$`` (unlike string values)."""
    if _IDENT.match(name) and name != "if":
        return name
    return '"' + _NAME_ESCAPE.sub(lambda m: _NAME_ESCAPES[m.group()], name) + '"'


def format_float(f: float) -> str:
    """C++ ``ostream << double`` with default flags: ``%g`` (6 significant digits)."""
    return "%g" % f


def print_ambiguous(v) -> str:
    """``nix-instantiate --eval`` output for ``v`` (already forced as far as wanted).

    Nix detects repeated lists by the address of the *value* holding them and
    prints a copy of the top-level value, so a top-level list is never
    "seen" before (``let x = [ x ]; in x`` prints ``[ [ «repeated» ] ]``).
    """
    out: list[str] = []
    if type(v) is Thunk and v.fn is None:
        v = v.val
    if type(v) is list:
        out.append("[ ")
        seen: set[int] = set()
        for item in v:
            _ambiguous(item, out, seen)
            out.append(" ")
        out.append("]")
    else:
        _ambiguous(v, out, set())
    return "".join(out)


def _ambiguous(v, out: list[str], seen: set[int]) -> None:
    t = type(v)
    # Nix recognises a repeated list by the address of the value cell holding it:
    # here the thunk (shared by variables, distinct for copies such as `s.a`).
    cell = id(v)
    if t is Thunk:
        if v.fn is None:
            v = v.val
            t = type(v)
        elif v.is_blackhole():
            out.append("«potential infinite recursion»")
            return
        else:
            out.append("<CODE>")
            return
    if t is int:
        out.append(str(v))
    elif t is str or t is CStr:
        out.append(escape_string(v))
    elif t is bool:
        out.append("true" if v else "false")
    elif v is None:
        out.append("null")
    elif t is Attrs:
        if v and id(v) in seen:
            out.append("«repeated»")
            return
        if v:
            seen.add(id(v))
        out.append("{ ")
        for name in sorted(v):
            out.append(attr_name(name))
            out.append(" = ")
            _ambiguous(v[name], out, seen)
            out.append("; ")
        out.append("}")
    elif t is list:
        if v and cell in seen:
            out.append("«repeated»")
            return
        if v:
            seen.add(cell)
        out.append("[ ")
        for item in v:
            _ambiguous(item, out, seen)
            out.append(" ")
        out.append("]")
    elif t is float:
        out.append(format_float(v))
    elif t is NixPath:
        out.append(v.path)
    elif t is Lambda:
        out.append("<LAMBDA>")
    elif t is PrimOp:
        out.append("<PRIMOP-APP>" if v.args else "<PRIMOP>")
    else:
        out.append(f"«unknown value {type(v).__name__}»")


class _Limits:
    __slots__ = ("depth", "attrs", "items", "strlen", "budget")

    def __init__(self, depth: int, attrs: int, items: int, strlen: int) -> None:
        self.depth = depth
        self.attrs = attrs
        self.items = items
        self.strlen = strlen


def show_value(v, *, max_depth: int = 1 << 30, max_attrs: int = 1 << 30,
               max_items: int = 1 << 30, max_strlen: int = 1 << 30) -> str:
    """Today's Nix value printer (``nix eval``/``trace`` style); never forces."""
    out: list[str] = []
    _show(v, out, set(), _Limits(max_depth, max_attrs, max_items, max_strlen), 0)
    return "".join(out)


def show_for_error(v) -> str:
    """A value inside an error message: today's ``errorPrintOptions`` limits."""
    return show_value(v, max_depth=10, max_attrs=10, max_items=10, max_strlen=1024)


def _show_str(s: str, lim: _Limits) -> str:
    if len(s) > lim.strlen:
        return escape_string(s[: lim.strlen])[:-1] + f'" «{len(s) - lim.strlen} bytes elided»'
    return escape_string(s)


def _show(v, out: list[str], seen: set[int], lim: _Limits, depth: int) -> None:
    t = type(v)
    if t is Thunk:
        if v.fn is None:
            v = v.val
            t = type(v)
        elif v.is_blackhole():
            out.append("«potential infinite recursion»")
            return
        else:
            out.append("«thunk»")
            return
    if t is int:
        out.append(str(v))
    elif t is str or t is CStr:
        out.append(_show_str(v, lim))
    elif t is bool:
        out.append("true" if v else "false")
    elif v is None:
        out.append("null")
    elif t is float:
        out.append(format_float(v))
    elif t is NixPath:
        out.append(v.path)
    elif t is Lambda:
        out.append(f"«lambda {v.name} @ {v.pos}»" if v.name and v.pos else
                   f"«lambda @ {v.pos}»" if v.pos else "«lambda»")
    elif t is PrimOp:
        out.append(f"«partially applied primop {v.name}»" if v.args else f"«primop {v.name}»")
    elif t is Attrs:
        if _is_derivation_value(v):
            drv = v.get("drvPath")
            drv = drv.val if type(drv) is Thunk and drv.fn is None else drv
            out.append(f"«derivation {drv}»" if isinstance(drv, str) else "«derivation»")
            return
        if not v:
            out.append("{ }")
            return
        if id(v) in seen:
            out.append("«repeated»")
            return
        if depth >= lim.depth:
            out.append("{ … }")
            return
        seen.add(id(v))
        out.append("{ ")
        names = sorted(v)
        for name in names[: lim.attrs]:
            out.append(attr_name(name))
            out.append(" = ")
            _show(v[name], out, seen, lim, depth + 1)
            out.append("; ")
        if len(names) > lim.attrs:
            n = len(names) - lim.attrs
            out.append(f"«{n} attribute{'s' if n != 1 else ''} elided» ")
        out.append("}")
    elif t is list:
        if not v:
            out.append("[ ]")
            return
        if id(v) in seen:
            out.append("«repeated»")
            return
        if depth >= lim.depth:
            out.append("[ … ]")
            return
        seen.add(id(v))
        out.append("[ ")
        for item in v[: lim.items]:
            _show(item, out, seen, lim, depth + 1)
            out.append(" ")
        if len(v) > lim.items:
            n = len(v) - lim.items
            out.append(f"«{n} item{'s' if n != 1 else ''} elided» ")
        out.append("]")
    else:
        out.append(f"«unknown value {type(v).__name__}»")


def _is_derivation_value(v: Attrs) -> bool:
    t = v.get("type")
    if type(t) is Thunk:
        if t.fn is not None:
            return False
        t = t.val
    return t == "derivation" and isinstance(t, str)
