"""The normalised text ``nix-instantiate --parse`` prints (today's Nix, ``Expr::show``).

Operator nodes are printed in the form Nix desugars them to (``(__sub a b)``,
``(! (__lessThan b a))``), attribute names through Nix's ``printIdentifier`` and list
elements in parentheses, as today's Nix does.
"""

from __future__ import annotations

import re
import sys

from nixlite.errors import NixliteError
from nixlite.syntax import ast as A

MAX_DEPTH = 250_000
_KEYWORDS = frozenset(("if", "then", "else", "assert", "with", "let", "in", "rec", "inherit"))
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'\-]*\Z")
_STRING_SPECIAL = re.compile(r'["\\\n\r\t]|\$(?=\{)')
_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "$": "\\$"}


def literal_string(s: str) -> str:
    """Nix's printLiteralString: a double-quoted string with ``\\`` escapes."""
    return '"' + _STRING_SPECIAL.sub(lambda m: _STRING_ESCAPES[m.group()], s) + '"'


def identifier(s: str) -> str:
    """Nix's printIdentifier: bare when it lexes as an identifier, else quoted."""
    if not s:
        return '""'
    if s in _KEYWORDS:
        return '"' + s + '"'
    if _IDENT.match(s):
        return s
    return literal_string(s)


def format_float(v: float) -> str:
    """C++ ``ostream << double`` with default flags: ``%g``, six significant digits."""
    return "%g" % v


def show_attr_path(path: list) -> str:
    out: list[str] = []
    for i, item in enumerate(path):
        if i:
            out.append(".")
        if type(item) is str:
            out.append(identifier(item))
        else:
            out.append('"${')
            _show(item, out)
            out.append('}"')
    return "".join(out)


def show(e: A.Expr) -> str:
    """The text ``nix-instantiate --parse`` prints for ``e`` (without the final newline)."""
    out: list[str] = []
    limit = sys.getrecursionlimit()
    if limit < MAX_DEPTH:  # Python frames only: see nixlite.resolve.MAX_DEPTH
        sys.setrecursionlimit(MAX_DEPTH)
    try:
        _show(e, out)
    except RecursionError:
        raise NixliteError("stack overflow (possible infinite recursion)") from None
    finally:
        sys.setrecursionlimit(limit)
    return "".join(out)


def _show_bindings(node, out: list[str]) -> None:
    names = sorted(node.attrs)
    inherits = []
    inherits_from: dict[int, list[str]] = {}
    for name in names:
        d = node.attrs[name]
        if d.kind == A.INHERITED:
            inherits.append(name)
        elif d.kind == A.INHERITED_FROM:
            inherits_from.setdefault(d.value.expr.index, []).append(name)
    if inherits:
        out.append("inherit")
        for name in inherits:
            out.append(" " + identifier(name))
        out.append("; ")
    for index in sorted(inherits_from):
        out.append("inherit (")
        _show(node.inherit_from[index], out)
        out.append(")")
        for name in inherits_from[index]:
            out.append(" " + identifier(name))
        out.append("; ")
    for name in names:
        d = node.attrs[name]
        if d.kind == A.PLAIN:
            out.append(identifier(name) + " = ")
            _show(d.value, out)
            out.append("; ")
    for d in getattr(node, "dynamic", ()):
        out.append('"${')
        _show(d.name, out)
        out.append('}" = ')
        _show(d.value, out)
        out.append("; ")


def _show_call_head(e, out: list[str]) -> None:
    """The opening of a call-shaped node without its ``)``, so Nix's merged calls
    (``(a - b) c`` is one ExprCall ``(__sub a b c)``) print as Nix prints them."""
    t = type(e)
    if t is A.Neg:
        out.append("(" + e.fn.name + " 0 ")
        _show(e.expr, out)
        return
    # BinOp in CALL_OPS
    left, right = (e.right, e.left) if e.op == ">" else (e.left, e.right)
    out.append("(" + e.fn.name + " ")
    _show(left, out)
    out.append(" ")
    _show(right, out)


def _show(e, out: list[str]) -> None:
    t = type(e)
    if t is A.Var:
        out.append(identifier(e.name))
    elif t is A.Call:
        fn = e.fn
        if type(fn) is A.Neg or (type(fn) is A.BinOp and fn.op in A.CALL_OPS):
            _show_call_head(fn, out)
        else:
            out.append("(")
            _show(fn, out)
        for a in e.args:
            out.append(" ")
            _show(a, out)
        out.append(")")
    elif t is A.Select:
        out.append("(")
        _show(e.expr, out)
        out.append(")." + show_attr_path(e.path))
        if e.default is not None:
            out.append(" or (")
            _show(e.default, out)
            out.append(")")
    elif t is A.Str:
        out.append(literal_string(e.value))
    elif t is A.Int:
        out.append(str(e.value))
    elif t is A.BinOp:
        op = e.op
        if op in A.CALL_OPS:
            _show_call_head(e, out)
            out.append(")")
        elif op == "<=" or op == ">=":
            left, right = (e.right, e.left) if op == "<=" else (e.left, e.right)
            out.append("(! (" + e.fn.name + " ")
            _show(left, out)
            out.append(" ")
            _show(right, out)
            out.append("))")
        else:
            out.append("(")
            _show(e.left, out)
            out.append(" " + op + " ")
            _show(e.right, out)
            out.append(")")
    elif t is A.Attrs:
        out.append("rec { " if e.rec else "{ ")
        _show_bindings(e, out)
        out.append("}")
    elif t is A.Lambda:
        out.append("(")
        if e.formals is not None:
            out.append("{ ")
            first = True
            for f in sorted(e.formals, key=lambda f: f.name):
                if not first:
                    out.append(", ")
                first = False
                out.append(identifier(f.name))
                if f.default is not None:
                    out.append(" ? ")
                    _show(f.default, out)
            if e.ellipsis:
                out.append("..." if first else ", ...")
            out.append(" }")
            if e.arg is not None:
                out.append(" @ ")
        if e.arg is not None:
            out.append(identifier(e.arg))
        out.append(": ")
        _show(e.body, out)
        out.append(")")
    elif t is A.List:
        out.append("[ ")
        for x in e.elems:
            out.append("(")
            _show(x, out)
            out.append(") ")
        out.append("]")
    elif t is A.StrInterp or t is A.PathInterp:
        out.append("(")
        for i, x in enumerate(e.parts):
            if i:
                out.append(" + ")
            _show(x, out)
        out.append(")")
    elif t is A.Path:
        out.append(e.value)
    elif t is A.Let:
        out.append("(let ")
        _show_bindings(e, out)
        out.append("in ")
        _show(e.body, out)
        out.append(")")
    elif t is A.With:
        out.append("(with ")
        _show(e.attrs, out)
        out.append("; ")
        _show(e.body, out)
        out.append(")")
    elif t is A.If:
        out.append("(if ")
        _show(e.cond, out)
        out.append(" then ")
        _show(e.then, out)
        out.append(" else ")
        _show(e.else_, out)
        out.append(")")
    elif t is A.Assert:
        out.append("assert ")
        _show(e.cond, out)
        out.append("; ")
        _show(e.body, out)
    elif t is A.Not:
        out.append("(! ")
        _show(e.expr, out)
        out.append(")")
    elif t is A.Neg:
        _show_call_head(e, out)
        out.append(")")
    elif t is A.HasAttr:
        out.append("((")
        _show(e.expr, out)
        out.append(") ? " + show_attr_path(e.path) + ")")
    elif t is A.Float:
        out.append(format_float(e.value))
    elif t is A.CurPos:
        out.append("__curPos")
    else:  # pragma: no cover - every node type is handled above
        raise TypeError(f"cannot print {t.__name__}")
