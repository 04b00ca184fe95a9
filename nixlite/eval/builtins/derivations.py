"""``derivationStrict``, the Nix-level ``derivation`` wrapper and ``placeholder``.

``derivationStrict`` follows Nix 2.8's ``prim_derivationStrict`` step by step
(attribute order, coercions, structured attributes, fixed outputs, context →
inputs, hashDerivationModulo) and writes the ``.drv`` into the store, so later
``=``-contexts and ``import``s of it work.  ``derivation`` is Nix's own
``derivation.nix`` wrapper, evaluated once per evaluation, so laziness and
the result set's shape are exactly Nix's.
"""

from __future__ import annotations

import hashlib

from nixlite.errors import NixliteError
from nixlite.eval import ops
from nixlite.eval.builtins import builtin, constant
from nixlite.eval.values import (
    as_eval_error,
    Attrs,
    CStr,
    EvalError,
    NixPath,
    ctx_of,
    force,
    force_attrs,
    force_bool,
    force_list,
    force_str,
    force_str_noctx,
    type_name,
)
from nixlite.eval.builtins.json import too_deep
from nixlite.store.derivation import (
    Derivation,
    DrvOutput,
    finalize_fixed_output,
    finalize_input_addressed,
    json_float_28,
    json_string_28,
)
from nixlite.store.hashes import ALGOS, BadHash, nixbase32_encode, parse_hash_allow_empty
from nixlite.store.paths import parse_store_path

# Nix 2.8's src/libexpr/primops/derivation.nix, semantically: the value is the
# set of the first listed output; every output set shares drvAttrs and `all`.
DERIVATION_NIX = """\
drvAttrs @ { outputs ? [ "out" ], ... }:

let

  strict = derivationStrict drvAttrs;

  commonAttrs = drvAttrs // (builtins.listToAttrs outputsList) //
    { all = map (x: x.value) outputsList;
      inherit drvAttrs;
    };

  outputToAttrListElement = outputName:
    { name = outputName;
      value = commonAttrs // {
        outPath = builtins.getAttr outputName strict;
        drvPath = strict.drvPath;
        type = "derivation";
        inherit outputName;
      };
    };

  outputsList = map outputToAttrListElement outputs;

in (builtins.head outputsList).value
"""


@constant("derivation", state=True)
def derivation(state):
    return state.eval_string(DERIVATION_NIX, "/builtin/derivation.nix", "/")


@builtin("placeholder", 1)
def placeholder(output):
    name = force_str_noctx(output)
    return "/" + nixbase32_encode(hashlib.sha256(b"nix-output:" + name.encode()).digest())


# --------------------------------------------------------------------------
# structured attributes: Nix 2.8's printValueAsJSON, collecting context


def value_to_json_28(v, ctx: set[str], io, depth: int) -> str:
    """``v`` as JSON; nesting deeper than ``depth`` is Nix's stack overflow."""
    v = force(v)
    t = type(v)
    if t is str or t is CStr:
        if t is CStr:
            ctx |= v.ctx
        return json_string_28(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return json_float_28(v)
    if v is None:
        return "null"
    if t is NixPath:
        s = ops.coerce_to_string(v, copy_to_store=io)
        ctx |= ctx_of(s)
        return json_string_28(s)
    if (t is list or t is Attrs) and depth <= 0 and v:
        raise too_deep()
    if t is list:
        return "[" + ",".join(value_to_json_28(x, ctx, io, depth - 1) for x in v) + "]"
    if t is Attrs:
        if "__toString" in v:
            s = ops.coerce_to_string(v, copy_to_store=None)
            ctx |= ctx_of(s)
            return json_string_28(s)
        if "outPath" in v:
            return value_to_json_28(v["outPath"], ctx, io, depth - 1)
        return "{" + ",".join(
            json_string_28(k) + ":" + value_to_json_28(v[k], ctx, io, depth - 1) for k in sorted(v)
        ) + "}"
    raise EvalError(f"cannot convert {type_name(v)} to JSON")


# --------------------------------------------------------------------------


_WS = " \t\n\r"


def _tokenize(s: str) -> list[str]:
    out = []
    cur = []
    for c in s:
        if c in _WS:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(c)
    if cur:
        out.append("".join(cur))
    return out


class _AtName(EvalError):
    """An error Nix reports at the derivation's ``name`` even while handling another attribute."""


def _check_outputs(names) -> list[str]:
    seen: list[str] = []
    for j in names:
        if j in seen:
            raise _AtName(f"duplicate derivation output '{j}'")
        if j == "drv":
            raise _AtName("invalid derivation output name 'drv'")
        seen.append(j)
    if not seen:
        raise _AtName("derivation cannot have an empty set of outputs")
    return seen


def _hash_mode(s: str) -> bool:
    if s == "recursive":
        return True
    if s == "flat":
        return False
    raise _AtName(f"invalid value '{s}' for 'outputHashMode' attribute")


@builtin("derivationStrict", 1, state=True)
def derivation_strict(state, arg):
    attrs = force_attrs(arg)
    if "name" not in attrs:
        raise EvalError("attribute 'name' missing").add_trace(
            "in the attrset passed as argument to builtins.derivationStrict")
    try:
        drv_name = str(force_str_noctx(attrs["name"]))
    except EvalError as e:
        raise e.add_trace("while evaluating the derivation attribute 'name'", attrs.attr_pos("name"))
    # like Nix, errors about the derivation as a whole point at its `name`
    name_pos = attrs.attr_pos("name")
    try:
        return _derivation_strict(state, attrs, drv_name, name_pos)
    except EvalError as e:
        raise e.at(name_pos)
    except NixliteError as exc:
        raise as_eval_error(exc).at(name_pos) from None


def _derivation_strict(state, attrs: Attrs, drv_name: str, name_pos) -> Attrs:
    structured = "__structuredAttrs" in attrs and force_bool(attrs["__structuredAttrs"])
    ignore_nulls = "__ignoreNulls" in attrs and force_bool(attrs["__ignoreNulls"])

    drv = Derivation(name=drv_name)
    ctx: set[str] = set()
    json_items: list[str] = []
    output_hash: str | None = None
    output_hash_algo = ""
    recursive: bool | None = None
    outputs = ["out"]

    for key in sorted(attrs):
        if key == "__ignoreNulls":
            continue
        value = attrs[key]
        try:
            if ignore_nulls and force(value) is None:
                continue
            if key == "__contentAddressed":
                if force_bool(value):
                    raise EvalError("experimental Nix feature 'ca-derivations' is disabled; "
                                    "use '--extra-experimental-features ca-derivations' to override")
            elif key == "__impure":
                if force_bool(value):
                    raise EvalError("experimental Nix feature 'impure-derivations' is disabled; "
                                    "use '--extra-experimental-features impure-derivations' to override")
            elif key == "args":
                for item in force_list(value):
                    s = ops.coerce_to_string(item, coerce_more=True, copy_to_store=state.io)
                    ctx |= ctx_of(s)
                    drv.args.append(str(s))
            elif structured:
                if key == "__structuredAttrs":
                    continue
                json_items.append(json_string_28(key) + ":" + value_to_json_28(value, ctx, state.io,
                                                                       state.settings.max_call_depth))
                if key == "builder":
                    s = force_str(value)
                    ctx |= ctx_of(s)
                    drv.builder = str(s)
                elif key == "system":
                    drv.platform = str(force_str_noctx(value))
                elif key == "outputHash":
                    output_hash = str(force_str_noctx(value))
                elif key == "outputHashAlgo":
                    output_hash_algo = str(force_str_noctx(value))
                elif key == "outputHashMode":
                    recursive = _hash_mode(str(force_str_noctx(value)))
                elif key == "outputs":
                    outputs = _check_outputs([str(force_str_noctx(x)) for x in force_list(value)])
            else:
                s = ops.coerce_to_string(value, coerce_more=True, copy_to_store=state.io)
                ctx |= ctx_of(s)
                s = str(s)
                drv.env[key] = s
                if key == "builder":
                    drv.builder = s
                elif key == "system":
                    drv.platform = s
                elif key == "outputHash":
                    output_hash = s
                elif key == "outputHashAlgo":
                    output_hash_algo = s
                elif key == "outputHashMode":
                    recursive = _hash_mode(s)
                elif key == "outputs":
                    outputs = _check_outputs(_tokenize(s))
        except EvalError as e:
            raise e.at(name_pos if type(e) is _AtName else attrs.attr_pos(key)).add_trace(
                f"while evaluating the attribute '{key}' of the derivation '{drv_name}'", name_pos)

    if structured:
        drv.env["__json"] = "{" + ",".join(json_items) + "}"

    store = state.io.store
    _add_inputs(store, drv, ctx)

    if drv.builder == "":
        raise EvalError("required attribute 'builder' missing")
    if drv.platform == "":
        raise EvalError("required attribute 'system' missing")
    if drv_name.endswith(".drv"):
        raise EvalError("derivation names are not allowed to end in '.drv'")

    if output_hash is not None:
        if outputs != ["out"]:
            raise EvalError("multiple outputs are not supported in fixed-output derivations")
        algo = output_hash_algo if output_hash_algo in ALGOS else None
        try:
            h, empty = parse_hash_allow_empty(output_hash, algo)
        except BadHash as exc:
            raise EvalError(exc.message) from None
        if empty:
            state.trace_sink(f"warning: found empty hash, assuming '{h.sri()}'")
        finalize_fixed_output(drv, bool(recursive), h)
    else:
        for o in outputs:
            drv.outputs[o] = DrvOutput("")
        finalize_input_addressed(drv, store.hasher)

    drv_path = store.write_derivation(drv)
    result = Attrs()
    result["drvPath"] = CStr(drv_path, frozenset(("=" + drv_path,)))
    for o in sorted(drv.outputs):
        result[o] = CStr(drv.outputs[o].path, frozenset((f"!{o}!{drv_path}",)))
    return result


def _add_inputs(store, drv: Derivation, ctx: set[str]) -> None:
    """Nix's rules turning string context into inputDrvs and inputSrcs."""
    for elem in sorted(ctx):
        if elem[0] == "=":
            for p in store.closure([elem[1:]]):
                drv.input_srcs.add(p)
                if p.endswith(".drv"):
                    drv.input_drvs[p] = set(store.read_derivation(p).outputs)
        elif elem[0] == "!":
            output, _, path = elem[1:].partition("!")
            drv.input_drvs.setdefault(path, set()).add(output)
        else:
            drv.input_srcs.add(parse_store_path(elem, store.store_dir))

