"""What commands need around evaluation: auto-calling, ``-A`` paths, printing.

Mirrors ``nix-instantiate --eval``: ``findAlongAttrPath`` (auto-calling
functions on the way), ``autoCallFunction`` (``--arg``/``--argstr`` and
defaults) and the three output formats.
"""

from __future__ import annotations

from nixlite.eval.values import (
    Attrs,
    EvalError,
    Lambda,
    call,
    deep_force,
    force,
    type_name,
)


def auto_call(v, args: Attrs):
    """Call a top-level function with ``args`` as Nix's ``autoCallFunction`` does."""
    v = force(v)
    if type(v) is Attrs and "__functor" in v:
        return auto_call(call(v["__functor"], v), args)
    if type(v) is not Lambda or v.formals is None:
        return v
    actual = Attrs()
    if v.ellipsis:
        actual.update(args)
    for name, has_default in v.formals:
        if name in args:
            actual[name] = args[name]
        elif not has_default:
            raise EvalError(
                f"cannot evaluate a function that has an argument without a value ('{name}')\n"
                "       Nix attempted to evaluate a function as a top level expression; in\n"
                "       this case it must have its arguments supplied either by default\n"
                "       values, or passed explicitly with '--arg' or '--argstr'. See\n"
                "       https://nixos.org/manual/nix/stable/language/constructs.html#functions.",
                _formal_pos(v, name),
            )
    return v.fn(actual)


def _formal_pos(f: Lambda, name: str):
    node = f.where
    for formal in getattr(node, "formals", None) or ():
        if formal.name == name:
            return formal.pos
    return f.pos


def parse_attr_path(path: str) -> list[str]:
    """Nix's ``parseAttrPath``: dot-separated, ``"…"`` quoting allowed."""
    out: list[str] = []
    cur = ""
    i = 0
    while i < len(path):
        c = path[i]
        if c == ".":
            out.append(cur)
            cur = ""
        elif c == '"':
            i += 1
            while True:
                if i >= len(path):
                    raise EvalError(f"missing closing quote in selection path '{path}'")
                if path[i] == '"':
                    break
                cur += path[i]
                i += 1
        else:
            cur += c
        i += 1
    if cur:  # as in Nix, a trailing dot selects nothing more
        out.append(cur)
    return out


def find_along_attr_path(v, attr_path: str, auto_args: Attrs):
    """Follow ``-A attr.path``, auto-calling functions along the way."""
    for key in parse_attr_path(attr_path):
        if not key:
            raise EvalError(f"empty attribute name in selection path '{attr_path}'")
        v = auto_call(v, auto_args)
        v = force(v)
        if key.isdigit() or (key.startswith("-") and key[1:].isdigit()):
            index = int(key)
            if type(v) is not list:
                raise EvalError(
                    f"the expression selected by the selection path '{attr_path}' should be a "
                    f"list but is {type_name(v)}")
            if not 0 <= index < len(v):
                raise EvalError(f"list index {index} in selection path '{attr_path}' is out of range")
            v = v[index]
        else:
            if type(v) is not Attrs:
                raise EvalError(
                    f"the expression selected by the selection path '{attr_path}' should be a set "
                    f"but is {type_name(v)}")
            if key not in v:
                from nixlite.eval.suggest import missing_attribute

                message, hint = missing_attribute(
                    key, v, f"attribute '{key}' in selection path '{attr_path}' not found")
                exc = EvalError(message)
                exc.hint = hint
                raise exc
            v = v[key]
    return v


def print_result(v, *, strict: bool, json: bool = False, xml: bool = False,
                 location: bool = True) -> str:
    """The text ``nix-instantiate --eval`` writes for a value (with trailing newline)."""
    if xml:
        from nixlite.eval.builtins.xml import to_xml

        return to_xml(v, location, strict=strict)
    if json:
        from nixlite.eval.builtins.json import to_json

        out: list[str] = []
        closers: list[str] = []
        try:
            _json_walk(v, out, closers, strict)
        except EvalError as exc:
            exc.partial_output = "".join(out) + "".join(reversed(closers))
            raise
        # Today's nix-instantiate ends JSON output with a newline (2.8 did not).
        return "".join(out) + "\n"
    from nixlite.eval.printer import print_ambiguous

    if strict:
        deep_force(v)
    return print_ambiguous(v) + "\n"


def _json_walk(v, out: list[str], closers: list[str], strict: bool) -> None:
    """``--json``: the structure is walked here, leaves go through ``toJSON``'s writer.

    Without ``--strict`` nested unevaluated values are an error.  Like Nix, the
    text written before a failure is kept (open brackets closed) so the caller
    can print it, and a failing attribute is reported at its definition.
    """
    from nixlite.eval.builtins.json import to_json
    from nixlite.eval.values import InfiniteRecursion, Thunk

    if type(v) is Thunk:
        if strict:
            v = v.force()
        elif v.fn is not None:
            from nixlite.eval.state import current_state

            node = current_state().compiler.node_of_thunk(v)
            raise EvalError("cannot convert a thunk to JSON", node.pos if node is not None else None)
        else:
            v = v.val
    t = type(v)
    if t is list:
        out.append("[")
        closers.append("]")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _json_walk(item, out, closers, strict)
        closers.pop()
        out.append("]")
    elif t is Attrs and "__toString" not in v and "outPath" not in v:
        out.append("{")
        closers.append("}")
        for i, name in enumerate(sorted(v)):
            if i:
                out.append(",")
            out.append(to_json(name, set()))
            out.append(":")
            try:
                _json_walk(v[name], out, closers, strict)
            except EvalError as exc:
                if exc.pos is None and not isinstance(exc, InfiniteRecursion):
                    exc.pos = v.attr_pos(name)
                raise
        closers.pop()
        out.append("}")
    else:
        out.append(to_json(v, set()))


def evaluate_string(text: str, *, strict: bool = False, **state_options):
    """Convenience for tests and tools: evaluate ``text`` in a fresh state (on a big stack)."""
    from nixlite.eval.deep import run_deep
    from nixlite.eval.state import EvalState

    def go():
        state = EvalState(**state_options)
        v = state.eval_string(text)
        return deep_force(v) if strict else v

    return run_deep(go)
