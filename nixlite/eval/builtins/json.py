"""``toJSON`` and ``fromJSON`` as today's Nix (nlohmann::json) does them.

``to_json`` prints compactly with nlohmann's escaping and its shortest
round-trip float format (``1.0``, ``0.1``, ``1e+20``); Nix 2.8 printed floats
differently (see ``shared/spec/store.md`` §9) — we follow today's Nix.

``fromJSON`` parses with Python's C JSON decoder for speed and falls back to
a small re-implementation of nlohmann's lexer and parser only to describe a
syntax error with nlohmann's exact message (line, column, ``last read``).
"""

from __future__ import annotations

import json as _pyjson
import math
import re

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import sorted_names, str_noctx_arg
from nixlite.eval.settings import DEFAULT_MAX_CALL_DEPTH
from nixlite.eval.values import (
    INT_MAX,
    INT_MIN,
    Attrs,
    CStr,
    EvalError,
    Lambda,
    NixPath,
    NixTypeError,
    Thunk,
    call,
    mkstr,
    type_name,
)

# ----------------------------------------------------------------------- toJSON

_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _c in range(0x20):
    _ESC.setdefault(chr(_c), f"\\u{_c:04x}")
_ESC_TABLE = str.maketrans(_ESC)
_NEEDS_ESC = frozenset(_ESC)
_RAW_BYTE = re.compile("[\udc80-\udcff]")


def json_string(s: str) -> str:
    """A JSON string literal as nlohmann dumps it (UTF-8 kept, control chars escaped)."""
    if not s.isascii():
        _check_utf8(s)
    if _NEEDS_ESC.isdisjoint(s):
        return '"' + s + '"'
    return '"' + s.translate(_ESC_TABLE) + '"'


def _check_utf8(s: str) -> None:
    """nlohmann refuses to dump bytes that are not UTF-8 (kept as surrogates here)."""
    if not _RAW_BYTE.search(s):
        return
    data = s.encode("utf-8", "surrogateescape")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":
            raise EvalError("[json.exception.type_error.316] incomplete UTF-8 string; "
                            f"last byte: 0x{data[-1]:02X}") from None
        # nlohmann's decoder rejects at the first byte that cannot continue the sequence.
        index = e.start if e.reason == "invalid start byte" else e.end
        raise EvalError(f"[json.exception.type_error.316] invalid UTF-8 byte at index {index}: "
                        f"0x{data[index]:02X}") from None


def json_float(f: float) -> str:
    """nlohmann's ``dump`` of a double: shortest digits; fixed notation for
    decimal exponents in (-4, 15], scientific (``1e+20``, ``1.5e-07``) otherwise."""
    if not math.isfinite(f):
        return "null"
    r = repr(f)
    if -1e15 < f < 1e15 or "e" in r:
        # Python's shortest repr uses the same layout below 1e15 and in exponent form.
        return r
    return json_float_layout(f)


def json_float_layout(f: float) -> str:
    """nlohmann's layout rules applied to Python's shortest digits (finite ``f``)."""
    if f == 0.0:
        return "-0.0" if math.copysign(1.0, f) < 0 else "0.0"
    from decimal import Decimal  # only floats need it: kept off every evaluation's start-up

    sign, digits, exp = Decimal(repr(f)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0")
    exp += len(digits) - len(ds)
    k = len(ds)
    n = k + exp  # position of the decimal point relative to the digits
    neg = "-" if sign else ""
    if k <= n <= 15:
        return f"{neg}{ds}{'0' * (n - k)}.0"
    if 0 < n <= 15:
        return f"{neg}{ds[:n]}.{ds[n:]}"
    if -4 < n <= 0:
        return f"{neg}0.{'0' * -n}{ds}"
    e = n - 1
    mant = ds if k == 1 else f"{ds[0]}.{ds[1:]}"
    return f"{neg}{mant}e{'+' if e >= 0 else '-'}{abs(e):02d}"


def to_json(v, ctx: set[str], copy_to_store, max_depth: int = DEFAULT_MAX_CALL_DEPTH) -> str:
    """Serialise ``v`` (forcing it deeply) and collect string contexts into ``ctx``;
    ``copy_to_store`` (an ``EvalIO`` or None) copies paths into the store.  Nesting
    deeper than ``max_depth`` is Nix's stack overflow (``max-call-depth``)."""
    out: list[str] = []
    _emit(v, out, ctx, copy_to_store, max_depth)
    return "".join(out)


def too_deep() -> EvalError:
    return EvalError("stack overflow; max-call-depth exceeded")


def _emit(v, out: list[str], ctx: set[str], copy_to_store, depth: int) -> None:
    if type(v) is Thunk:
        v = v.force()
    t = type(v)
    if t is str:
        out.append(json_string(v))
    elif t is int:
        out.append(str(v))
    elif t is bool:
        out.append("true" if v else "false")
    elif v is None:
        out.append("null")
    elif t is CStr:
        ctx.update(v.ctx)
        out.append(json_string(v))
    elif t is float:
        out.append(json_float(v))
    elif t is list:
        if not v:
            out.append("[]")
            return
        if depth <= 0:
            raise too_deep()
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            try:
                _emit(item, out, ctx, copy_to_store, depth - 1)
            except EvalError as e:
                raise e.add_trace(f"while evaluating list element at index {i}")
        out.append("]")
    elif t is Attrs:
        fn = v.get("__toString")
        if fn is not None:
            from nixlite.eval.ops import coerce_to_string

            s = coerce_to_string(call(fn, v), copy_to_store=copy_to_store)
            if type(s) is CStr:
                ctx.update(s.ctx)
            out.append(json_string(s))
            return
        if not v:
            out.append("{}")
            return
        if depth <= 0:
            raise too_deep()
        if "outPath" in v:
            _emit(v["outPath"], out, ctx, copy_to_store, depth - 1)
            return
        out.append("{")
        first = True
        for name in sorted_names(v):
            if first:
                first = False
            else:
                out.append(",")
            out.append(json_string(name))
            out.append(":")
            try:
                _emit(v[name], out, ctx, copy_to_store, depth - 1)
            except EvalError as e:
                raise e.add_trace(f"while evaluating attribute '{name}'", v.attr_pos(name))
        out.append("}")
    elif t is NixPath:
        if copy_to_store is not None:
            from nixlite.eval.ops import coerce_to_string

            s = coerce_to_string(v, copy_to_store=copy_to_store)
            if type(s) is CStr:
                ctx.update(s.ctx)
            out.append(json_string(s))
        else:
            out.append(json_string(v.path))
    else:  # functions: a lambda is reported where it is written (Nix's determinePos)
        raise NixTypeError(f"cannot convert {type_name(v)} to JSON",
                           v.pos if t is Lambda else None)


@builtin("toJSON", 1, state=True)
def to_json_builtin(state, v):
    ctx: set[str] = set()
    try:
        s = to_json(v, ctx, state.io, max_depth=state.settings.max_call_depth)
    except EvalError as e:
        raise e.add_trace("while evaluating the first argument passed to builtins.toJSON")
    return mkstr(s, ctx)


# --------------------------------------------------------------------- fromJSON


class _Reject(ValueError):
    pass


def _reject_constant(name: str):
    raise _Reject(name)


def _parse_int(s: str):
    # Past 20 digits a number is beyond 64 bits: it is read as a double, as Nix's
    # JSON parser does (and long digit strings never reach Python's int()).
    if len(s) <= 20:
        n = int(s)
        if INT_MIN <= n <= INT_MAX:
            return n
        if 0 < n <= (1 << 64) - 1:
            raise EvalError(f"unsigned json number {n} outside of Nix integer range")
    return _parse_float(s)


def _parse_float(s: str) -> float:
    f = float(s)
    if math.isinf(f):
        raise EvalError(f"[json.exception.out_of_range.406] number overflow parsing '{s}'")
    return f


def _object(pairs) -> Attrs:
    return Attrs(pairs)


_DECODER = _pyjson.JSONDecoder(
    object_pairs_hook=_object, parse_int=_parse_int, parse_float=_parse_float,
    parse_constant=_reject_constant,
)


def from_json(text: str):
    """Parse JSON text into Nix values, with nlohmann's rules and messages."""
    body = text[1:] if text.startswith("\ufeff") else text
    try:
        v = _DECODER.decode(body)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, EvalError):
            raise
        raise EvalError(_NlohmannParser(text).error_message()) from None
    if not body.isascii() and _RAW_BYTE.search(body):
        # Bytes that are not UTF-8 (kept as surrogate escapes) inside a string:
        # nlohmann rejects them, Python's decoder does not.
        raise EvalError(_NlohmannParser(text).error_message())
    if "\\u" in body and ("\\u0000" in body or "\\ud" in body.lower()):
        try:
            v = _fix_strings(v)
        except _LoneSurrogate:
            raise EvalError(_NlohmannParser(text).error_message()) from None
    return v


class _LoneSurrogate(Exception):
    """A ``\\uD800``-``\\uDFFF`` escape without its pair (Python's decoder keeps it)."""


def no_null_byte(s: str) -> str:
    """Today's Nix refuses strings with NUL bytes (2.8 silently cut them short)."""
    if "\0" in s:
        shown = s.replace("\0", "\u2400")
        raise EvalError(f"input string '{shown}' cannot be represented as Nix string "
                        "because it contains null bytes")
    return s


def _fix_strings(v):
    """Apply nlohmann/Nix string rules Python's decoder does not: no NUL bytes,
    a lone surrogate escape is an error."""
    t = type(v)
    if t is str:
        for ch in v:
            if "\ud800" <= ch <= "\udfff":
                raise _LoneSurrogate
        return no_null_byte(v)
    if t is list:
        return [_fix_strings(x) for x in v]
    if t is Attrs:
        return Attrs({_fix_strings(k): _fix_strings(x) for k, x in v.items()})
    return v


@builtin("fromJSON", 1)
def from_json_builtin(s):
    s = str_noctx_arg(s, "while evaluating the first argument passed to builtins.fromJSON")
    try:
        return from_json(s)
    except EvalError as e:
        raise e.add_trace("while decoding a JSON string")


# ------------------------------------------------- nlohmann's syntax error text

_CONTROL_NAMES = (
    "NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN "
    "ETB CAN EM SUB ESC FS GS RS US"
).split()
_SHORT_ESC = {8: "b", 9: "t", 10: "n", 12: "f", 13: "r"}

_TOKEN_NAMES = {
    "true": "true literal", "false": "false literal", "null": "null literal",
    "string": "string literal", "number": "number literal", "[": "'['", "{": "'{'",
    "]": "']'", "}": "'}'", ":": "':'", ",": "','", "error": "<parse error>",
    "eof": "end of input", "value": "'[', '{', or a literal",
}


class _Fail(Exception):
    pass


class _NlohmannParser:
    """Just enough of nlohmann::json's lexer and SAX parser to find the first
    syntax error and word it identically (including its ``last read`` text,
    which accumulates from the last string or number token)."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8", "surrogateescape")
        self.pos = 0
        self.line = 0
        self.col = 0
        self.current = -1
        self.token_string = bytearray()
        self.lex_error = ""
        if self.data.startswith(b"\xef\xbb\xbf"):
            self.pos = 3

    # lexer ---------------------------------------------------------------
    def get(self) -> int:
        self.col += 1
        if self.pos < len(self.data):
            c = self.data[self.pos]
            self.pos += 1
            self.token_string.append(c)
        else:
            self.pos += 1
            c = -1
        if c == 0x0A:
            self.line += 1
            self.col = 0
        self.current = c
        return c

    def reset(self) -> None:
        self.token_string = bytearray()
        if self.current >= 0:
            self.token_string.append(self.current)

    def scan(self) -> str:
        c = self.get()
        while c in (0x20, 0x09, 0x0A, 0x0D):
            c = self.get()
        if c == -1:
            return "eof"
        ch = chr(c)
        if ch in "[]{}:,":
            return ch
        if ch == "t":
            return self.literal(b"true", "true")
        if ch == "f":
            return self.literal(b"false", "false")
        if ch == "n":
            return self.literal(b"null", "null")
        if ch == '"':
            return self.string()
        if ch == "-" or ch.isdigit():
            return self.number()
        self.lex_error = "invalid literal"
        return "error"

    def literal(self, word: bytes, kind: str) -> str:
        for expected in word[1:]:
            if self.get() != expected:
                self.lex_error = "invalid literal"
                return "error"
        return kind

    def string(self) -> str:
        self.reset()
        while True:
            c = self.get()
            if c == -1:
                self.lex_error = "invalid string: missing closing quote"
                return "error"
            if c == 0x22:
                return "string"
            if c == 0x5C:
                e = self.get()
                if e == 0x75:
                    cp = self.hex4()
                    if cp < 0:
                        return "error"
                    if 0xD800 <= cp <= 0xDBFF:
                        if self.get() != 0x5C or self.get() != 0x75:
                            self.lex_error = ("invalid string: surrogate U+D800..U+DBFF must be "
                                              "followed by U+DC00..U+DFFF")
                            return "error"
                        low = self.hex4()
                        if low < 0:
                            return "error"
                        if not 0xDC00 <= low <= 0xDFFF:
                            self.lex_error = ("invalid string: surrogate U+D800..U+DBFF must be "
                                              "followed by U+DC00..U+DFFF")
                            return "error"
                    elif 0xDC00 <= cp <= 0xDFFF:
                        self.lex_error = ("invalid string: surrogate U+DC00..U+DFFF must follow "
                                          "U+D800..U+DBFF")
                        return "error"
                elif e not in b'"\\/bfnrt':
                    self.lex_error = "invalid string: forbidden character after backslash"
                    return "error"
            elif c < 0x20:
                esc = f"\\u{c:04X}"
                if c in _SHORT_ESC:
                    esc += f" or \\{_SHORT_ESC[c]}"
                self.lex_error = (f"invalid string: control character U+{c:04X} "
                                  f"({_CONTROL_NAMES[c]}) must be escaped to {esc}")
                return "error"
            elif c >= 0x80 and not self.utf8_tail(c):
                self.lex_error = "invalid string: ill-formed UTF-8 byte"
                return "error"

    def utf8_tail(self, c: int) -> bool:
        if 0xC2 <= c <= 0xDF:
            n = 1
        elif 0xE0 <= c <= 0xEF:
            n = 2
        elif 0xF0 <= c <= 0xF4:
            n = 3
        else:
            return False
        for _ in range(n):
            if not 0x80 <= self.get() <= 0xBF:
                return False
        return True

    def hex4(self) -> int:
        cp = 0
        for _ in range(4):
            c = self.get()
            if c == -1 or chr(c) not in "0123456789abcdefABCDEF":
                self.lex_error = "invalid string: '\\u' must be followed by 4 hex digits"
                return -1
            cp = cp * 16 + int(chr(c), 16)
        return cp

    def number(self) -> str:
        self.reset()
        c = self.current
        if c == 0x2D:
            c = self.get()
            if not (0x30 <= c <= 0x39):
                self.lex_error = "invalid number; expected digit after '-'"
                return "error"
        if c == 0x30:
            c = self.get()
        else:
            c = self.get()
            while 0x30 <= c <= 0x39:
                c = self.get()
        if c == 0x2E:
            c = self.get()
            if not (0x30 <= c <= 0x39):
                self.lex_error = "invalid number; expected digit after '.'"
                return "error"
            while 0x30 <= c <= 0x39:
                c = self.get()
        if c in (0x65, 0x45):
            c = self.get()
            if c in (0x2B, 0x2D):
                c = self.get()
                if not (0x30 <= c <= 0x39):
                    self.lex_error = "invalid number; expected digit after exponent sign"
                    return "error"
            elif not (0x30 <= c <= 0x39):
                self.lex_error = "invalid number; expected '+', '-', or digit after exponent"
                return "error"
            while 0x30 <= c <= 0x39:
                c = self.get()
        self.unget()
        return "number"

    def unget(self) -> None:
        """Give back the character that ended a number."""
        self.col -= 1
        self.pos -= 1
        if self.current != -1:
            self.token_string.pop()
            if self.current == 0x0A:
                self.line -= 1
        self.current = -2  # nothing current: the next get() re-reads it

    # parser --------------------------------------------------------------
    def fail(self, context: str, token: str, expected: str | None) -> None:
        msg = f"syntax error while parsing {context} - "
        if token == "error":
            raw = bytearray()
            for b in self.token_string:
                if b <= 0x1F:
                    raw += f"<U+{b:04X}>".encode()
                else:
                    raw.append(b)
            shown = raw.decode("utf-8", "surrogateescape")
            msg += f"{self.lex_error}; last read: '{shown}'"
        else:
            msg += f"unexpected {_TOKEN_NAMES[token]}"
        if expected is not None:
            msg += f"; expected {_TOKEN_NAMES[expected]}"
        raise _Fail(f"[json.exception.parse_error.101] parse error at line {self.line + 1}, "
                    f"column {self.col}: {msg}")

    def value(self, token: str) -> None:
        if token == "{":
            token = self.scan()
            if token == "}":
                return
            while True:
                if token != "string":
                    self.fail("object key", token, "string")
                token = self.scan()
                if token != ":":
                    self.fail("object separator", token, ":")
                self.value(self.scan())
                token = self.scan()
                if token == ",":
                    token = self.scan()
                    continue
                if token == "}":
                    return
                self.fail("object", token, "}")
        if token == "[":
            token = self.scan()
            if token == "]":
                return
            while True:
                self.value(token)
                token = self.scan()
                if token == ",":
                    token = self.scan()
                    continue
                if token == "]":
                    return
                self.fail("array", token, "]")
        if token in ("true", "false", "null", "string", "number"):
            return
        if token == "error":
            self.fail("value", token, None)
        self.fail("value", token, "value")

    def error_message(self) -> str:
        try:
            self.value(self.scan())
            token = self.scan()
            if token != "eof":
                self.fail("value", token, "eof")
        except _Fail as f:
            return str(f)
        except RecursionError:
            return "[json.exception.parse_error.101] parse error: nesting too deep"
        return "[json.exception.parse_error.101] parse error: invalid JSON"
