"""The located abstract syntax tree the parser produces and every later stage reads.

Design choices (why the tree looks the way it does):

* Every node carries ``src`` (one shared :class:`Source` per parsed text) and ``off``
  (the character offset where the node's position is).  Line and column are computed on
  demand (``node.line``, ``node.col``, ``node.pos``), which keeps parsing and unpickling
  from the parse cache cheap.  Columns count UTF-8 bytes, as Nix's do.
* Positions are the ones Nix attaches: the start of the construct, except binary
  operators (the operator token, as Nix's ``@2``), attribute definitions (the start of
  the attribute path) and inherited names (the name).
* The tree is already shaped as Nix shapes it while parsing: nested attribute paths are
  merged (``a.b = 1; a.c = 2;`` gives one nested :class:`Attrs`), ``f a b`` is one
  :class:`Call` with two arguments (Nix's ``makeCall`` also extends ``(f a) b`` and pipe
  operands), ``<p>`` is ``Call(Var("__findFile"), [Var("__nixPath"), Str("p")])``,
  pipes are calls, legacy ``let { … }`` is ``Select(Attrs(rec), ["body"])``, indented
  strings are stripped, and static string keys (``"a"``, ``${"a"}``) are plain names.
* Operators stay operator nodes (:class:`BinOp`, :class:`Neg`, :class:`Not`) so the
  evaluator can use fast paths.  Where Nix desugars an operator into a call of a
  ``__name`` variable (``-`` ``*`` ``/`` ``<`` ``>`` ``<=`` ``>=`` and unary ``-``), the node
  also carries that variable as ``fn`` (a real :class:`Var`, resolved like any other), so
  ``let __sub = …; in a - b`` means what it means in Nix.
* Attribute paths (in :class:`Select`, :class:`HasAttr` and while parsing bindings) are
  lists whose items are ``str`` (static name) or an ``Expr`` (dynamic ``${e}`` /
  ``"a${b}"`` name, evaluated to a string).
* Fields filled by the resolver (``nixlite.resolve``) are listed in each docstring under
  "resolver"; they are ``None``/``-1`` until it runs.
* Every node's constructor takes all of its fields, in the order of ``_fields`` (resolver
  fields last, optional), and a node pickles as ``cls(*fields)``: that is what makes
  loading from the parse cache fast.  Keep the two in step when adding a field.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from nixlite.errors import Pos

__all__ = [
    "Source", "Expr", "Int", "Float", "Str", "Path", "StrInterp", "PathInterp", "Var",
    "CurPos", "Select", "HasAttr", "AttrDef", "DynAttr", "InheritFrom", "Attrs", "List",
    "Formal", "DeferredBody", "Lambda", "Call", "Let", "With", "Assert", "If", "Not", "Neg", "BinOp",
    "PLAIN", "INHERITED", "INHERITED_FROM", "CALL_OPS", "OP_FUNCTIONS",
]


def canon_path(path: str) -> str:
    """Nix's canonPath: absolute, no ``.``/``..``/empty components (no symlinks)."""
    out: list[str] = []
    for part in path.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if out:
                out.pop()
        else:
            out.append(part)
    return "/" + "/".join(out)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")


class Source:
    """One parsed text: ``name`` as errors print it (a path, ``«string»``, ``«stdin»``),
    the ``text`` itself and ``base_dir``, the directory relative paths were resolved
    against.  Shared by every node of the tree."""

    __slots__ = ("name", "text", "base_dir", "_line_starts", "_first_offsets")

    def __init__(self, name: str, text: str, base_dir: str) -> None:
        self.name = name
        self.text = text
        self.base_dir = base_dir
        self._line_starts: list[int] | None = None
        self._first_offsets: dict[str, int] | None = None

    def __getstate__(self):
        return (self.name, self.text, self.base_dir)

    def __setstate__(self, state) -> None:
        self.name, self.text, self.base_dir = state
        self._line_starts = None
        self._first_offsets = None

    def first_offsets(self) -> dict[str, int]:
        """Each identifier-shaped word of the text → the offset where it first occurs
        (anywhere: code, strings, comments).  The evaluator orders a frame's slots by
        it (Nix's symbol order); a scan of the whole text, so the parse cache keeps it."""
        offsets = self._first_offsets
        if offsets is None:
            offsets = self._first_offsets = {}
            for m in _IDENTIFIER.finditer(self.text):
                offsets.setdefault(m.group(), m.start())
        return offsets

    def line_col(self, off: int) -> tuple[int, int]:
        """1-based line and column (in UTF-8 bytes, as Nix counts) of character ``off``."""
        starts = self._line_starts
        if starts is None:
            text = self.text
            starts = [0]
            find = text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._line_starts = starts
        line = bisect_right(starts, off)
        start = starts[line - 1]
        prefix = self.text[start:off]
        if prefix.isascii():
            return line, off - start + 1
        return line, len(prefix.encode("utf-8", "surrogateescape")) + 1

    def pos(self, off: int) -> Pos:
        line, col = self.line_col(off)
        return Pos(self.name, line, col, source=self.text)

    def __repr__(self) -> str:
        return f"Source({self.name!r})"


class Expr:
    """Base of all expression nodes: ``src`` (:class:`Source`) and ``off`` (offset)."""

    __slots__ = ("src", "off")

    # Constructor arguments in order, so a node pickles as ``cls(*args)``: the parse
    # cache loads such nodes several times faster than pickle's default slot state.
    _fields: tuple[str, ...] = ("src", "off")

    def __reduce__(self):
        return (type(self), tuple([getattr(self, name) for name in self._fields]))

    @property
    def pos(self) -> Pos:
        return self.src.pos(self.off)

    @property
    def line(self) -> int:
        return self.src.line_col(self.off)[0]

    @property
    def col(self) -> int:
        return self.src.line_col(self.off)[1]

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name, None)!r}"
            for cls in type(self).__mro__[:-2]
            for name in cls.__slots__
        )
        return f"{type(self).__name__}({fields})"


class Int(Expr):
    """Integer literal. ``value``: int (fits in 64 bits)."""

    __slots__ = ("value",)
    _fields = ("src", "off", "value")

    def __init__(self, src: Source, off: int, value: int) -> None:
        self.src = src
        self.off = off
        self.value = value


class Float(Expr):
    """Float literal. ``value``: float."""

    __slots__ = ("value",)
    _fields = ("src", "off", "value")

    def __init__(self, src: Source, off: int, value: float) -> None:
        self.src = src
        self.off = off
        self.value = value


class Str(Expr):
    """String without interpolation, also a URI literal or a literal piece of a
    :class:`StrInterp`/:class:`PathInterp`. ``value``: str (escapes already decoded)."""

    __slots__ = ("value",)
    _fields = ("src", "off", "value")

    def __init__(self, src: Source, off: int, value: str) -> None:
        self.src = src
        self.off = off
        self.value = value


class Path(Expr):
    """Path literal. ``value``: the absolute path as Nix makes it at parse time
    (``./a`` against ``src.base_dir``, ``~/a`` against ``$HOME``, canonicalised)."""

    __slots__ = ("value",)
    _fields = ("src", "off", "value")

    def __init__(self, src: Source, off: int, value: str) -> None:
        self.src = src
        self.off = off
        self.value = value


class StrInterp(Expr):
    """String with interpolation (``"a${b}"``, ``''a${b}''``): Nix's ConcatStrings with
    forceString.  ``parts``: list of Expr; literal pieces are :class:`Str`."""

    __slots__ = ("parts",)
    _fields = ("src", "off", "parts")

    def __init__(self, src: Source, off: int, parts: list) -> None:
        self.src = src
        self.off = off
        self.parts = parts


class PathInterp(Expr):
    """Path with interpolation (``./a/${b}``): ``parts[0]`` is a :class:`Path`, the rest
    are :class:`Str` pieces and interpolated Exprs; the result is a path."""

    __slots__ = ("parts",)
    _fields = ("src", "off", "parts")

    def __init__(self, src: Source, off: int, parts: list) -> None:
        self.src = src
        self.off = off
        self.parts = parts


class Var(Expr):
    """Variable reference. ``name``: str.

    resolver: ``level`` and ``index`` — see ``nixlite.resolve`` for the contract
    (lexical slot, global, or dynamic lookup through ``withs``)."""

    __slots__ = ("name", "level", "index", "withs")
    _fields = ("src", "off", "name", "level", "index", "withs")

    def __init__(self, src: Source, off: int, name: str, level: int = -1, index: int = -1,
                 withs: tuple | None = None) -> None:
        self.src = src
        self.off = off
        self.name = name
        self.level = level
        self.index = index
        self.withs = withs


class CurPos(Expr):
    """``__curPos``: evaluates to ``{ file, line, column }`` of itself."""

    __slots__ = ()
    _fields = ("src", "off")

    def __init__(self, src: Source, off: int) -> None:
        self.src = src
        self.off = off


class Select(Expr):
    """``expr.a.b or default``. ``expr``: Expr; ``path``: list of ``str | Expr``;
    ``default``: Expr or None."""

    __slots__ = ("expr", "path", "default")
    _fields = ("src", "off", "expr", "path", "default")

    def __init__(self, src: Source, off: int, expr: Expr, path: list, default: Expr | None) -> None:
        self.src = src
        self.off = off
        self.expr = expr
        self.path = path
        self.default = default


class HasAttr(Expr):
    """``expr ? a.b``. ``expr``: Expr; ``path``: list of ``str | Expr``. Position: ``?``."""

    __slots__ = ("expr", "path")
    _fields = ("src", "off", "expr", "path")

    def __init__(self, src: Source, off: int, expr: Expr, path: list) -> None:
        self.src = src
        self.off = off
        self.expr = expr
        self.path = path


# AttrDef.kind values
PLAIN = 0  # a = e;  value scoped like the set's other values
INHERITED = 1  # inherit a;  value is Var(a) resolved in the scope *enclosing* the set/let
INHERITED_FROM = 2  # inherit (e) a;  value is Select(InheritFrom(i), ["a"])


class AttrDef:
    """One static attribute of a set or ``let``: ``name`` (str), ``value`` (Expr),
    ``kind`` (PLAIN, INHERITED, INHERITED_FROM); located like an Expr (``src``/``off``:
    start of the attribute path, or the inherited name)."""

    __slots__ = ("name", "value", "kind", "src", "off")
    _fields = ("src", "off", "name", "value", "kind")

    def __init__(self, src: Source, off: int, name: str, value: Expr, kind: int = PLAIN) -> None:
        self.src = src
        self.off = off
        self.name = name
        self.value = value
        self.kind = kind

    pos = Expr.pos
    line = Expr.line
    col = Expr.col
    __reduce__ = Expr.__reduce__

    def __repr__(self) -> str:
        return f"AttrDef({self.name!r}, {self.value!r}, kind={self.kind})"


class DynAttr:
    """A dynamic attribute ``${name} = value;`` / ``"a${b}" = value;`` of a set:
    ``name`` (Expr evaluating to a string or null), ``value`` (Expr); located at the
    start of the attribute path."""

    __slots__ = ("name", "value", "src", "off")
    _fields = ("src", "off", "name", "value")

    def __init__(self, src: Source, off: int, name: Expr, value: Expr) -> None:
        self.src = src
        self.off = off
        self.name = name
        self.value = value

    pos = Expr.pos
    line = Expr.line
    col = Expr.col
    __reduce__ = Expr.__reduce__

    def __repr__(self) -> str:
        return f"DynAttr({self.name!r}, {self.value!r})"


class InheritFrom(Expr):
    """The source of ``inherit (e) …``: ``index`` into ``inherit_from`` of the
    :class:`Attrs`/:class:`Let` whose AttrDef value (``Select(InheritFrom(i), [name])``)
    contains it.  Evaluate each ``inherit_from`` expression once and share it."""

    __slots__ = ("index",)
    _fields = ("src", "off", "index")

    def __init__(self, src: Source, off: int, index: int) -> None:
        self.src = src
        self.off = off
        self.index = index


class Attrs(Expr):
    """Attribute set ``{ … }`` / ``rec { … }``.

    ``rec``: bool; ``attrs``: dict name -> :class:`AttrDef` in definition order;
    ``dynamic``: list of :class:`DynAttr`; ``inherit_from``: list of Expr (the ``e`` of
    each ``inherit (e)``, scoped inside the set when ``rec``, else outside).

    resolver: ``slots`` — tuple of names of the frame a ``rec`` set opens (None when not
    ``rec``)."""

    __slots__ = ("rec", "attrs", "dynamic", "inherit_from", "slots")
    _fields = ("src", "off", "rec", "attrs", "dynamic", "inherit_from", "slots")

    def __init__(self, src: Source, off: int, rec: bool = False, attrs: dict | None = None,
                 dynamic: list | None = None, inherit_from: list | None = None,
                 slots: tuple | None = None) -> None:
        self.src = src
        self.off = off
        self.rec = rec
        self.attrs: dict[str, AttrDef] = {} if attrs is None else attrs
        self.dynamic: list[DynAttr] = [] if dynamic is None else dynamic
        self.inherit_from: list[Expr] = [] if inherit_from is None else inherit_from
        self.slots = slots


class List(Expr):
    """List ``[ … ]``. ``elems``: list of Expr."""

    __slots__ = ("elems",)
    _fields = ("src", "off", "elems")

    def __init__(self, src: Source, off: int, elems: list) -> None:
        self.src = src
        self.off = off
        self.elems = elems


class Formal:
    """One formal argument of a :class:`Lambda`: ``name`` (str), ``default`` (Expr or
    None); located at the name."""

    __slots__ = ("name", "default", "src", "off")
    _fields = ("src", "off", "name", "default")

    def __init__(self, src: Source, off: int, name: str, default: Expr | None) -> None:
        self.src = src
        self.off = off
        self.name = name
        self.default = default

    pos = Expr.pos
    line = Expr.line
    col = Expr.col
    __reduce__ = Expr.__reduce__

    def __repr__(self) -> str:
        return f"Formal({self.name!r}, {self.default!r})"


class DeferredBody:
    """A function body not read yet: ``loader(index, src)`` reads it (the parse cache
    stores large bodies apart, see ``nixlite.syntax.treefile``, so that loading a file
    costs only what is used)."""

    __slots__ = ("loader", "index")

    def __init__(self, loader, index: int) -> None:
        self.loader = loader
        self.index = index


class Lambda(Expr):
    """Function. ``arg``: the plain or ``@``-bound name (str) or None; ``formals``: list
    of :class:`Formal` in source order, or None for ``x: …``; ``ellipsis``: bool;
    ``body``: Expr (read on first use when it is a :class:`DeferredBody`); ``name``: the
    attribute name it was bound to, if any (for errors).

    resolver: ``slots`` — ``arg`` first (when present), then the formals' names."""

    __slots__ = ("arg", "formals", "ellipsis", "_body", "name", "slots")
    _fields = ("src", "off", "arg", "formals", "ellipsis", "body", "name", "slots")

    def __init__(self, src: Source, off: int, arg: str | None, formals: list | None,
                 ellipsis: bool, body: Expr | DeferredBody, name: str | None = None,
                 slots: tuple | None = None) -> None:
        self.src = src
        self.off = off
        self.arg = arg
        self.formals = formals
        self.ellipsis = ellipsis
        self._body = body
        self.name = name
        self.slots = slots

    @property
    def body(self) -> Expr:
        body = self._body
        if type(body) is DeferredBody:
            body = self._body = body.loader(body.index, self.src)
        return body

    @body.setter
    def body(self, value: Expr) -> None:
        self._body = value


class Call(Expr):
    """Function application ``fn a b``: ``fn`` (Expr), ``args`` (list of Expr, ≥ 1)."""

    __slots__ = ("fn", "args")
    _fields = ("src", "off", "fn", "args")

    def __init__(self, src: Source, off: int, fn: Expr, args: list) -> None:
        self.src = src
        self.off = off
        self.fn = fn
        self.args = args


class Let(Expr):
    """``let … in body``: ``attrs`` (dict name -> :class:`AttrDef`), ``inherit_from``
    (as for :class:`Attrs`, scoped inside the let), ``body`` (Expr).

    resolver: ``slots`` — tuple of the bound names (order of ``attrs``)."""

    __slots__ = ("attrs", "inherit_from", "body", "slots")
    _fields = ("src", "off", "attrs", "inherit_from", "body", "slots")

    def __init__(self, src: Source, off: int, attrs: dict, inherit_from: list, body: Expr,
                 slots: tuple | None = None) -> None:
        self.src = src
        self.off = off
        self.attrs = attrs
        self.inherit_from = inherit_from
        self.body = body
        self.slots = slots


class With(Expr):
    """``with attrs; body``: ``attrs`` (Expr, scoped outside), ``body`` (Expr).

    resolver: opens a frame of one slot (the set) — see ``nixlite.resolve``."""

    __slots__ = ("attrs", "body", "slots")
    _fields = ("src", "off", "attrs", "body", "slots")

    def __init__(self, src: Source, off: int, attrs: Expr, body: Expr,
                 slots: tuple | None = None) -> None:
        self.src = src
        self.off = off
        self.attrs = attrs
        self.body = body
        self.slots = slots


class Assert(Expr):
    """``assert cond; body``."""

    __slots__ = ("cond", "body")
    _fields = ("src", "off", "cond", "body")

    def __init__(self, src: Source, off: int, cond: Expr, body: Expr) -> None:
        self.src = src
        self.off = off
        self.cond = cond
        self.body = body


class If(Expr):
    """``if cond then then_ else else_``."""

    __slots__ = ("cond", "then", "else_")
    _fields = ("src", "off", "cond", "then", "else_")

    def __init__(self, src: Source, off: int, cond: Expr, then: Expr, else_: Expr) -> None:
        self.src = src
        self.off = off
        self.cond = cond
        self.then = then
        self.else_ = else_


class Not(Expr):
    """``! expr``."""

    __slots__ = ("expr",)
    _fields = ("src", "off", "expr")

    def __init__(self, src: Source, off: int, expr: Expr) -> None:
        self.src = src
        self.off = off
        self.expr = expr


class Neg(Expr):
    """Unary ``- expr``; Nix's ``__sub 0 expr``. ``fn``: the :class:`Var` ``__sub``."""

    __slots__ = ("expr", "fn")
    _fields = ("src", "off", "expr", "fn")

    def __init__(self, src: Source, off: int, expr: Expr, fn: Var) -> None:
        self.src = src
        self.off = off
        self.expr = expr
        self.fn = fn


# Operators Nix desugars into calls, and the variable each calls.  ``<=``/``>=`` are
# ``! (__lessThan b a)`` / ``! (__lessThan a b)``; ``>`` is ``__lessThan b a``.
OP_FUNCTIONS = {
    "-": "__sub", "*": "__mul", "/": "__div",
    "<": "__lessThan", ">": "__lessThan", "<=": "__lessThan", ">=": "__lessThan",
}
# Operators whose Nix form is itself a call (so Nix's makeCall extends it: `(a - b) c`).
CALL_OPS = frozenset(("-", "*", "/", "<", ">"))


class BinOp(Expr):
    """Binary operator: ``op`` is one of ``== != && || -> // ++ + - * / < > <= >=``;
    ``left``, ``right``: Expr; ``fn``: for the operators in ``OP_FUNCTIONS`` the
    :class:`Var` Nix calls (``__sub``, ``__mul``, ``__div``, ``__lessThan``), else None.
    Position: the operator token."""

    __slots__ = ("op", "left", "right", "fn")
    _fields = ("src", "off", "op", "left", "right", "fn")

    def __init__(self, src: Source, off: int, op: str, left: Expr, right: Expr,
                 fn: Var | None = None) -> None:
        self.src = src
        self.off = off
        self.op = op
        self.left = left
        self.right = right
        self.fn = fn


def walk(tree: Expr):
    """Every node below and including ``tree`` (expressions, ``AttrDef``, ``DynAttr``,
    ``Formal``), depth first; deferred function bodies are read on the way."""
    node_types = (Expr, AttrDef, DynAttr, Formal)
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, node_types):
            yield item
            stack.extend(getattr(item, name) for name in item._fields[2:])
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
