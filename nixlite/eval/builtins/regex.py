"""``match`` and ``split``: POSIX extended regular expressions as Nix runs them
(libstdc++ ``std::regex`` with the ``extended`` flag), translated to Python
``re`` byte patterns.

What the translation reproduces:
* bytes, not characters: ``.`` and bracket expressions match one byte of the
  UTF-8 string, so ``match "(.)" "é"`` is ``null`` as in Nix;
* ``.`` matches any byte but NUL (newlines included); ``^``/``$`` anchor at the
  very start/end of the string only;
* libstdc++'s grammar and its errors: a quantifier needs an atom, ``a{,2}``,
  ``a{2,1}``, ``[z-a]``, ``[a-c-e]``, unknown ``[:class:]`` and escapes of
  ordinary characters (Nix builds with ``__STRICT_ANSI__``) are
  ``invalid regular expression``;
* ``a*?`` is ``(a*)?`` (no lazy quantifiers in POSIX), stacked quantifiers nest;
* bracket ranges compare ``char`` values (signed), C-locale character classes.

Matching priorities are libstdc++'s depth-first order (alternatives left to
right, greedy repeats), which is Python's backtracking order; whole-string
``match`` agrees with it exactly.  Known difference: in ``split``'s searches
libstdc++ prefers, among alternatives, the one giving the longest match at a
position (POSIX rule), Python the first one.
"""

from __future__ import annotations

import re

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import from_bytes, str_arg, to_bytes
from nixlite.eval.values import EvalError, Thunk

_CLASSES: dict[str, frozenset[int]] = {}


def _cls(name: str, pred) -> None:
    _CLASSES[name] = frozenset(b for b in range(128) if pred(chr(b)))


_cls("alnum", str.isalnum)
_cls("alpha", str.isalpha)
_cls("blank", lambda c: c in " \t")
_cls("cntrl", lambda c: ord(c) < 32 or ord(c) == 127)
_cls("digit", str.isdigit)
_cls("graph", lambda c: 33 <= ord(c) <= 126)
_cls("lower", str.islower)
_cls("print", lambda c: 32 <= ord(c) <= 126)
_cls("punct", lambda c: 33 <= ord(c) <= 126 and not c.isalnum())
_cls("space", lambda c: c in " \t\n\r\v\f")
_cls("upper", str.isupper)
_cls("xdigit", lambda c: c in "0123456789abcdefABCDEF")
_CLASSES["d"] = _CLASSES["digit"]
_CLASSES["s"] = _CLASSES["space"]
_CLASSES["w"] = _CLASSES["alnum"] | {ord("_")}

# POSIX collating element names libstdc++ knows (a few common ones; single
# characters name themselves).
_COLLATE_NAMES = {
    "NUL": 0, "tab": 9, "newline": 10, "vertical-tab": 11, "form-feed": 12,
    "carriage-return": 13, "space": 32, "exclamation-mark": 33, "quotation-mark": 34,
    "number-sign": 35, "dollar-sign": 36, "percent-sign": 37, "ampersand": 38,
    "apostrophe": 39, "left-parenthesis": 40, "right-parenthesis": 41, "asterisk": 42,
    "plus-sign": 43, "comma": 44, "hyphen": 45, "hyphen-minus": 45, "period": 46,
    "full-stop": 46, "slash": 47, "solidus": 47, "zero": 48, "one": 49, "two": 50,
    "three": 51, "four": 52, "five": 53, "six": 54, "seven": 55, "eight": 56, "nine": 57,
    "colon": 58, "semicolon": 59, "less-than-sign": 60, "equals-sign": 61,
    "greater-than-sign": 62, "question-mark": 63, "commercial-at": 64,
    "left-square-bracket": 91, "backslash": 92, "reverse-solidus": 92,
    "right-square-bracket": 93, "circumflex": 94, "circumflex-accent": 94,
    "underscore": 95, "low-line": 95, "grave-accent": 96, "left-brace": 123,
    "left-curly-bracket": 123, "vertical-line": 124, "right-brace": 125,
    "right-curly-bracket": 125, "tilde": 126, "DEL": 127,
}

# libstdc++'s escapable characters in extended mode (``\\]`` and ``\\}`` are errors).
_SPECIAL = b"^$\\.*+?()[{|"


class RegexError(Exception):
    pass


def _signed(b: int) -> int:
    return b - 256 if b >= 128 else b


class _Translator:
    """Recursive-descent parser of libstdc++'s ERE grammar emitting Python syntax."""

    def __init__(self, pattern: bytes) -> None:
        self.p = pattern
        self.i = 0
        self.groups = 0
        self.alternation = False

    def peek(self) -> int | None:
        return self.p[self.i] if self.i < len(self.p) else None

    def translate(self) -> str:
        out = self.disjunction()
        if self.i != len(self.p):
            raise RegexError("unmatched ')'")
        return out

    def disjunction(self) -> str:
        alts = [self.alternative()]
        while self.peek() == 0x7C:  # |
            self.i += 1
            self.alternation = True
            alts.append(self.alternative())
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    def alternative(self) -> str:
        parts = []
        while True:
            c = self.peek()
            if c is None or c == 0x7C or c == 0x29:  # end, |, )
                return "".join(parts)
            if c == 0x5E:  # ^
                self.i += 1
                parts.append(r"\A")
                continue
            if c == 0x24:  # $
                self.i += 1
                parts.append(r"\Z")
                continue
            atom = self.atom()
            while True:
                q = self.quantifier()
                if q is None:
                    break
                atom = f"(?:{atom}){q}"
            parts.append(atom)

    def atom(self) -> str:
        c = self.p[self.i]
        self.i += 1
        if c == 0x2E:  # .
            return r"[^\x00]"
        if c == 0x28:  # (
            self.groups += 1
            inner = self.disjunction()
            if self.peek() != 0x29:
                raise RegexError("unmatched '('")
            self.i += 1
            return f"({inner})"
        if c == 0x5B:  # [
            return self.bracket()
        if c == 0x5C:  # backslash
            e = self.peek()
            if e is None or e not in _SPECIAL:
                raise RegexError("invalid escape")
            self.i += 1
            return _lit(e)
        if c in b"*+?{":
            raise RegexError("nothing to repeat")
        return _lit(c)

    def quantifier(self) -> str | None:
        c = self.peek()
        if c == 0x2A:
            self.i += 1
            return "*"
        if c == 0x2B:
            self.i += 1
            return "+"
        if c == 0x3F:
            self.i += 1
            return "?"
        if c != 0x7B:
            return None
        self.i += 1
        lo = self.number()
        if lo is None:
            raise RegexError("bad brace")
        if self.peek() == 0x2C:
            self.i += 1
            hi = self.number()
        else:
            hi = lo
        if self.peek() != 0x7D:
            raise RegexError("bad brace")
        self.i += 1
        if hi is None:
            return f"{{{lo},}}"
        if hi < lo:
            raise RegexError("bad brace")
        return f"{{{lo},{hi}}}"

    def number(self) -> int | None:
        start = self.i
        while self.peek() is not None and 0x30 <= self.peek() <= 0x39:
            self.i += 1
        return int(self.p[start:self.i]) if self.i > start else None

    # bracket expressions ------------------------------------------------------
    def bracket(self) -> str:
        negate = False
        if self.peek() == 0x5E:
            negate = True
            self.i += 1
        members: set[int] = set()
        last: int | None = None  # pending single char (libstdc++'s __last_char)
        last_is_class = False
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise RegexError("unmatched '['")
            if c == 0x5D and not first:  # ]
                self.i += 1
                break
            first_here = first
            first = False
            item = self.bracket_item(first_here)
            if item[0] == "class":
                if last is not None:
                    members.add(last)
                last = None
                last_is_class = True
                members |= item[1]
                continue
            if item[0] == "char":
                if last is not None:
                    members.add(last)
                last = item[1]
                last_is_class = False
                continue
            # a dash
            if first_here:
                last = 0x2D
                continue
            if self.peek() == 0x5D:  # "-]": a literal dash
                if last is not None:
                    members.add(last)
                last = 0x2D
                continue
            if last_is_class or last is None:
                raise RegexError("invalid range")
            end = self.bracket_item(False)
            if end[0] == "dash":
                hi = 0x2D
            elif end[0] == "char":
                hi = end[1]
            else:
                raise RegexError("invalid range")
            lo_s, hi_s = _signed(last), _signed(hi)
            if lo_s > hi_s:
                raise RegexError("invalid range")
            members |= {b for b in range(256) if lo_s <= _signed(b) <= hi_s}
            last = None
        if last is not None:
            members.add(last)
        if negate:
            members = set(range(256)) - members
        return _set(members)

    def bracket_item(self, first: bool):
        c = self.p[self.i]
        self.i += 1
        if c == 0x2D:
            return ("dash",)
        if c == 0x5B and self.peek() in (0x3A, 0x2E, 0x3D):  # [: [. [=
            kind = self.p[self.i]
            self.i += 1
            close = bytes((kind, 0x5D))
            end = self.p.find(close, self.i)
            if end < 0:
                raise RegexError("unmatched '['")
            name = self.p[self.i:end].decode("latin-1")
            self.i = end + 2
            if kind == 0x3A:
                cls = _CLASSES.get(name)
                if cls is None:
                    raise RegexError("invalid character class")
                return ("class", cls)
            if len(name) == 1:
                code = ord(name)
            elif name in _COLLATE_NAMES:
                code = _COLLATE_NAMES[name]
            else:
                raise RegexError("invalid collating element")
            if kind == 0x3D:
                return ("class", frozenset((code,)))
            return ("char", code)
        return ("char", c)


def _lit(b: int) -> str:
    return re.escape(chr(b)) if b < 128 else f"\\x{b:02x}"


def _set(members: set[int]) -> str:
    if not members:
        return "(?!)"
    if len(members) == 256:
        return r"[\x00-\xff]"
    parts = []
    ordered = sorted(members)
    start = prev = ordered[0]
    for b in ordered[1:] + [None]:
        if b is not None and b == prev + 1:
            prev = b
            continue
        parts.append(f"\\x{start:02x}" if start == prev else f"\\x{start:02x}-\\x{prev:02x}")
        if b is not None:
            start = prev = b
    return "[" + "".join(parts) + "]"


_CACHE: dict[str, re.Pattern] = {}


def compile_regex(pattern: str) -> re.Pattern:
    """The Python byte pattern for a Nix regex (cached); EvalError if invalid."""
    compiled = _CACHE.get(pattern)
    if compiled is None:
        try:
            compiled = re.compile(_Translator(to_bytes(pattern)).translate().encode("latin-1"))
        except (RegexError, re.error, RecursionError, OverflowError):
            raise EvalError(f"invalid regular expression '{pattern}'") from None
        if len(_CACHE) > 1024:
            _CACHE.clear()
        _CACHE[pattern] = compiled
    return compiled


def _groups(m) -> list:
    return [None if g is None else from_bytes(g) for g in m.groups()]


@builtin("match", 2)
def match(regex, s):
    regex = str_arg(regex, "while evaluating the first argument passed to builtins.match")
    s = str_arg(s, "while evaluating the second argument passed to builtins.match")
    m = compile_regex(str(regex)).fullmatch(to_bytes(s))
    return None if m is None else _groups(m)


@builtin("split", 2)
def split(regex, s):
    regex = str_arg(regex, "while evaluating the first argument passed to builtins.split")
    orig = s.force() if type(s) is Thunk else s
    s = str_arg(orig, "while evaluating the second argument passed to builtins.split")
    compiled = compile_regex(str(regex))
    data = to_bytes(s)
    out: list = []
    prev = 0
    for m in compiled.finditer(data):
        out.append(from_bytes(data[prev:m.start()]))
        out.append(_groups(m))
        prev = m.end()
    if not out:
        return [s]
    out.append(from_bytes(data[prev:]))
    return out
