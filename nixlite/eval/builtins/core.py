"""Language-level builtins: import, errors and control, type tests, the file
system (through ``state.io``), search path, coercion and the operator primops."""

from __future__ import annotations

import os

from nixlite.eval import ops
from nixlite.eval.builtins import builtin, constant
from nixlite.eval.values import (
    AssertionFailed,
    AbortError,
    Attrs,
    CStr,
    EvalError,
    Lambda,
    NixPath,
    PrimOp,
    ThrownError,
    call,
    canon_path,
    ctx_of,
    deep_force,
    force,
    force_attrs,
    force_list,
    force_str,
    mkstr,
    position_value,
    type_error,
    type_of,
)

NIX_VERSION = "2.24.0"  # the Nix whose behaviour nixlite follows; today's nixpkgs lib accepts it
LANG_VERSION = 6

# ------------------------------------------------------------------ import


@builtin("import", 1, state=True)
def import_(state, path):
    return state.eval_file(_real_path(path, state))


@builtin("scopedImport", 2, state=True)
def scoped_import(state, scope, path):
    return state.scoped_import(force_attrs(scope), _real_path(path, state))


# ------------------------------------------------------- errors and control


@builtin("throw", 1)
def throw(msg):
    raise ThrownError(str(ops.coerce_to_string(msg)))


@builtin("abort", 1)
def abort(msg):
    raise AbortError(str(ops.coerce_to_string(msg)))


@builtin("tryEval", 1)
def try_eval(e):
    try:
        v = force(e)
    except (ThrownError, AssertionFailed):
        return Attrs({"success": False, "value": False})
    return Attrs({"success": True, "value": v})


@builtin("seq", 2)
def seq(a, b):
    force(a)
    return b


@builtin("deepSeq", 2)
def deep_seq(a, b):
    deep_force(a)
    return b


def _trace_text(v) -> str:
    from nixlite.eval.printer import show_value

    v = force(v)
    if type(v) is str or type(v) is CStr:
        return str(v)
    return show_value(v)


@builtin("trace", 2, state=True)
def trace(state, msg, v):
    state.trace_sink("trace: " + _trace_text(msg))
    return v


@builtin("traceVerbose", 2, state=True)
def trace_verbose(state, msg, v):
    if state.trace_verbose:
        state.trace_sink("trace: " + _trace_text(msg))
    return v


@builtin("warn", 2, state=True)
def warn(state, msg, v):
    m = force(msg)
    if type(m) is not str and type(m) is not CStr:
        raise type_error(m, "a string").add_trace("while evaluating the first argument; the message passed to builtins.warn")
    state.trace_sink("evaluation warning: " + str(m))
    return v


@builtin("break", 1)
def break_(v):
    return v


@builtin("addErrorContext", 2)
def add_error_context(ctx, v):
    try:
        return force(v)
    except EvalError as exc:
        try:
            exc.add_trace(str(ops.coerce_to_string(ctx, copy_to_store=False)))
        except EvalError:
            pass
        raise


# ------------------------------------------------------------- type tests


def _type_test(name: str, pred):
    @builtin(name, 1)
    def test(v):
        return pred(force(v))

    return test


_type_test("isInt", lambda v: type(v) is int)
_type_test("isFloat", lambda v: type(v) is float)
_type_test("isBool", lambda v: type(v) is bool)
_type_test("isString", lambda v: type(v) is str or type(v) is CStr)
_type_test("isList", lambda v: type(v) is list)
_type_test("isAttrs", lambda v: type(v) is Attrs)
_type_test("isNull", lambda v: v is None)
_type_test("isPath", lambda v: type(v) is NixPath)
_type_test("isFunction", lambda v: type(v) is Lambda or type(v) is PrimOp)


@builtin("typeOf", 1)
def type_of_(v):
    return type_of(force(v))


@builtin("functionArgs", 1)
def function_args(f):
    f = force(f)
    if type(f) is Lambda:
        if not f.formals:
            return Attrs()
        a = Attrs({name: has_default for name, has_default in f.formals})
        # Nix gives each attribute its formal's position (seen in --xml, unsafeGetAttrPos).
        formals = getattr(f.where, "formals", None)
        if formals:
            a.pos = {formal.name: formal for formal in formals}
        return a
    if type(f) is PrimOp:
        return Attrs()
    raise EvalError("'functionArgs' requires a function")


@builtin("unsafeGetAttrPos", 2)
def unsafe_get_attr_pos(name, attrs):
    n = str(force_str(name))
    a = force_attrs(attrs)
    return position_value(a.attr_pos(n) if n in a else None)


# ----------------------------------------------------------- environment


@builtin("getEnv", 1, state=True)
def get_env(state, name):
    if state.pure:
        return ""
    return os.environ.get(str(force_str(name)), "")


def _host_system() -> str:
    """Nix's system double for this host (``x86_64-linux``, ``aarch64-darwin``…)."""
    uname = os.uname()
    machine = uname.machine.lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if machine in ("i386", "i486", "i586", "i686"):
        machine = "i686"
    return f"{machine}-{uname.sysname.lower()}"


@constant("currentSystem")
def current_system():
    return _host_system()


@constant("currentTime", state=True)
def current_time(state):
    return state.start_time


@constant("nixVersion")
def nix_version():
    return NIX_VERSION


@constant("langVersion")
def lang_version():
    return LANG_VERSION


@constant("storeDir")
def store_dir():
    return "/nix/store"


@constant("nixPath", state=True)
def nix_path(state):
    return [Attrs({"path": path, "prefix": prefix}) for prefix, path in state.search_path]


@builtin("findFile", 2, state=True)
def find_file(state, search_path, name):
    entries = []
    for item in force_list(search_path):
        a = force_attrs(item)
        prefix = str(force_str(a["prefix"])) if "prefix" in a else ""
        if "path" not in a:
            raise EvalError("attribute 'path' missing")
        p = ops.coerce_to_string(a["path"], copy_to_store=False)
        entries.append((prefix, str(p)))
    n = str(force_str(name))
    return NixPath(state.find_file(entries, n))


# -------------------------------------------------------------- file system


def _real_path(v, state=None) -> str:
    """A path argument of the file-system builtins (path or absolute string); with
    ``state``, the store paths its context names are realised first (IFD)."""
    v = force(v)
    if type(v) is NixPath:
        return v.path
    s = ops.coerce_to_string(v, copy_to_store=False)
    if not s.startswith("/"):
        raise EvalError(f"string '{s}' doesn't represent an absolute path")
    if state is not None and ctx_of(s):
        state.io.realise(ctx_of(s))
    return canon_path(s)


@builtin("readFile", 1, state=True)
def read_file(state, path):
    real = _real_path(path, state)
    data = state.io.read_file(real)
    if b"\0" in data:
        raise EvalError(f"the contents of the file '{real}' cannot be represented as a Nix string")
    return data.decode("utf-8", errors="surrogateescape")


@builtin("readDir", 1, state=True)
def read_dir(state, path):
    entries = state.io.read_dir(_real_path(path, state))
    return Attrs({name: entries[name] for name in sorted(entries)})


@builtin("readFileType", 1, state=True)
def read_file_type(state, path):
    return state.io.file_type(_real_path(path, state))


@builtin("pathExists", 1, state=True)
def path_exists(state, path):
    v = force(path)
    if type(v) is NixPath:
        return state.io.path_exists(v.path)
    s = ops.coerce_to_string(v, copy_to_store=False)
    if not s.startswith("/"):
        raise EvalError(f"string '{s}' doesn't represent an absolute path")
    if ctx_of(s):
        state.io.realise(ctx_of(s))
    trailing = s.endswith("/") and len(s) > 1
    p = canon_path(s)
    return state.io.is_dir(p) if trailing else state.io.path_exists(p)


@builtin("baseNameOf", 1)
def base_name_of(v):
    v = force(v)
    s = v.path if type(v) is NixPath else ops.coerce_to_string(v, copy_to_store=False)
    text = str(s)
    if text.endswith("/"):
        text = text[:-1]
    i = text.rfind("/")
    base = text[i + 1:] if i >= 0 else text
    return mkstr(base, ctx_of(s) if type(v) is not NixPath else None)


@builtin("dirOf", 1)
def dir_of(v):
    v = force(v)
    if type(v) is NixPath:
        p = v.path
        i = p.rfind("/")
        return NixPath(p[:i] if i > 0 else "/")
    s = ops.coerce_to_string(v, copy_to_store=False)
    text = str(s)
    i = text.rfind("/")
    if i < 0:
        d = "."
    elif i == 0:
        d = "/"
    else:
        d = text[:i]
    return mkstr(d, ctx_of(s))


@builtin("toPath", 1)
def to_path(v):
    s = ops.coerce_to_string(v, copy_to_store=False)
    if not s.startswith("/"):
        raise EvalError(f"string '{s}' doesn't represent an absolute path")
    return mkstr(canon_path(str(s)), ctx_of(s))


@builtin("toString", 1)
def to_string(v):
    return ops.coerce_to_string(v, coerce_more=True, copy_to_store=False)


# ----------------------------------------------------------- genericClosure


def _key_kind(v) -> str:
    """Which keys Nix's ordered key set can compare with each other."""
    t = type(v)
    if t is int or t is float:
        return "number"
    if t is str or t is CStr:
        return "string"
    if t is NixPath:
        return "path"
    if t is list:
        return "list"
    return "other"


def _hashable_key(v):
    t = type(v)
    if t is int or t is float:
        return ("n", v)
    if t is str or t is CStr:
        return ("s", str(v))
    if t is NixPath:
        return ("p", v.path)
    return None


@builtin("genericClosure", 1)
def generic_closure(args):
    a = force_attrs(args)
    if "startSet" not in a:
        raise EvalError("attribute 'startSet' missing")
    if "operator" not in a:
        raise EvalError("attribute 'operator' missing")
    work = list(force_list(a["startSet"]))
    op = a["operator"]
    # Nix keeps the keys in an ordered set compared with lessThan: keys of
    # different kinds (or sets, functions…) fail to compare, as they do here.
    seen_hashable: set = set()
    seen_lists: list = []
    first_key = None
    result = []
    i = 0
    while i < len(work):
        item = force_attrs(work[i])
        i += 1
        if "key" not in item:
            raise EvalError("attribute 'key' missing")
        key = force(item["key"])
        if first_key is None:
            first_key = key
        else:
            kind = _key_kind(key)
            if kind == "other" or kind != _key_kind(first_key):
                ops.less_than(key, first_key)  # raises Nix's "cannot compare" error
        hk = _hashable_key(key)
        if hk is not None:
            if hk in seen_hashable:
                continue
            seen_hashable.add(hk)
        else:
            if any(ops.eq(key, k) for k in seen_lists):
                continue
            seen_lists.append(key)
        result.append(item)
        work.extend(force_list(call(op, item)))
    return result


# ------------------------------------------------------ operator primops


@builtin("add", 2)
def add(a, b):
    a = force(a)
    b = force(b)
    t = type(a)
    if (t is int or t is float) and (type(b) is int or type(b) is float):
        return ops.add(a, b)
    if t is not int and t is not float:
        raise type_error(a, "an integer")
    raise type_error(b, "an integer")


@builtin("sub", 2)
def sub(a, b):
    return ops.sub(force(a), force(b))


@builtin("mul", 2)
def mul(a, b):
    return ops.mul(force(a), force(b))


@builtin("div", 2)
def div(a, b):
    return ops.div(force(a), force(b))


@builtin("lessThan", 2)
def less_than(a, b):
    return ops.less_than(a, b)
