"""Printing values the ways Nix prints them.

* ``print_ambiguous`` — what ``nix-instantiate --eval`` prints (Nix's
  ``printAmbiguous``, unchanged since 2.8 because it is part of that command's
  interface): unevaluated thunks as ``<CODE>``, functions as ``<LAMBDA>`` /
  ``<PRIMOP>`` / ``<PRIMOP-APP>``, sets and lists already printed as
  ``«repeated»``.
* ``show_value`` — today's human-oriented printer (``nix eval``, ``trace``,
  error messages): ``«lambda @ FILE:L:C»``, ``«primop map»``, ``«thunk»``,
  with optional limits (``show_for_error``).  It lives in
  ``nixlite.eval.values``, since error messages are built there, and is
  re-exported here with the other printing helpers.
"""

from __future__ import annotations

from nixlite.eval.values import (  # noqa: F401 - the value printers' public names
    Attrs,
    CStr,
    Lambda,
    NixPath,
    PrimOp,
    Thunk,
    attr_name,
    escape_string,
    format_float,
    show_value,
)


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
