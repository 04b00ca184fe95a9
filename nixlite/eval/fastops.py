"""Specialised closures for binary operators whose operands are literals or variables.

``n - 1``, ``i < len``, ``a + b``: the hottest expressions of typical Nix code.
A generic closure calls one closure per operand; these read a literal or a
frame slot inline instead, which saves two Python calls per operation.  One
factory is generated (with ``exec``, once per process) for each combination
of operator and operand kinds, so the generated code is as direct as
hand-written code without writing every combination by hand.
"""

from __future__ import annotations

from nixlite.eval import ops
from nixlite.eval.values import INT_MAX, INT_MIN, EvalError, InfiniteRecursion, Thunk

CONST, VAR0, VAR1, CODE = "const", "var0", "var1", "code"

_FETCH = {
    CONST: "    {n} = C{n}\n",
    VAR0: ("    {n} = env[I{n}]\n"
           "    if type({n}) is Thunk:\n"
           "        {n} = {n}.val if {n}.fn is None else _force_var({n}, V{n})\n"),
    VAR1: ("    {n} = env[0][I{n}]\n"
           "    if type({n}) is Thunk:\n"
           "        {n} = {n}.val if {n}.fn is None else _force_var({n}, V{n})\n"),
    CODE: "    {n} = C{n}(env)\n",
}

_BODY = {
    "+": ("    if type(a) is int and type(b) is int:\n"
          "        r = a + b\n"
          "        if INT_MIN <= r <= INT_MAX:\n"
          "            return r\n"
          "    try:\n"
          "        return _ops.add(a, b, IO)\n"
          "    except EvalError as exc:\n"
          "        raise exc.at((E.left if getattr(exc, 'operand', 1) == 0 else E.right).pos)\n"),
    "-": ("    if type(a) is int and type(b) is int:\n"
          "        r = a - b\n"
          "        if INT_MIN <= r <= INT_MAX:\n"
          "            return r\n"
          "    try:\n"
          "        return _ops.sub(a, b)\n"
          "    except EvalError as exc:\n"
          "        raise exc.at(E.pos)\n"),
    "*": ("    try:\n"
          "        return _ops.mul(a, b)\n"
          "    except EvalError as exc:\n"
          "        raise exc.at(E.pos)\n"),
    "<": ("    if type(a) is int and type(b) is int:\n"
          "        return a < b\n"
          "    try:\n"
          "        return _ops.less_than(a, b)\n"
          "    except EvalError as exc:\n"
          "        raise exc.at(E.pos)\n"),
    ">": ("    if type(a) is int and type(b) is int:\n"
          "        return a > b\n"
          "    try:\n"
          "        return _ops.less_than(b, a)\n"
          "    except EvalError as exc:\n"
          "        raise exc.at(E.pos)\n"),
    "<=": ("    if type(a) is int and type(b) is int:\n"
           "        return a <= b\n"
           "    try:\n"
           "        return not _ops.less_than(b, a)\n"
           "    except EvalError as exc:\n"
           "        raise exc.at(E.pos)\n"),
    ">=": ("    if type(a) is int and type(b) is int:\n"
           "        return a >= b\n"
           "    try:\n"
           "        return not _ops.less_than(a, b)\n"
           "    except EvalError as exc:\n"
           "        raise exc.at(E.pos)\n"),
    "==": ("    if type(a) is int and type(b) is int:\n"
           "        return a == b\n"
           "    try:\n"
           "        return _ops.eq_operands(a, b)\n"
           "    except EvalError as exc:\n"
           "        raise exc.at(E.pos)\n"),
    "!=": ("    if type(a) is int and type(b) is int:\n"
           "        return a != b\n"
           "    try:\n"
           "        return not _ops.eq_operands(a, b)\n"
           "    except EvalError as exc:\n"
           "        raise exc.at(E.pos)\n"),
}

OPERATORS = frozenset(_BODY)


def _force_var(t: Thunk, var):
    try:
        return t.force()
    except InfiniteRecursion as exc:
        raise exc.at(var.pos)


_GLOBALS = {
    "Thunk": Thunk, "INT_MIN": INT_MIN, "INT_MAX": INT_MAX, "EvalError": EvalError,
    "_ops": ops, "_force_var": _force_var,
}
_factories: dict[tuple[str, str, str], object] = {}


def _factory(op: str, ka: str, kb: str):
    key = (op, ka, kb)
    f = _factories.get(key)
    if f is None:
        src = ("def make(Ca, Ia, Va, Cb, Ib, Vb, E, IO):\n"
               " def binop(env):\n"
               + "".join(" " + line + "\n" for line in _FETCH[ka].format(n="a").splitlines())
               + "".join(" " + line + "\n" for line in _FETCH[kb].format(n="b").splitlines())
               + "".join(" " + line + "\n" for line in _BODY[op].splitlines())
               + " return binop\n")
        namespace: dict = {}
        exec(compile(src, f"<nixlite binop {op} {ka} {kb}>", "exec"), dict(_GLOBALS), namespace)
        f = namespace["make"]
        _factories[key] = f
    return f


def binop(op: str, a: tuple, b: tuple, node, io):
    """A closure for ``a op b``; ``a``/``b`` are ``(kind, payload, var_node)``:
    CONST → the value, VAR0/VAR1 → the slot index in ``env``/``env[0]``,
    CODE → the operand's compiled closure; ``io`` copies paths to the store."""
    ka, pa, va = a
    kb, pb, vb = b
    make = _factory(op, ka, kb)
    return make(pa if ka in (CONST, CODE) else None, pa if ka in (VAR0, VAR1) else None, va,
                pb if kb in (CONST, CODE) else None, pb if kb in (VAR0, VAR1) else None, vb, node, io)


# ---------------------------------------------------------------- calls

_CALL_BODY = (
    "    try:\n"
    "        if type(f) is Lambda:\n"
    "            return f.fn({arg})\n"
    "        return call(f, {arg})\n"
    "    except EvalError as exc:\n"
    "        raise on_error(exc, f)\n"
)
_ARG = {"thunk": "Thunk(Cx, env)", "lazy": "Cx(env)"}
_call_factories: dict[tuple[str, str], object] = {}


def _call_factory(kf: str, ka: str):
    key = (kf, ka)
    f = _call_factories.get(key)
    if f is None:
        src = ("def make(Cf, If, Vf, Cx, on_error):\n"
               " def call1(env):\n"
               + "".join(" " + line + "\n" for line in _FETCH[kf].format(n="f").splitlines())
               + "".join(" " + line + "\n" for line in _CALL_BODY.format(arg=_ARG[ka]).splitlines())
               + " return call1\n")
        from nixlite.eval.values import Lambda, call

        namespace: dict = {}
        g = dict(_GLOBALS, Lambda=Lambda, call=call)
        exec(compile(src, f"<nixlite call {kf} {ka}>", "exec"), g, namespace)
        f = namespace["make"]
        _call_factories[key] = f
    return f


def call1(fn: tuple, arg_code, arg_is_thunk: bool, on_error):
    """A closure for ``f x``: ``fn`` is ``(kind, payload, var_node)`` as for ``binop``;
    the argument is ``Thunk(arg_code, env)`` or ``arg_code(env)``."""
    kf, pf, vf = fn
    make = _call_factory(kf, "thunk" if arg_is_thunk else "lazy")
    return make(pf if kf in (CONST, CODE) else None, pf if kf in (VAR0, VAR1) else None, vf,
                arg_code, on_error)
