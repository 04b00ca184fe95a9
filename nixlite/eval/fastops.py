"""The evaluator's hot closures, generated from one set of templates.

Reading a variable (slot read, force, locate an infinite recursion at the
variable), ``a.name``, ``f x`` and the binary operators are the hottest code
of typical Nix.  A generic closure would call one closure per operand; these
read a literal or a frame slot inline instead, which saves a Python call per
operand.  Each closure factory is generated (with ``exec``, once per process)
for one combination of operation and operand kinds from the templates below,
so every fast path has exactly one source and is as direct as hand-written code.

An operand is ``(kind, payload, node)``: CONST → the value; VARS[level] →
the slot index in ``env``, ``env[0]``, … (``level`` hops); VARN → ``(level, index)``;
CODE → the operand's compiled closure.  ``node`` is the variable's AST node
(for positions), else None.
"""

from __future__ import annotations

import marshal

from nixlite.eval import ops
from nixlite.eval.values import (
    INT_MAX,
    INT_MIN,
    Attrs,
    CStr,
    EvalError,
    InfiniteRecursion,
    Lambda,
    PrimOp,
    Thunk,
    call,
    type_error,
)

CONST, VARN, CODE = "const", "varn", "code"
# a variable 0…5 frames up, read inline (``env[0][0]…[P]``): deeper ones walk with _frame
VARS = tuple(f"var{level}" for level in range(6))

MISSING = object()  # a default for dict lookups that cannot be a stored value

_SLOT_FORCE = ("    if type({n}) is Thunk:\n"
               "        {n} = {n}.val if {n}.fn is None else _force_var({n}, V{n})\n")
_FETCH = {
    CONST: "    {n} = P{n}\n",
    **{kind: "    {n} = env" + "[0]" * level + "[P{n}]\n" + _SLOT_FORCE
       for level, kind in enumerate(VARS)},
    VARN: "    {n} = _frame(env, L{n})[P{n}]\n" + _SLOT_FORCE,
    CODE: "    {n} = P{n}(env)\n",
}


def _arith(op: str, fallback: str, where: str) -> str:
    return ("    if type(a) is int and type(b) is int:\n"
            f"        r = a {op} b\n"
            "        if INT_MIN <= r <= INT_MAX:\n"
            "            return r\n"
            + _checked(fallback, where))


def _compare(op: str, fallback: str) -> str:
    return ("    if type(a) is int and type(b) is int:\n"
            f"        return a {op} b\n"
            + _checked(fallback, "E.pos"))


def _checked(expr: str, where: str) -> str:
    return ("    try:\n"
            f"        return {expr}\n"
            "    except EvalError as exc:\n"
            f"        raise exc.at({where})\n")


_BINOP_BODY = {
    # Nix reports a failed `+` at the operand that could not be coerced
    "+": _arith("+", "_ops.add(a, b, IO)",
                "(E.left if getattr(exc, 'operand', 1) == 0 else E.right).pos"),
    "-": _arith("-", "_ops.sub(a, b)", "E.pos"),
    "*": _checked("_ops.mul(a, b)", "E.pos"),
    "<": _compare("<", "_ops.less_than(a, b)"),
    ">": _compare(">", "_ops.less_than(b, a)"),
    "<=": _compare("<=", "not _ops.less_than(b, a)"),
    ">=": _compare(">=", "not _ops.less_than(a, b)"),
    "==": _compare("==", "_ops.eq_operands(a, b)"),
    "!=": _compare("!=", "not _ops.eq_operands(a, b)"),
}

OPERATORS = frozenset(_BINOP_BODY)

_ARG = {"thunk": "Thunk({c}[0], env)", "lazy": "{c}(env)"}

_CALL_BODY = {
    arg_kind: ("    try:\n"
               "        if type(f) is Lambda:\n"
               f"            return f.fn({arg.format(c='Cx')})\n"
               f"        return call(f, {arg.format(c='Cx')})\n"
               "    except EvalError as exc:\n"
               "        raise on_error(exc, f)\n")
    for arg_kind, arg in _ARG.items()
}


def _call2_body(kind_x: str, kind_y: str) -> str:
    """``f x y``: the error handler gets the function that was being called."""
    x = _ARG[kind_x].format(c="Cx")
    y = _ARG[kind_y].format(c="Cy")
    return ("    g = f\n"
            "    try:\n"
            "        if type(f) is Lambda:\n"
            f"            g = f.fn({x})\n"
            "        elif type(f) is PrimOp and f.arity == 2 and not f.args:\n"
            "            # a two-argument builtin: no partial application in between\n"
            f"            r = f.fn({x}, {y})\n"
            "            return r.force() if type(r) is Thunk else r\n"
            "        else:\n"
            f"            g = call(f, {x})\n"
            "        if type(g) is Lambda:\n"
            f"            return g.fn({y})\n"
            f"        return call(g, {y})\n"
            "    except EvalError as exc:\n"
            "        raise on_error(exc, g)\n")

_SELECT_BODY = (
    "    if type(a) is not Attrs:\n"
    "        raise type_error(a, 'a set').at(E.pos)\n"
    "    x = a.get(NAME, MISSING)\n"
    "    if x is MISSING:\n"
    "        raise missing_attr(NAME, a, E)\n"
    "    if type(x) is Thunk:\n"
    "        if x.fn is None:\n"
    "            return x.val\n"
    "        return force_attr(x, a, NAME, E)\n"
    "    return x\n"
)


_SELECT_OR_BODY = (
    "    if type(a) is Attrs:\n"
    "        x = a.get(NAME, MISSING)\n"
    "        if x is not MISSING:\n"
    "            if type(x) is Thunk:\n"
    "                if x.fn is None:\n"
    "                    return x.val\n"
    "                return force_attr(x, a, NAME, E)\n"
    "            return x\n"
    "    return D(env)\n"
)

# ``a.n1.n2…`` (static names): each step as in ``_SELECT_BODY``
_SELECT_PATH_BODY = (
    "    for n in NAMES:\n"
    "        if type(a) is not Attrs:\n"
    "            raise type_error(a, 'a set').at(E.pos)\n"
    "        x = a.get(n, MISSING)\n"
    "        if x is MISSING:\n"
    "            raise missing_attr(n, a, E)\n"
    "        if type(x) is Thunk:\n"
    "            x = x.val if x.fn is None else force_attr(x, a, n, E)\n"
    "        a = x\n"
    "    return a\n"
)

# ``a.n1.n2… or default`` (static names): the default when a step is no set or misses
_SELECT_PATH_OR_BODY = (
    "    for n in NAMES:\n"
    "        if type(a) is not Attrs:\n"
    "            return D(env)\n"
    "        x = a.get(n, MISSING)\n"
    "        if x is MISSING:\n"
    "            return D(env)\n"
    "        if type(x) is Thunk:\n"
    "            x = x.val if x.fn is None else force_attr(x, a, n, E)\n"
    "        a = x\n"
    "    return a\n"
)

_HASATTR_BODY = {
    "static": "    return type(a) is Attrs and NAME in a\n",
    # the name is computed even when the operand is no set, as for longer paths
    "dynamic": ("    if type(n) is not str:\n"
                "        n = attr_name(n, N)\n"
                "    return type(a) is Attrs and n in a\n"),
}


# ``if COND then T else F`` with the condition's test inline (no closure call for it):
# a ``?`` (never fails), ``==`` or ``!=`` (a comparison error is located at the operator)
_IF_BODY = {
    "hasattr static": ("    if type(a) is Attrs and NAME in a:\n"
                       "        return T(env)\n"
                       "    return F(env)\n"),
    "hasattr dynamic": ("    if type(n) is not str:\n"
                        "        n = attr_name(n, N)\n"
                        "    if type(a) is Attrs and n in a:\n"
                        "        return T(env)\n"
                        "    return F(env)\n"),
    **{op: ("    if type(a) is int and type(b) is int:\n"
            f"        c = a {op} b\n"
            "    else:\n"
            "        try:\n"
            f"            c = {'' if op == '==' else 'not '}_ops.eq_operands(a, b)\n"
            "        except EvalError as exc:\n"
            "            raise exc.at(E.pos)\n"
            "    return T(env) if c else F(env)\n")
       for op in ("==", "!=")},
}


def attr_name(s, node) -> str:
    """A computed attribute name: a string, its context dropped."""
    if type(s) is CStr:
        return str(s)
    raise type_error(s, "a string").at(node.pos)


def _frame(env, level: int):
    while level:
        env = env[0]
        level -= 1
    return env


def _force_var(t: Thunk, var):
    try:
        return t.force()
    except InfiniteRecursion as exc:
        raise exc.at(var.pos)


def force_attr(x, attrs, name, node):
    """Force a selected attribute; infinite recursion is reported where it was defined."""
    if type(x) is not Thunk:
        return x
    try:
        return x.force()
    except InfiniteRecursion as exc:
        if exc.pos is None:
            exc.pos = attrs.attr_pos(name) or node.pos
        raise


def missing_attr(name: str, v: Attrs, node) -> EvalError:
    from nixlite.eval.suggest import missing_attribute

    message, hint = missing_attribute(name, v, f"attribute '{name}' missing")
    exc = EvalError(message, node.pos)
    exc.hint = hint
    return exc


_GLOBALS = {
    "Thunk": Thunk, "Attrs": Attrs, "Lambda": Lambda, "PrimOp": PrimOp, "call": call, "INT_MIN": INT_MIN,
    "INT_MAX": INT_MAX, "EvalError": EvalError, "MISSING": MISSING, "type_error": type_error,
    "_ops": ops, "_force_var": _force_var, "_frame": _frame, "force_attr": force_attr,
    "missing_attr": missing_attr, "attr_name": attr_name,
}
_factories: dict[tuple, object] = {}


def _factory(name: str, operands: tuple[tuple[str, str], ...], body: str, extra: str):
    """``make(P…, V…, L… for each operand, *extra)`` returning the closure ``name(env)``
    that fetches each operand (letter, kind) and then runs ``body``."""
    key = (name, operands, body)
    f = _factories.get(key)
    if f is None:
        params = ", ".join(f"P{n}, V{n}, L{n}" for n, _ in operands)
        src = (f"def make({params}{', ' + extra if extra else ''}):\n"
               f" def {name}(env):\n"
               + "".join(" " + line + "\n" for n, kind in operands
                         for line in _FETCH[kind].format(n=n).splitlines())
               + "".join(" " + line + "\n" for line in body.splitlines())
               + f" return {name}\n")
        namespace: dict = {}
        label = " ".join(kind for _, kind in operands)
        exec(_compiled(src, f"<nixlite {name} {label}>"), dict(_GLOBALS), namespace)
        f = _factories[key] = namespace["make"]
    return f


class _CodeCache:
    """Compiled factories kept on disk in the parse cache directory, as ``.pyc`` files keep
    modules: an evaluation uses a hundred or so, and compiling them was 5–10 % of a
    small one.  Keyed by (file label, source), so entries never go stale; one file per
    bytecode version, rewritten (atomically) at exit when something was added."""

    def __init__(self) -> None:
        self.codes: dict | None = None
        self.added = False

    def path(self):
        from importlib.util import MAGIC_NUMBER

        from nixlite.syntax.cache import cache_dir

        return cache_dir() / f"fastops-{MAGIC_NUMBER.hex()}.marshal"

    def get(self, src: str, label: str):
        codes = self.codes
        if codes is None:
            codes = self.codes = self._read()
        code = codes.get((label, src))
        if code is None:
            code = codes[(label, src)] = compile(src, label, "exec")
            if not self.added:
                self.added = True
                import atexit

                atexit.register(self._write)
        return code

    def _read(self) -> dict:
        try:
            with open(self.path(), "rb") as f:
                codes = marshal.loads(f.read())
            return codes if type(codes) is dict else {}
        except Exception:  # absent or damaged: compile again, rewrite at exit
            return {}

    def _write(self) -> None:
        from nixlite.syntax.cache import atomic_write

        try:
            atomic_write(self.path(), marshal.dumps(self.codes))
        except OSError:
            pass  # a cache that cannot be written only costs time


_compiled = _CodeCache().get


def _args(operand: tuple) -> tuple:
    """An operand's ``P, V, L`` arguments."""
    kind, payload, node = operand
    if kind == VARN:
        level, index = payload
        return index, node, level
    return payload, node, None


def variable(operand: tuple):
    """A closure reading a lexical variable: its forced value."""
    make = _factory("variable", (("a", operand[0]),), "    return a\n", "")
    return make(*_args(operand))


def binop(op: str, a: tuple, b: tuple, node, io):
    """A closure for ``a op b``; ``io`` copies a path appended to a string to the store."""
    make = _factory("binop", (("a", a[0]), ("b", b[0])), _BINOP_BODY[op], "E, IO")
    return make(*_args(a), *_args(b), node, io)


def call1(fn: tuple, arg_code, arg_is_thunk: bool, on_error):
    """A closure for ``f x``: the argument is ``Thunk(arg_code[0], env)`` (``arg_code``
    a cell of code compiled on first run) or ``arg_code(env)``."""
    body = _CALL_BODY["thunk" if arg_is_thunk else "lazy"]
    make = _factory("call1", (("f", fn[0]),), body, "Cx, on_error")
    return make(*_args(fn), arg_code, on_error)


def select1(operand: tuple, name: str, node):
    """A closure for ``a.name`` (one static name, no ``or`` default)."""
    make = _factory("select1", (("a", operand[0]),), _SELECT_BODY, "NAME, E")
    return make(*_args(operand), name, node)


def select1_or(operand: tuple, name: str, default, node):
    """A closure for ``a.name or default`` (one static name)."""
    make = _factory("select1_or", (("a", operand[0]),), _SELECT_OR_BODY, "NAME, D, E")
    return make(*_args(operand), name, default, node)


def select_path(operand: tuple, names: tuple, default, node):
    """A closure for ``a.n1.n2…`` or ``a.n1.n2… or default`` (static names)."""
    if default is None:
        make = _factory("select_path", (("a", operand[0]),), _SELECT_PATH_BODY, "NAMES, E")
        return make(*_args(operand), names, node)
    make = _factory("select_path_or", (("a", operand[0]),), _SELECT_PATH_OR_BODY, "NAMES, D, E")
    return make(*_args(operand), names, default, node)


def hasattr1(operand: tuple, name):
    """A closure for ``a ? name``: ``name`` a ``str`` or ``(operand, node)`` computing it."""
    if type(name) is str:
        make = _factory("hasattr1", (("a", operand[0]),), _HASATTR_BODY["static"], "NAME")
        return make(*_args(operand), name)
    name_operand, node = name
    make = _factory("hasattr1", (("a", operand[0]), ("n", name_operand[0])),
                    _HASATTR_BODY["dynamic"], "N")
    return make(*_args(operand), *_args(name_operand), node)


def if_hasattr(operand: tuple, name, then, else_):
    """A closure for ``if a ? name then … else …``; ``name`` as for ``hasattr1``."""
    if type(name) is str:
        make = _factory("if_hasattr", (("a", operand[0]),), _IF_BODY["hasattr static"],
                        "NAME, T, F")
        return make(*_args(operand), name, then, else_)
    name_operand, node = name
    make = _factory("if_hasattr", (("a", operand[0]), ("n", name_operand[0])),
                    _IF_BODY["hasattr dynamic"], "N, T, F")
    return make(*_args(operand), *_args(name_operand), node, then, else_)


def if_equal(op: str, a: tuple, b: tuple, node, then, else_):
    """A closure for ``if a == b then … else …`` (or ``!=``); ``node`` is the comparison."""
    make = _factory("if_equal", (("a", a[0]), ("b", b[0])), _IF_BODY[op], "E, T, F")
    return make(*_args(a), *_args(b), node, then, else_)


def call2(fn: tuple, x: tuple, y: tuple, on_error):
    """A closure for ``f x y``; ``x`` and ``y`` are ``(code, is_thunk)`` as for ``call1``."""
    kinds = tuple("thunk" if is_thunk else "lazy" for _, is_thunk in (x, y))
    make = _factory("call2", (("f", fn[0]),), _call2_body(*kinds), "Cx, Cy, on_error")
    return make(*_args(fn), x[0], y[0], on_error)
