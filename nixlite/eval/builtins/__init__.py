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
(I/O interface, search path, options) — use it for anything that touches the
file system or store.

Constants (``builtins.nixVersion``…) use ``@constant(name)`` on a function of
no argument (or of the state, with ``state=True``); it is called lazily when
the builtins set is built for an evaluation.

Names are registered without the ``builtins.`` prefix.  Which ones are also
visible unqualified (``map``, ``toString``, ``__add``…) follows Nix's base
environment (``nixlite.resolve.globals``), handled by ``make_builtins``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True, slots=True)
class BuiltinSpec:
    name: str
    arity: int  # 0 for a constant
    fn: Callable
    wants_state: bool


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
    """Import every module of this package once, so their decorators run."""
    global _loaded
    if not _loaded:
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True
    return REGISTRY
