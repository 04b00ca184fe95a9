"""Builtins that put files into the store or name store paths.

``toFile``, ``path``, ``filterSource``, ``storePath``, ``hashFile``, and the
store-aware part of ``readFile`` (a store file's references become the
result's context, as in Nix).  All store access goes through ``state.io``.
"""

from __future__ import annotations

from nixlite.errors import NixliteError
from nixlite.eval import ops
from nixlite.eval.builtins import builtin
from nixlite.eval.builtins import core as _core
from nixlite.eval.values import (
    as_eval_error,
    CStr,
    EvalError,
    NixPath,
    call,
    canon_path,
    ctx_of,
    force,
    force_attrs,
    force_bool,
    force_function,
    force_str,
    force_str_noctx,
    mkstr,
    type_name,
)
from nixlite.store.hashes import ALGOS, BadHash, hash_bytes, parse_hash_allow_empty
from nixlite.store.paths import BadStorePath, make_fixed_output_path, store_dir, to_store_path


def _coerce_to_path(v) -> tuple[str, frozenset[str]]:
    """Nix's ``coerceToPath``: path or absolute string (context kept, nothing copied)."""
    v = force(v)
    if type(v) is NixPath:
        return v.path, frozenset()
    s = ops.coerce_to_string(v, copy_to_store=None)
    if not s.startswith("/"):
        raise EvalError(f"string '{s}' doesn't represent an absolute path")
    return canon_path(str(s)), ctx_of(s)


@builtin("toFile", 2, state=True)
def to_file(state, name, contents):
    n = str(force_str_noctx(name))
    s = force_str(contents)
    refs = set()
    for elem in ctx_of(s):
        if elem[0] != "/":
            raise EvalError(
                f"in 'toFile': the file named '{n}' must not contain a reference to a derivation "
                f"but contains ({elem})")
        refs.add(elem)
    try:
        path = state.io.store.add_text(n, str.__str__(s).encode("utf-8", "surrogateescape"), refs)
    except NixliteError as exc:
        raise as_eval_error(exc) from None
    return CStr(path, frozenset((path,)))


def _add_path(state, name: str, path: str, ctx, path_filter, recursive: bool, expected) -> CStr:
    store = state.io.store
    try:
        state.io.realise(ctx)
        if not state.io.path_exists(path):
            raise EvalError(f"getting status of '{path}': No such file or directory")
        expected_path = None
        if expected is not None:
            expected_path = make_fixed_output_path(recursive, expected, name, sdir=store.store_dir)
            if store.is_valid(expected_path):
                return CStr(expected_path, frozenset((expected_path,)))
        fn = None
        if path_filter is not None:
            def fn(p, kind):
                return force_bool(call(call(path_filter, p), kind))
        dst = state.io.add_to_store(path, name, recursive, fn)
        if expected_path is not None and dst != expected_path:
            raise EvalError(f"store path mismatch in (possibly filtered) path added from '{path}'")
    except EvalError as e:
        raise e.add_trace(f"while adding path '{path}'")
    except (NixliteError, OSError) as exc:
        err = as_eval_error(exc) if isinstance(exc, NixliteError) else EvalError(str(exc))
        raise err.add_trace(f"while adding path '{path}'") from None
    return CStr(dst, frozenset((dst,)))


@builtin("path", 1, state=True)
def path_(state, args):
    a = force_attrs(args)
    path = None
    ctx = frozenset()
    name = ""
    path_filter = None
    recursive = True
    expected = None
    for key in a:
        if key == "path":
            path, ctx = _coerce_to_path(a[key])
        elif key == "name":
            name = str(force_str_noctx(a[key]))
        elif key == "filter":
            path_filter = force(a[key])
        elif key == "recursive":
            recursive = force_bool(a[key])
        elif key == "sha256":
            try:
                expected, _ = parse_hash_allow_empty(str(force_str_noctx(a[key])), "sha256")
            except BadHash as exc:
                raise EvalError(exc.message) from None
        else:
            raise EvalError(f"unsupported argument '{key}' to 'addPath'").at(a.attr_pos(key))
    if path is None:
        raise EvalError("'path' required")
    if not name:
        name = path.rstrip("/").rsplit("/", 1)[-1]
    return _add_path(state, name, path, ctx, path_filter, recursive, expected)


@builtin("filterSource", 2, state=True)
def filter_source(state, fn, src):
    path, ctx = _coerce_to_path(src)
    f = force(fn)
    try:
        force_function(f)
    except EvalError:
        raise EvalError(f"first argument in call to 'filterSource' is not a function but {type_name(f)}")
    return _add_path(state, path.rstrip("/").rsplit("/", 1)[-1], path, ctx, f, True, None)


@builtin("storePath", 1, state=True)
def store_path(state, p):
    if state.pure:
        raise EvalError("'builtins.storePath' is not allowed in pure evaluation mode")
    path, _ = _coerce_to_path(p)
    store = state.io.store
    if not store.in_store(path):
        path = state.io.resolve_symlinks(path)
    if not store.in_store(path):
        raise EvalError(f"path '{path}' is not in the Nix store")
    try:
        sp = to_store_path(path, store.store_dir)
    except BadStorePath as exc:
        raise EvalError(exc.message) from None
    # like Nix, only read-write evaluation (instantiate) insists the path exists
    if state.read_write and not store.is_valid(sp):
        raise EvalError(f"path '{sp}' does not exist and cannot be created")
    return CStr(path, frozenset((sp,)))


@builtin("hashFile", 2, state=True)
def hash_file(state, algo, p):
    a = str(force_str_noctx(algo))
    if a not in ALGOS:
        raise EvalError(f"unknown hash algorithm '{a}'")
    path, ctx = _coerce_to_path(p)
    state.io.realise(ctx)
    return hash_bytes(a, state.io.read_file(path)).hex()


_core_read_file = _core.read_file


@builtin("readFile", 1, state=True)
def read_file(state, path):
    """Core ``readFile`` plus Nix's rule: a store file's references become its context."""
    s = _core_read_file(state, path)
    p, _ = _coerce_to_path(path)
    if not p.startswith(store_dir() + "/"):  # (an evaluation without a store reads no store file)
        return s
    store = state.io.store
    if store.in_store(p):
        try:
            sp = to_store_path(p, store.store_dir)
        except BadStorePath:
            return s
        info = store.path_info(sp)
        if info is not None and info.references:
            return mkstr(str.__str__(s), info.references)
    return s
