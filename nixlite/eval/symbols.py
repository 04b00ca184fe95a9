"""The order in which Nix fills the slots of a ``let``/``rec`` frame.

Nix stores bindings sorted by *symbol*, and symbols are numbered in the order
they are first interned: the names Nix creates at start-up (its own attribute
names and every builtin), then identifiers in the order the parser meets
them.  Slots are filled in that order, and a variable referring to a slot not
filled yet gets a thunk instead of sharing the value — which is visible in
what ``nix-instantiate --eval`` prints (``<CODE>`` or the value).
"""

from __future__ import annotations

from nixlite.resolve.globals import GLOBAL_NAMES

# EvalState's own symbols, created before any file is parsed.
_STARTUP = (
    "with", "outPath", "drvPath", "type", "meta", "name", "value", "system", "__overrides",
    "outputs", "outputName", "__ignoreNulls", "file", "line", "column", "__functor",
    "__toString", "right", "wrong", "__structuredAttrs", "allowedReferences",
    "allowedRequisites", "disallowedReferences", "disallowedRequisites", "maxSize",
    "maxClosureSize", "builder", "args", "__contentAddressed", "__impure", "outputHash",
    "outputHashAlgo", "outputHashMode", "recurseForDerivations", "description", "self", "",
    "startSet", "operator", "key", "path", "prefix", "outputSpecified",
)

# Identifiers of derivation.nix, which Nix parses at the end of start-up.
_DERIVATION_NIX = (
    "drvAttrs", "outputs", "strict", "derivationStrict", "commonAttrs", "builtins",
    "listToAttrs", "outputsList", "all", "map", "x", "outputToAttrListElement",
    "outputName", "getAttr", "head",
)

_PREDEFINED: dict[str, int] = {}
for _name in (_STARTUP + GLOBAL_NAMES + tuple(n[2:] for n in GLOBAL_NAMES if n.startswith("__"))
              + _DERIVATION_NIX):
    _PREDEFINED.setdefault(_name, len(_PREDEFINED))

def symbol_rank(name: str, src, fallback_offset: int) -> tuple[int, int]:
    """Sort key approximating Nix's symbol number for ``name`` in ``src``."""
    p = _PREDEFINED.get(name)
    if p is not None:
        return (0, p)
    return (1, src.first_offsets().get(name, fallback_offset))
