"""Stage 2: bind every variable statically, as Nix's ``bindVars`` does.

``resolve(expr)`` walks a tree from ``nixlite.syntax`` once, annotates it in place and
returns it (``parse_file(path)`` / ``parse_cached(text, file, base_dir)`` give resolved
trees through the on-disk parse cache).  It raises
``NixliteError("undefined variable 'y'", pos)`` for a variable that is bound nowhere and
has no enclosing ``with`` (Nix reports this before evaluating).

Annotation contract (read by the compiler):

Frames.  Four nodes open a runtime frame (an environment of slots); every other node
evaluates in the frame of its parent.  Each sets ``node.slots`` to the tuple of its slot
names, in slot order:

* ``Lambda``: ``arg`` first when present (plain ``x:`` or the ``@`` name), then the
  formals in source order.  Formal defaults and the body run in this frame, so defaults
  see each other and the ``@`` name.
* ``Let``: the names of ``let.attrs`` in dict order.  Values of PLAIN attrs, every
  ``inherit_from`` expression and the body run in this frame.
* ``Attrs`` with ``rec``: the names of ``attrs`` in dict order.  PLAIN values, dynamic
  names and values and ``inherit_from`` expressions run in this frame.  A non-rec set
  opens no frame (``slots`` stays None): all its parts run in the enclosing frame.
* ``With``: ``("<with>",)`` — one slot holding the (lazy) set.  ``with.attrs`` runs in
  the enclosing frame, the body in this one.

The value of an INHERITED ``AttrDef`` (a ``Var``) of a ``Let``/rec ``Attrs`` is resolved in
the frame *enclosing* that let/set, and must be compiled in it; an INHERITED_FROM value
(``Select(InheritFrom(i), [name])``) refers to ``inherit_from[i]`` of the same let/set,
evaluated once and shared.

Variables.  Each ``Var`` (including the ``fn`` of ``BinOp``/``Neg``) gets:

* lexical: ``level`` ≥ 0 frames up from the frame it is evaluated in (0 = that frame),
  ``index`` = slot in that frame; ``withs`` is None.
* global: ``level == GLOBAL`` and ``index`` into ``globals.GLOBAL_NAMES``.  Lexical
  bindings shadow globals; ``with`` never shadows a lexical or global binding.
* dynamic: ``level == DYNAMIC``, ``index == -1`` and ``withs`` = tuple of the levels of the
  enclosing ``With`` frames, innermost first: look the name up in each with's set in that
  order; if none has it, evaluation fails with ``undefined variable 'NAME'``.

Levels count every frame (including ``With`` frames) between the use and the binding.
"""

from __future__ import annotations

import sys

from nixlite.errors import NixliteError
from nixlite.resolve.globals import GLOBAL_INDEX, GLOBAL_NAMES
from nixlite.syntax import ast as A

__all__ = ["resolve", "parse_file", "parse_cached", "GLOBAL", "DYNAMIC", "WITH_SLOTS",
           "GLOBAL_NAMES"]

# Nesting depth the tree walks allow (Nix parses 400 000 nested lists).
MAX_DEPTH = 250_000

GLOBAL = -2
DYNAMIC = -1
WITH_SLOTS = ("<with>",)


_WITHS: dict[tuple, tuple] = {}


class _Scope:
    """One static frame: ``names`` maps a name to its slot (None for a with frame)."""

    __slots__ = ("names", "parent")

    def __init__(self, names: dict[str, int] | None, parent: _Scope | None) -> None:
        self.names = names
        self.parent = parent


def resolve(expr: A.Expr) -> A.Expr:
    """Annotate ``expr`` in place (see the module docstring) and return it."""
    # The walk recurses once per nesting level, in Python frames only (no C stack on
    # 3.11), so deep but real expressions (`a + b + … ` with thousands of terms) fit.
    limit = sys.getrecursionlimit()
    if limit < MAX_DEPTH:
        sys.setrecursionlimit(MAX_DEPTH)
    try:
        _resolve(expr, None)
    except RecursionError:
        raise NixliteError("stack overflow (possible infinite recursion)") from None
    finally:
        sys.setrecursionlimit(limit)
    return expr


def parse_file(path: str) -> A.Expr:
    """The resolved tree of the file at ``path``, through the parse cache."""
    from nixlite.syntax.cache import parse_file as _parse_file

    return _parse_file(path, finish=resolve)


def parse_cached(text: str, file: str, base_dir: str) -> A.Expr:
    """The resolved tree of ``text`` read from ``file``, through the parse cache."""
    from nixlite.syntax.cache import parse_cached as _parse_cached

    return _parse_cached(text, file, base_dir, finish=resolve)


def _bind_var(var: A.Var, scope: _Scope | None) -> None:
    name = var.name
    level = 0
    withs = None
    while scope is not None:
        names = scope.names
        if names is None:
            if withs is None:
                withs = [level]
            else:
                withs.append(level)
        else:
            index = names.get(name)
            if index is not None:
                var.level = level
                var.index = index
                return
        scope = scope.parent
        level += 1
    index = GLOBAL_INDEX.get(name)
    if index is not None:
        var.level = GLOBAL
        var.index = index
        return
    if withs is None:
        raise NixliteError(f"undefined variable '{name}'", var.pos)
    var.level = DYNAMIC
    var.index = -1
    key = tuple(withs)
    var.withs = _WITHS.setdefault(key, key)  # shared: smaller, faster cache entries


def _resolve_path(path: list, scope: _Scope | None) -> None:
    for item in path:
        if not isinstance(item, str):
            _resolve(item, scope)


def _resolve_bindings(node, attrs: dict, inner: _Scope | None, outer: _Scope | None) -> None:
    # Nix's order: the shared ``inherit (e)`` sources first, then the attributes.
    for e in node.inherit_from:
        _resolve(e, inner)
    for d in attrs.values():
        kind = d.kind
        if kind == A.PLAIN:
            _resolve(d.value, inner)
        elif kind == A.INHERITED:
            _bind_var(d.value, outer)
        # INHERITED_FROM: the shared source was resolved through ``inherit_from``


def _resolve(e: A.Expr, scope: _Scope | None) -> None:
    # Iterate down single-child chains to keep recursion shallow on long spines.
    while True:
        t = type(e)
        if t is A.Var:
            _bind_var(e, scope)
            return
        if t is A.Call:
            _resolve(e.fn, scope)
            for a in e.args:
                _resolve(a, scope)
            return
        if t is A.Select:
            # Nix's order (which undefined variable is reported first): e, default, path.
            _resolve(e.expr, scope)
            if e.default is not None:
                _resolve(e.default, scope)
            _resolve_path(e.path, scope)
            return
        if t is A.BinOp:
            if e.fn is not None:
                _bind_var(e.fn, scope)
            if e.op == ">" or e.op == "<=":  # Nix calls __lessThan with swapped operands
                _resolve(e.right, scope)
                e = e.left
            else:
                _resolve(e.left, scope)
                e = e.right
            continue
        if t is A.Attrs:
            if e.rec:
                names = {name: i for i, name in enumerate(e.attrs)}
                e.slots = tuple(names)
                inner = _Scope(names, scope)
            else:
                inner = scope
            _resolve_bindings(e, e.attrs, inner, scope)
            for d in e.dynamic:
                _resolve(d.name, inner)
                _resolve(d.value, inner)
            return
        if t is A.Lambda:
            names: dict[str, int] = {}
            if e.arg is not None:
                names[e.arg] = 0
            if e.formals is not None:
                for f in e.formals:
                    names[f.name] = len(names)
            e.slots = tuple(names)
            inner = _Scope(names, scope)
            if e.formals is not None:
                for f in e.formals:
                    if f.default is not None:
                        _resolve(f.default, inner)
            e = e.body
            scope = inner
            continue
        if t is A.Let:
            names = {name: i for i, name in enumerate(e.attrs)}
            e.slots = tuple(names)
            inner = _Scope(names, scope)
            _resolve_bindings(e, e.attrs, inner, scope)
            e = e.body
            scope = inner
            continue
        if t is A.With:
            _resolve(e.attrs, scope)
            e.slots = WITH_SLOTS
            scope = _Scope(None, scope)
            e = e.body
            continue
        if t is A.List:
            for x in e.elems:
                _resolve(x, scope)
            return
        if t is A.StrInterp or t is A.PathInterp:
            for x in e.parts:
                _resolve(x, scope)
            return
        if t is A.If:
            _resolve(e.cond, scope)
            _resolve(e.then, scope)
            e = e.else_
            continue
        if t is A.Not:
            e = e.expr
            continue
        if t is A.Neg:
            _bind_var(e.fn, scope)
            e = e.expr
            continue
        if t is A.HasAttr:
            _resolve(e.expr, scope)
            _resolve_path(e.path, scope)
            return
        if t is A.Assert:
            _resolve(e.cond, scope)
            e = e.body
            continue
        # Int, Float, Str, Path, CurPos, InheritFrom: nothing to bind
        return
