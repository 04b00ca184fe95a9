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
right, greedy repeats), which is Python's backtracking order, so whole-string
``match`` uses Python's engine.  In ``split``'s searches libstdc++ prefers,
among alternatives, the longest match at a position (POSIX rule); patterns
with ``|`` are therefore searched by a re-implementation of its executor.
"""

from __future__ import annotations

import re

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import from_bytes, str_arg, str_noctx_arg, to_bytes
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


class _Parser:
    """Recursive-descent parser of libstdc++'s ERE grammar into a small AST:
    ``("set", bytes)``, ``("group", n, node)``, ``("cat", [nodes])``, ``("empty",)``,
    ``("alt", left, right)`` (left-associative, as libstdc++ builds it),
    ``("bol",)``, ``("eol",)`` and ``("rep", node, kind, lo, hi)`` where
    ``kind`` is ``*``, ``+``, ``?`` or ``{`` (``hi`` None: unbounded)."""

    def __init__(self, pattern: bytes) -> None:
        self.p = pattern
        self.i = 0
        self.groups = 0
        self.alternation = False

    def peek(self) -> int | None:
        return self.p[self.i] if self.i < len(self.p) else None

    def parse(self):
        node = self.disjunction()
        if self.i != len(self.p):
            raise RegexError("unmatched ')'")
        return node

    def disjunction(self):
        node = self.alternative()
        while self.peek() == 0x7C:  # |
            self.i += 1
            self.alternation = True
            node = ("alt", node, self.alternative())
        return node

    def alternative(self):
        parts = []
        while True:
            c = self.peek()
            if c is None or c == 0x7C or c == 0x29:  # end, |, )
                if not parts:
                    return ("empty",)
                return parts[0] if len(parts) == 1 else ("cat", parts)
            if c == 0x5E:  # ^
                self.i += 1
                parts.append(("bol",))
                continue
            if c == 0x24:  # $
                self.i += 1
                parts.append(("eol",))
                continue
            atom = self.atom()
            while True:
                q = self.quantifier()
                if q is None:
                    break
                atom = ("rep", atom, *q)
            parts.append(atom)

    def atom(self):
        c = self.p[self.i]
        self.i += 1
        if c == 0x2E:  # .
            return ("set", _ANY)
        if c == 0x28:  # (
            self.groups += 1
            n = self.groups
            inner = self.disjunction()
            if self.peek() != 0x29:
                raise RegexError("unmatched '('")
            self.i += 1
            return ("group", n, inner)
        if c == 0x5B:  # [
            return ("set", self.bracket())
        if c == 0x5C:  # backslash
            e = self.peek()
            if e is None or e not in _SPECIAL:
                raise RegexError("invalid escape")
            self.i += 1
            return ("set", frozenset((e,)))
        if c in b"*+?{":
            raise RegexError("nothing to repeat")
        return ("set", frozenset((c,)))

    def quantifier(self):
        c = self.peek()
        if c == 0x2A:
            self.i += 1
            return ("*", 0, None)
        if c == 0x2B:
            self.i += 1
            return ("+", 1, None)
        if c == 0x3F:
            self.i += 1
            return ("?", 0, 1)
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
        if hi is not None and hi < lo:
            raise RegexError("bad brace")
        return ("{", lo, hi)

    def number(self) -> int | None:
        start = self.i
        while self.peek() is not None and 0x30 <= self.peek() <= 0x39:
            self.i += 1
        if self.i == start:
            return None
        digits = self.p[start:self.i]
        # a count past any machine integer is as out of reach as a huge one
        return int(digits) if len(digits) <= 18 else 1 << 63

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
        return frozenset(members)

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


_ANY = frozenset(range(1, 256))


def to_python(node) -> str:
    """Python ``re`` syntax (bytes) for a parsed regex."""
    kind = node[0]
    if kind == "set":
        members = node[1]
        if len(members) == 1:
            return _lit(next(iter(members)))
        if members == _ANY:
            return r"[^\x00]"
        return _set(members)
    if kind == "cat":
        return "".join(map(to_python, node[1]))
    if kind == "group":
        return "(" + to_python(node[2]) + ")"
    if kind == "alt":
        return "(?:" + to_python(node[1]) + "|" + to_python(node[2]) + ")"
    if kind == "rep":
        body = to_python(node[1])
        q = node[2]
        if q == "{":
            q = f"{{{node[3]},}}" if node[4] is None else f"{{{node[3]},{node[4]}}}"
        return f"(?:{body}){q}"
    if kind == "bol":
        return r"\A"
    if kind == "eol":
        return r"\Z"
    return ""


class Regex:
    """A compiled Nix regex: the Python pattern, and for searches with
    alternation the libstdc++-style NFA (see ``_PosixSearch``)."""

    __slots__ = ("py", "ast", "groups", "alternation", "_nfa")

    def __init__(self, py, ast, groups: int, alternation: bool) -> None:
        self.py = py
        self.ast = ast
        self.groups = groups
        self.alternation = alternation
        self._nfa = None

    def nfa(self):
        if self._nfa is None:
            self._nfa = _Nfa(self.ast, self.groups)
        return self._nfa


_CACHE: dict[str, Regex] = {}


def compile_regex(pattern: str) -> Regex:
    """The compiled form of a Nix regex (cached); EvalError if invalid."""
    compiled = _CACHE.get(pattern)
    if compiled is None:
        try:
            parser = _Parser(to_bytes(pattern))
            ast = parser.parse()
            py = re.compile(to_python(ast).encode("latin-1"))
            compiled = Regex(py, ast, parser.groups, parser.alternation)
        except (RegexError, re.error, RecursionError, OverflowError):
            raise EvalError(f"invalid regular expression '{pattern}'") from None
        if len(_CACHE) > 1024:
            _CACHE.clear()
        _CACHE[pattern] = compiled
    return compiled


def _groups(m) -> list:
    return [None if g is None else from_bytes(g) for g in m.groups()]


# ---------------------------------------------------------------------------
# libstdc++'s search rule, for patterns with alternation
#
# In a search (``split``) libstdc++'s depth-first executor, in POSIX mode,
# explores both sides of every ``|`` and keeps the longest match found at a
# start position, while a greedy repeat stops once its "more" branch found a
# match.  Python's first-match backtracking differs exactly there, so patterns
# with ``|`` are searched with this small re-implementation: the NFA is built
# the way libstdc++'s compiler builds it and run with its frame discipline.

_MATCH, _ALT, _REPEAT, _SUB_BEGIN, _SUB_END, _BOL, _EOL, _ACCEPT, _DUMMY = range(9)
_F_NEXT, _F_FALLBACK_NEXT, _F_REP, _F_POSIX_ALT, _F_MERGE, _F_RESTORE_FIRST, \
    _F_RESTORE_SECOND, _F_RESTORE_REP, _F_DEC_REP = range(9)


class _Nfa:
    __slots__ = ("op", "nxt", "alt", "arg", "start", "groups")

    def __init__(self, ast, groups: int) -> None:
        self.op: list[int] = []
        self.nxt: list[int] = []
        self.alt: list[int] = []
        self.arg: list = []
        self.groups = groups
        begin = self.new(_SUB_BEGIN, arg=0)
        body = self.build(ast)
        end = self.new(_SUB_END, arg=0)
        accept = self.new(_ACCEPT)
        self.nxt[begin] = body[0]
        self.nxt[body[1]] = end
        self.nxt[end] = accept
        self.start = begin

    def new(self, op: int, nxt: int = -1, alt: int = -1, arg=None) -> int:
        self.op.append(op)
        self.nxt.append(nxt)
        self.alt.append(alt)
        self.arg.append(arg)
        return len(self.op) - 1

    def build(self, node) -> tuple[int, int]:
        """States for ``node`` as (first, last); ``last``'s ``nxt`` is left open."""
        kind = node[0]
        if kind == "set":
            i = self.new(_MATCH, arg=node[1])
            return i, i
        if kind == "empty":
            i = self.new(_DUMMY)
            return i, i
        if kind == "bol" or kind == "eol":
            i = self.new(_BOL if kind == "bol" else _EOL)
            return i, i
        if kind == "group":
            b = self.new(_SUB_BEGIN, arg=node[1])
            first, last = self.build(node[2])
            e = self.new(_SUB_END, arg=node[1])
            self.nxt[b] = first
            self.nxt[last] = e
            return b, e
        if kind == "cat":
            first, last = self.build(node[1][0])
            for sub in node[1][1:]:
                f2, l2 = self.build(sub)
                self.nxt[last] = f2
                last = l2
            return first, last
        if kind == "alt":
            f1, l1 = self.build(node[1])
            f2, l2 = self.build(node[2])
            end = self.new(_DUMMY)
            self.nxt[l1] = end
            self.nxt[l2] = end
            return self.new(_ALT, nxt=f2, alt=f1), end
        # repetition
        _, body, q, lo, hi = node
        if q == "*":
            f, l_ = self.build(body)
            r = self.new(_REPEAT, alt=f)
            self.nxt[l_] = r
            return r, r
        if q == "+":
            f, l_ = self.build(body)
            r = self.new(_REPEAT, alt=f)
            self.nxt[l_] = r
            return f, r
        if q == "?":
            f, l_ = self.build(body)
            end = self.new(_DUMMY)
            r = self.new(_REPEAT, alt=f, nxt=end)
            self.nxt[l_] = end
            return r, end
        first = last = self.new(_DUMMY)
        for _ in range(lo):
            f, l_ = self.build(body)
            self.nxt[last] = f
            last = l_
        if hi is None:
            f, l_ = self.build(body)
            r = self.new(_REPEAT, alt=f)
            self.nxt[l_] = r
            self.nxt[last] = r
            return first, r
        end = self.new(_DUMMY)
        for _ in range(hi - lo):
            f, l_ = self.build(body)
            r = self.new(_REPEAT, alt=f, nxt=end)
            self.nxt[last] = r
            last = l_
        self.nxt[last] = end
        return first, end

    def run(self, data: bytes, begin: int, not_null: bool, prev_avail: bool):
        """libstdc++'s DFS executor in prefix mode from ``begin``: the chosen
        match as a list of (start, end) per group (None: unmatched), or None."""
        op, nxt, alt, arg = self.op, self.nxt, self.alt, self.arg
        n = len(data)
        ng = self.groups + 1
        first = [-1] * ng
        second = [-1] * ng
        matched = [False] * ng
        rep_pos: dict[int, int] = {}
        rep_cnt: dict[int, int] = {}
        results = None
        sol_pos = -1
        has_sol = False
        cur = begin
        frames: list[tuple] = [(_F_NEXT, self.start)]
        pop = frames.pop
        push = frames.append
        while frames:
            fr = pop()
            f = fr[0]
            if f == _F_FALLBACK_NEXT:
                if has_sol:
                    continue
                cur = fr[2]
                f = _F_NEXT
            elif f == _F_REP:
                i = fr[1]
                if rep_cnt.get(i, 0) == 0 or rep_pos.get(i) != cur:
                    push((_F_RESTORE_REP, i, rep_pos.get(i, -1), rep_cnt.get(i, 0)))
                    rep_pos[i] = cur
                    rep_cnt[i] = 1
                    push((_F_NEXT, alt[i]))
                elif rep_cnt[i] < 2:
                    rep_cnt[i] += 1
                    push((_F_DEC_REP, i))
                    push((_F_NEXT, alt[i]))
                continue
            elif f == _F_POSIX_ALT:
                push((_F_MERGE, has_sol))
                push((_F_NEXT, fr[1]))
                cur = fr[2]
                has_sol = False
                continue
            elif f == _F_MERGE:
                has_sol = has_sol or fr[1]
                continue
            elif f == _F_RESTORE_FIRST:
                first[fr[1]] = fr[2]
                continue
            elif f == _F_RESTORE_SECOND:
                second[fr[1]] = fr[2]
                matched[fr[1]] = fr[3]
                continue
            elif f == _F_RESTORE_REP:
                rep_pos[fr[1]] = fr[2]
                rep_cnt[fr[1]] = fr[3]
                continue
            elif f == _F_DEC_REP:
                rep_cnt[fr[1]] -= 1
                continue
            # _F_NEXT: visit a state
            i = fr[1]
            o = op[i]
            if o == _MATCH:
                if cur < n and data[cur] in arg[i]:
                    cur += 1
                    push((_F_NEXT, nxt[i]))
            elif o == _ALT:
                push((_F_POSIX_ALT, nxt[i], cur))
                push((_F_NEXT, alt[i]))
            elif o == _REPEAT:
                push((_F_FALLBACK_NEXT, nxt[i], cur))
                push((_F_REP, i))
            elif o == _SUB_BEGIN:
                k = arg[i]
                push((_F_RESTORE_FIRST, k, first[k]))
                first[k] = cur
                push((_F_NEXT, nxt[i]))
            elif o == _SUB_END:
                k = arg[i]
                push((_F_RESTORE_SECOND, k, second[k], matched[k]))
                second[k] = cur
                matched[k] = True
                push((_F_NEXT, nxt[i]))
            elif o == _DUMMY:
                push((_F_NEXT, nxt[i]))
            elif o == _BOL:
                if cur == begin and not prev_avail:
                    push((_F_NEXT, nxt[i]))
            elif o == _EOL:
                if cur == n:
                    push((_F_NEXT, nxt[i]))
            else:  # accept
                has_sol = not (cur == begin and not_null)
                if has_sol and (sol_pos < 0 or sol_pos < cur):
                    sol_pos = cur
                    results = [(first[k], second[k]) if matched[k] else None for k in range(ng)]
        return results


def _posix_finditer(regex: Regex, data: bytes):
    """``std::sregex_iterator`` over ``data``: each match as group spans."""
    nfa = regex.nfa()
    py = regex.py
    n = len(data)
    prev_avail = False

    def search(start: int, prev: bool):
        # Python finds the leftmost start position with any match (same language);
        # libstdc++ then picks the match at that position by its own rules.
        while start <= n:
            m = py.search(data, start)
            if m is None:
                return None
            pos = m.start()
            r = nfa.run(data, pos, False, prev or pos > start)
            if r is not None:
                return r
            start = pos + 1
            prev = True
        return None

    m = search(0, False)
    while m is not None:
        yield m
        start = m[0][1]
        if m[0][0] == start:
            if start == n:
                return
            again = nfa.run(data, start, True, prev_avail)
            if again is not None:
                m = again
                continue
            start += 1
        prev_avail = True
        m = search(start, True)


@builtin("match", 2)
def match(regex, s):
    regex = str_noctx_arg(regex, "while evaluating the first argument passed to builtins.match")
    s = str_arg(s, "while evaluating the second argument passed to builtins.match")
    m = compile_regex(regex).py.fullmatch(to_bytes(s))
    return None if m is None else _groups(m)


@builtin("split", 2)
def split(regex, s):
    regex = str_noctx_arg(regex, "while evaluating the first argument passed to builtins.split")
    orig = s.force() if type(s) is Thunk else s
    s = str_arg(orig, "while evaluating the second argument passed to builtins.split")
    compiled = compile_regex(regex)
    data = to_bytes(s)
    out: list = []
    prev = 0
    if compiled.alternation:
        for spans in _posix_finditer(compiled, data):
            start, end = spans[0]
            out.append(from_bytes(data[prev:start]))
            out.append([None if g is None else from_bytes(data[g[0]:g[1]]) for g in spans[1:]])
            prev = end
    else:
        for m in compiled.py.finditer(data):
            out.append(from_bytes(data[prev:m.start()]))
            out.append(_groups(m))
            prev = m.end()
    if not out:
        return [s]
    out.append(from_bytes(data[prev:]))
    return out
