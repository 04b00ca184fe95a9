"""``fromTOML`` (TOML 1.0) with today's Nix semantics: tables become sets,
64-bit integers, floats including ``inf``/``nan``; dates and times are
rejected (``Dates and times are not supported``) since timestamp values are
behind an experimental feature.  Errors read ``while parsing TOML: …``
(Nix 2.8: ``while parsing a TOML string: …``); the detail after the colon is
Python's TOML parser's description, not toml11's."""

from __future__ import annotations

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import str_noctx_arg
from nixlite.eval.builtins.json import no_null_byte
from nixlite.eval.values import INT_MAX, INT_MIN, Attrs, EvalError


class _Unsupported(Exception):
    pass


def _convert(v):
    t = type(v)
    if t is dict:
        return Attrs({no_null_byte(k): _convert(x) for k, x in v.items()})
    if t is list:
        return [_convert(x) for x in v]
    if t is int:
        if not INT_MIN <= v <= INT_MAX:
            raise _Unsupported(_OUT_OF_RANGE if v.bit_length() > 256 else
                               f"integer {v} is out of the range of a 64-bit integer")
        return v
    if t is str:
        return no_null_byte(v)
    if t is bool or t is float:
        return v
    import datetime  # already loaded by tomllib, which is what produced ``v``

    if isinstance(v, (datetime.date, datetime.time)):
        raise _Unsupported("Dates and times are not supported")
    raise _Unsupported(f"unsupported TOML value {v!r}")


_OUT_OF_RANGE = "an integer is out of the range of a 64-bit integer"


def from_toml(text: str):
    import tomllib  # only fromTOML needs it: kept off every evaluation's start-up

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise EvalError(f"while parsing TOML: {e}") from None
    except ValueError:  # Python's limit on converting long digit strings
        raise EvalError(f"while parsing TOML: {_OUT_OF_RANGE}") from None
    try:
        return _convert(doc)
    except _Unsupported as e:
        raise EvalError(f"while parsing TOML: {e}") from None


@builtin("fromTOML", 1)
def from_toml_builtin(s):
    return from_toml(str_noctx_arg(s, "while evaluating the argument passed to builtins.fromTOML"))
