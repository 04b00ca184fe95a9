"""String-context builtins: inspect, add and discard the store references of strings.

Context elements use Nix's encoding: ``/nix/store/p`` (a plain store path),
``=/nix/store/d.drv`` (a derivation and its whole closure) and
``!out!/nix/store/d.drv`` (one output of a derivation).
"""

from __future__ import annotations

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import coerce_arg
from nixlite.eval.values import (
    Attrs,
    CStr,
    EvalError,
    ctx_of,
    force_attrs,
    force_bool,
    force_list,
    force_str,
    force_str_noctx,
    mkstr,
)
from nixlite.store.paths import is_store_path


@builtin("hasContext", 1)
def has_context(s):
    return type(force_str(s)) is CStr


# These two coerce their argument (sets with outPath or __toString, paths), as
# Nix's coerceToString does; they do not require a string.

@builtin("unsafeDiscardStringContext", 1, state=True)
def unsafe_discard_string_context(state, s):
    return str.__str__(coerce_arg(s, "while evaluating the argument passed to "
                                     "builtins.unsafeDiscardStringContext", copy_to_store=state.io))


@builtin("unsafeDiscardOutputDependency", 1, state=True)
def unsafe_discard_output_dependency(state, s):
    s = coerce_arg(s, "while evaluating the argument passed to builtins.unsafeDiscardOutputDependency",
                   copy_to_store=state.io)
    return mkstr(str.__str__(s), {e[1:] if e[0] == "=" else e for e in ctx_of(s)})


@builtin("addDrvOutputDependencies", 1)
def add_drv_output_dependencies(s):
    """Today's Nix (2.19+): turn the single plain ``.drv`` context into a deep one."""
    s = force_str(s)
    ctx = ctx_of(s)
    if len(ctx) != 1:
        raise EvalError(f"context of string '{s}' must have exactly one element, but has {len(ctx)}")
    (elem,) = ctx
    if elem[0] == "!":
        output, _, drv = elem[1:].partition("!")
        raise EvalError(
            f"`addDrvOutputDependencies` can only act on derivations, not on a derivation output "
            f"such as '{output}'")
    if elem[0] == "=":
        return s
    if not elem.endswith(".drv"):
        raise EvalError(f"path '{elem}' is not a derivation")
    return CStr(str.__str__(s), frozenset(("=" + elem,)))


@builtin("getContext", 1)
def get_context(s):
    info: dict[str, dict] = {}
    for elem in sorted(ctx_of(force_str(s))):
        if elem[0] == "=":
            info.setdefault(elem[1:], {})["allOutputs"] = True
        elif elem[0] == "!":
            output, _, drv = elem[1:].partition("!")
            info.setdefault(drv, {}).setdefault("outputs", []).append(output)
        else:
            info.setdefault(elem, {})["path"] = True
    out = Attrs()
    for path in sorted(info):
        entry = info[path]
        a = Attrs()
        for k in ("allOutputs", "outputs", "path"):
            if k in entry:
                a[k] = entry[k]
        out[path] = a
    return out


@builtin("appendContext", 2, state=True)
def append_context(state, s, additions):
    s = force_str(s)
    ctx = set(ctx_of(s))
    adds = force_attrs(additions)
    store = state.io.store
    for name in sorted(adds):
        if not is_store_path(name, store.store_dir):
            # Nix 2.8 prints the attribute name quoted inside the quotes
            raise EvalError(f"Context key '\"{name}\"' is not a store path").at(adds.attr_pos(name))
        if state.read_write and not store.is_valid(name):
            raise EvalError(f"path '{name}' does not exist and cannot be created")
        spec = force_attrs(adds[name])
        if "path" in spec and force_bool(spec["path"]):
            ctx.add(name)
        if "allOutputs" in spec and force_bool(spec["allOutputs"]):
            if not name.endswith(".drv"):
                raise EvalError(f"Tried to add all-outputs context of {name}, which is not a "
                                "derivation, to a string")
            ctx.add("=" + name)
        if "outputs" in spec:
            outs = force_list(spec["outputs"])
            if outs and not name.endswith(".drv"):
                raise EvalError(f"Tried to add derivation output context of {name}, which is "
                                "not a derivation, to a string")
            for o in outs:
                ctx.add(f"!{force_str_noctx(o)}!{name}")
    return mkstr(str.__str__(s), ctx)
