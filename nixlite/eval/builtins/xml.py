"""``toXML`` and the ``--xml`` output of ``nixlite eval``: Nix's XML
serialisation byte for byte (indentation, attribute order and escaping of
Nix's ``XMLWriter``).

Positions (``--xml`` without ``--no-location``) follow today's Nix: ``path``
only for positions in files (not for ``-E`` text or stdin), then ``line`` and
``column``.  Nix 2.8 also wrote ``path`` for ``-E`` text (the source itself).
"""

from __future__ import annotations

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import sorted_names
from nixlite.eval.printer import format_float
from nixlite.eval.values import (
    Attrs,
    CStr,
    EvalError,
    Lambda,
    NixPath,
    PrimOp,
    Thunk,
    is_derivation,
    mkstr,
)

_ATTR_ESC = str.maketrans({'"': "&quot;", "<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": "&#xA;"})


def _attrs(pairs: dict[str, str]) -> str:
    return "".join(f' {k}="{pairs[k].translate(_ATTR_ESC)}"' for k in sorted(pairs))


class _Writer:
    __slots__ = ("out", "depth", "strict", "location", "ctx", "drvs_seen")

    def __init__(self, strict: bool, location: bool) -> None:
        self.out: list[str] = ["<?xml version='1.0' encoding='utf-8'?>\n"]
        self.depth = 0
        self.strict = strict
        self.location = location
        self.ctx: set[str] = set()
        self.drvs_seen: set[str] = set()

    def open(self, name: str, attrs: dict[str, str] | None = None) -> None:
        self.out.append(f"{'  ' * self.depth}<{name}{_attrs(attrs) if attrs else ''}>\n")
        self.depth += 1

    def close(self, name: str) -> None:
        self.depth -= 1
        self.out.append(f"{'  ' * self.depth}</{name}>\n")

    def empty(self, name: str, attrs: dict[str, str] | None = None) -> None:
        self.out.append(f"{'  ' * self.depth}<{name}{_attrs(attrs) if attrs else ''} />\n")

    def pos_attrs(self, pos, attrs: dict[str, str]) -> None:
        if pos is None:
            return
        if not pos.file.startswith("«"):
            attrs["path"] = pos.file
        attrs["line"] = str(pos.line)
        attrs["column"] = str(pos.col)

    # ------------------------------------------------------------------ values
    def value(self, v) -> None:
        if type(v) is Thunk:
            if self.strict or v.fn is None:
                v = v.force()
            else:
                self.empty("unevaluated")
                return
        t = type(v)
        if t is int:
            self.empty("int", {"value": str(v)})
        elif t is bool:
            self.empty("bool", {"value": "true" if v else "false"})
        elif t is str or t is CStr:
            if t is CStr:
                self.ctx.update(v.ctx)
            self.empty("string", {"value": str(v)})
        elif t is NixPath:
            self.empty("path", {"value": v.path})
        elif v is None:
            self.empty("null")
        elif t is Attrs:
            self.attrset(v)
        elif t is list:
            self.open("list")
            for item in v:
                self.value(item)
            self.close("list")
        elif t is Lambda:
            self.function(v)
        elif t is float:
            self.empty("float", {"value": format_float(v)})
        elif t is PrimOp:
            self.empty("unevaluated")
        else:
            self.empty("unevaluated")

    def _known(self, v: Attrs, name: str):
        """An attribute's value, forced when strict; None when absent or not a string."""
        a = v.get(name)
        if a is None:
            return None
        if type(a) is Thunk:
            if self.strict:
                a = a.force()
            elif a.fn is None:
                a = a.val
        return a if type(a) is str or type(a) is CStr else None

    def attrset(self, v: Attrs) -> None:
        if is_derivation(v):
            attrs: dict[str, str] = {}
            drv_path = self._known(v, "drvPath")
            if drv_path is not None:
                attrs["drvPath"] = str(drv_path)
            out_path = self._known(v, "outPath")
            if out_path is not None:
                attrs["outPath"] = str(out_path)
            self.open("derivation", attrs)
            if drv_path and drv_path not in self.drvs_seen:
                self.drvs_seen.add(str(drv_path))
                self.show_attrs(v)
            else:
                self.empty("repeated")
            self.close("derivation")
            return
        self.open("attrs")
        self.show_attrs(v)
        self.close("attrs")

    def show_attrs(self, v: Attrs) -> None:
        for name in sorted_names(v):
            attrs = {"name": name}
            if self.location:
                self.pos_attrs(v.attr_pos(name), attrs)
            self.open("attr", attrs)
            self.value(v[name])
            self.close("attr")

    def function(self, f: Lambda) -> None:
        attrs: dict[str, str] = {}
        if self.location:
            self.pos_attrs(f.pos, attrs)
        self.open("function", attrs)
        arg = getattr(f.where, "arg", None)
        if f.formals is not None:
            pat: dict[str, str] = {}
            if arg:
                pat["name"] = arg
            if f.ellipsis:
                pat["ellipsis"] = "1"
            self.open("attrspat", pat)
            for name in sorted(n for n, _ in f.formals):
                self.empty("attr", {"name": name})
            self.close("attrspat")
        else:
            self.empty("varpat", {"name": arg or ""})
        self.close("function")


def to_xml(value, with_locations: bool, strict: bool = True, ctx: set[str] | None = None) -> str:
    """The XML document for ``value`` (``nixlite eval --xml``, ``builtins.toXML``).

    ``strict`` forces what it prints (``--strict``/``toXML``); otherwise thunks not
    yet evaluated print as ``<unevaluated />``.  String contexts met are added to
    ``ctx`` when given.
    """
    w = _Writer(strict, with_locations)
    w.open("expr")
    w.value(value)
    w.close("expr")
    if ctx is not None:
        ctx.update(w.ctx)
    return "".join(w.out)


@builtin("toXML", 1)
def to_xml_builtin(v):
    ctx: set[str] = set()
    try:
        s = to_xml(v, False, True, ctx)
    except EvalError as e:
        raise e.add_trace("while evaluating the first argument passed to builtins.toXML")
    return mkstr(s, ctx)
