"""Bit operations and float rounding.  (``add``/``sub``/``mul``/``div``/
``lessThan`` live with the operators in ``core``.)"""

from __future__ import annotations

import math

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import float_arg, int_arg
from nixlite.eval.printer import format_float
from nixlite.eval.values import INT_MIN, EvalError, Thunk


def _bit(name: str, op):
    first = f"while evaluating the first argument passed to builtins.{name}"
    second = f"while evaluating the second argument passed to builtins.{name}"

    def fn(a, b):
        return op(int_arg(a, first), int_arg(b, second))

    fn.__name__ = name
    builtin(name, 2)(fn)


_bit("bitAnd", int.__and__)
_bit("bitOr", int.__or__)
_bit("bitXor", int.__xor__)


def _round(name: str, rounder):
    what = f"while evaluating the first argument passed to builtins.{name}"

    def fn(x):
        v = x.force() if type(x) is Thunk else x
        f = float_arg(v, what)
        r = rounder(f) if math.isfinite(f) else f
        # Today's Nix: the rounded value must fit a 64-bit integer; an int argument
        # too large to survive the trip through a double is returned unchanged.
        if INT_MIN <= r < -INT_MIN:
            return int(r)
        if type(v) is int:
            return v
        raise EvalError(f"NixFloat '{format_float(float(r))}' is not representable as NixInt")

    fn.__name__ = name
    builtin(name, 1)(fn)


_round("ceil", math.ceil)
_round("floor", math.floor)
