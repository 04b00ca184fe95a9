"""The builtin registry: every ``builtins.*`` function and constant.

Adding a builtin: put a module in this package (it is imported automatically,
no need to edit this file) and decorate a function::

    from nixlite.eval.builtins import builtin
    from nixlite.eval.values import force_list, force_int

    @builtin("elemAt", 2)
    def elem_at(xs, n):
        ...

The function receives exactly ``arity`` arguments, **unforced** (each a value
or a ``Thunk``); it forces what Nix forces, in Nix's order, and returns a value
or a thunk (the caller forces it).  Raise ``EvalError`` subclasses from
``nixlite.eval.values`` without a position: the call site adds it.  With
``state=True`` the function gets the ``nixlite.eval.state.EvalState`` first
(I/O interface, search path, options), bound when the state makes its
builtins — use it for anything that touches the file system or store
(including coercing a path to a string, which copies it to the store).

Constants (``builtins.nixVersion``…) use ``@constant(name)`` on a function of
no argument (or of the state, with ``state=True``); it is called lazily when
the builtins set is built for an evaluation.

Names are registered without the ``builtins.`` prefix.  Which ones are also
visible unqualified (``map``, ``toString``, ``__add``…) follows Nix's base
environment (``nixlite.resolve.globals``), handled by ``make_builtins``.
"""

from __future__ import annotations

import importlib
import os


class BuiltinSpec:
    """One registered builtin: ``arity`` 0 means a constant."""

    __slots__ = ("name", "arity", "fn", "wants_state")

    def __init__(self, name: str, arity: int, fn, wants_state: bool) -> None:
        self.name = name
        self.arity = arity
        self.fn = fn
        self.wants_state = wants_state

    def __repr__(self) -> str:
        return f"BuiltinSpec({self.name!r}, {self.arity})"


REGISTRY: dict[str, BuiltinSpec] = {}


def builtin(name: str, arity: int, state: bool = False):
    """Register ``fn`` as ``builtins.<name>`` taking ``arity`` unforced arguments."""
    if arity < 1:
        raise ValueError("use @constant for arity 0")

    def deco(fn):
        REGISTRY[name] = BuiltinSpec(name, arity, fn, state)
        return fn

    return deco


def constant(name: str, state: bool = False):
    """Register a non-function ``builtins.<name>``, computed lazily per evaluation."""

    def deco(fn):
        REGISTRY[name] = BuiltinSpec(name, 0, fn, state)
        return fn

    return deco


_loaded = False


def load_all() -> dict[str, BuiltinSpec]:
    """Import every module of this package once, so their decorators run.

    (A directory listing rather than pkgutil, which is slow to import: this
    runs on every ``nixlite eval`` start.)"""
    global _loaded
    if not _loaded:
        names = set()
        for directory in __path__:
            for entry in os.listdir(directory):
                if entry.endswith(".py") and entry != "__init__.py":
                    names.add(entry[:-3])
        for name in sorted(names):
            importlib.import_module(f"{__name__}.{name}")
        _loaded = True
    return REGISTRY
