"""Nix values as Python objects, thunks, forcing helpers and evaluation errors.

This module is the contract every part of the evaluator (compiler, builtins,
store builtins, printers) is written against.  Representation:

=========== ============================================================
Nix type    Python representation
=========== ============================================================
null        ``None``
bool        ``True`` / ``False``
int         ``int`` — always test ``type(v) is int`` (``bool`` is an int
            subclass).  Kept in the signed 64-bit range; results outside
            it raise Nix's overflow error (``checked_int``).
float       ``float``
string      plain ``str`` when it has no context; ``CStr`` (a ``str``
            subclass with ``.ctx: frozenset[str]``) when it has.  Context
            elements use Nix's encoding: ``/nix/store/…`` (plain path),
            ``=/nix/store/….drv`` (a derivation with all its outputs),
            ``!out!/nix/store/….drv`` (one output).  Use ``ctx_of(v)`` to
            read and ``mkstr(s, ctx)`` to build (plain ``str`` if empty).
path        ``NixPath`` (absolute, normalised; not a ``str`` subclass).
list        Python ``list`` of items; an item is a value or a ``Thunk``.
            Lists are never mutated once built — share them freely.
attrset     ``Attrs``: a ``dict`` subclass mapping name → value-or-thunk,
            with ``.pos`` (``None`` or a dict name → ``Pos``) for
            ``unsafeGetAttrPos`` and error messages.  Never mutated once
            handed out; build a new one (``Attrs(old)`` copies).
function    ``Lambda`` (compiled Nix function) or ``PrimOp`` (a builtin,
            possibly partially applied).
=========== ============================================================

A ``Thunk`` is a suspended computation: ``fn(arg)`` produces the value.
``force(v)`` returns the weak-head-normal form of a value-or-thunk; forcing a
thunk that is already being forced raises ``infinite recursion encountered``.
Anything stored inside lists/attrs/environments may be a thunk; anything
returned by ``force``/``call`` or by compiled code is a value (never a thunk).

``call(f, arg)`` applies any Nix function value (lambda, primop, set with
``__functor``) to one argument (value or thunk) and returns a value.

Errors: ``EvalError`` (a ``NixliteError``) carries an optional position and a
list of ``… while …`` trace frames (``add_trace``).  ``ThrownError`` (from
``throw``) and ``AssertionFailed`` are the two kinds ``tryEval`` catches;
``AbortError`` (``abort``) and everything else propagate.
"""

from __future__ import annotations

import re

from nixlite.errors import NixliteError, Pos, SetupError, indent_message, render_excerpt
# Nix's canonPath: one copy, beside the tree whose path literals are made canonical with it
from nixlite.syntax.ast import canon_path  # noqa: F401 - re-exported

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1


# --------------------------------------------------------------------------
# errors


class EvalError(NixliteError):
    """An evaluation error; ``trace`` holds ``(message, pos)`` frames, innermost first."""

    def __init__(self, message: str, pos: Pos | None = None) -> None:
        super().__init__(message, pos)
        self.trace: list[tuple[str, Pos | None]] = []
        self.hint: str | None = None  # e.g. "Did you mean a?", printed after the position

    def add_trace(self, message: str, pos: Pos | None = None) -> EvalError:
        """Append a ``… while …`` frame (shown with ``--show-trace``); returns self."""
        self.trace.append((message, pos))
        return self

    def at(self, pos: Pos | None) -> EvalError:
        """Give the error a position if it has none yet; returns self."""
        if self.pos is None:
            self.pos = pos
        return self

    def render(self, show_trace: bool = False) -> str:
        """Nix's layout: message, ``at FILE:L:C:`` with excerpt, then trace frames."""
        out = "error: " + indent_message(self.message)
        if self.pos is not None:
            out += "\n\n" + render_pos(self.pos)
        if self.hint:
            out += "\n       " + self.hint
        if show_trace:
            for message, pos in self.trace:
                out += f"\n\n       … {message}"
                if pos is not None:
                    out += "\n\n" + render_pos(pos)
        return out


def render_pos(pos: Pos) -> str:
    """``at FILE:L:C:`` and the lines around it, laid out exactly as Nix does.

    The excerpt comes from the text the position carries (the source the
    evaluation read through its I/O), never from reading the file again."""
    return render_excerpt(pos, pos.source)


def as_eval_error(exc: NixliteError) -> NixliteError:
    """A lower stage's error (store, fetcher) as an evaluation error, which takes a position
    and trace frames; nixlite's own set-up errors (an unusable store) stay as they are."""
    return exc if isinstance(exc, (EvalError, SetupError)) else EvalError(exc.message)


class ThrownError(EvalError):
    """``throw MSG``: catchable by ``builtins.tryEval``."""


class AssertionFailed(EvalError):
    """A failed ``assert``: catchable by ``builtins.tryEval``."""


class AbortError(EvalError):
    """``abort MSG``: never caught by ``tryEval``."""

    def __init__(self, message: str, pos: Pos | None = None) -> None:
        super().__init__(f"evaluation aborted with the following error message: '{message}'", pos)


class InfiniteRecursion(EvalError):
    def __init__(self, pos: Pos | None = None) -> None:
        super().__init__("infinite recursion encountered", pos)


class NixTypeError(EvalError):
    """A value of the wrong type reached an operation."""


# --------------------------------------------------------------------------
# strings and paths


class CStr(str):
    """A string with a non-empty context (a frozenset of store-path encodings)."""

    __slots__ = ("ctx",)

    def __new__(cls, s: str, ctx: frozenset[str]) -> CStr:
        self = str.__new__(cls, s)
        self.ctx = ctx
        return self

    def __repr__(self) -> str:
        return f"CStr({str.__repr__(self)}, {sorted(self.ctx)!r})"

    def __reduce__(self):
        return (CStr, (str(self), self.ctx))


EMPTY_CTX: frozenset[str] = frozenset()


def ctx_of(v: str) -> frozenset[str]:
    """The context of a string value (empty for a plain ``str``)."""
    return v.ctx if type(v) is CStr else EMPTY_CTX


def mkstr(s: str, ctx: frozenset[str] | set[str] | None) -> str:
    """A string value: plain ``str`` when the context is empty, else ``CStr``."""
    if ctx:
        return CStr(s, frozenset(ctx))
    return str(s) if type(s) is not str else s


class NixPath:
    """A Nix path value: an absolute, normalised file-system path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __eq__(self, other: object) -> bool:
        return type(other) is NixPath and other.path == self.path

    def __hash__(self) -> int:
        return hash(("path", self.path))

    def __repr__(self) -> str:
        return f"NixPath({self.path!r})"

    def __str__(self) -> str:
        return self.path


# --------------------------------------------------------------------------
# attribute sets


class Attrs(dict):
    """An attribute set: name → value-or-thunk, plus optional per-name positions.

    ``pos`` is None, a dict or a ``PosChain`` (name → ``Pos`` or located AST
    node).  It is a property over an optional slot so that building a set runs
    no Python ``__init__`` (sets are created by the million).
    """

    __slots__ = ("_pos",)

    @property
    def pos(self):
        try:
            return self._pos
        except AttributeError:
            return None

    @pos.setter
    def pos(self, value) -> None:
        self._pos = value

    def attr_pos(self, name: str) -> Pos | None:
        """Where ``name`` was defined; ``pos`` values may be ``Pos`` or located AST nodes."""
        pos = self.pos
        if not pos:
            return None
        p = pos.get(name)
        return p if p is None or type(p) is Pos else p.pos

    def __repr__(self) -> str:
        return f"Attrs({dict.__repr__(self)})"


class PosChain:
    """Positions of ``a // b`` without copying: look in ``first`` (b's), then ``second``.

    Behaves as a read-only mapping name → Pos-or-node, so ``Attrs.pos`` users
    need not care whether it is a dict or a chain.
    """

    __slots__ = ("first", "second", "depth")

    MAX_DEPTH = 32  # beyond this, lookups would cost more than one flattening copy

    def __init__(self, first, second) -> None:
        self.first = first
        self.second = second
        self.depth = second.depth + 1 if type(second) is PosChain else 1

    @staticmethod
    def combine(first, second):
        """Positions of ``a // b`` given b's (``first``) and a's (``second``)."""
        chain = PosChain(first, second)
        if chain.depth > PosChain.MAX_DEPTH:
            return chain.flatten()
        return chain

    def flatten(self) -> dict:
        """One dict with the same lookups (newer maps override older ones)."""
        maps = []
        m = self
        while type(m) is PosChain:
            maps.append(m.first)
            m = m.second
        flat = dict(m.items()) if m else {}
        for newer in reversed(maps):
            flat.update(newer.items() if type(newer) is not dict else newer)
        return flat

    def get(self, name: str, default=None):
        m = self
        while type(m) is PosChain:
            p = m.first.get(name)
            if p is not None:
                return p
            m = m.second
        return m.get(name, default) if m else default

    def __getitem__(self, name: str):
        p = self.get(name)
        if p is None:
            raise KeyError(name)
        return p

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self):
        seen: set[str] = set()
        m = self
        while type(m) is PosChain:
            for k in m.first:
                if k not in seen:
                    seen.add(k)
                    yield k
            m = m.second
        for k in m or ():
            if k not in seen:
                yield k

    def keys(self):
        return list(self)

    def items(self):
        return [(k, self.get(k)) for k in self]

    def __bool__(self) -> bool:
        return True


# --------------------------------------------------------------------------
# thunks

_BLACKHOLE = object()


class Thunk:
    """A suspended value: forcing runs ``fn(arg)`` once and memoises the result.

    States: ``fn`` callable (pending), ``fn is _BLACKHOLE`` (being forced),
    ``fn is None`` (done, value in ``val``).  On an exception the thunk goes
    back to pending, so ``tryEval`` and repeated forcing behave as in Nix.
    """

    __slots__ = ("fn", "arg", "val")

    def __init__(self, fn, arg) -> None:
        self.fn = fn
        self.arg = arg

    def force(self):
        fn = self.fn
        if fn is None:
            return self.val
        if fn is _BLACKHOLE:
            raise InfiniteRecursion()
        self.fn = _BLACKHOLE
        try:
            v = fn(self.arg)
            if type(v) is Thunk:
                v = v.force()
        except BaseException:
            self.fn = fn
            raise
        self.val = v
        self.fn = None
        self.arg = None
        return v

    def is_evaluated(self) -> bool:
        return self.fn is None

    def is_blackhole(self) -> bool:
        return self.fn is _BLACKHOLE

    def __repr__(self) -> str:
        if self.fn is None:
            return f"Thunk(={self.val!r})"
        return "Thunk(<pending>)" if self.fn is not _BLACKHOLE else "Thunk(<blackhole>)"


def force(v):
    """Weak head normal form of a value-or-thunk."""
    if type(v) is Thunk:
        return v.force()
    return v


# --------------------------------------------------------------------------
# functions


class Lambda:
    """A Nix function closure.

    ``fn(arg)`` runs the compiled body with the argument (value or thunk) and
    returns a value.  ``where`` is the lambda's AST node (or a ``Pos``; ``pos``
    computes the position on demand), ``name`` the name it was bound to (for
    messages), ``formals`` ``None`` for ``x: …`` or a tuple of
    ``(name, has_default)`` pairs for ``{ … }: …`` (``functionArgs``), and
    ``ellipsis`` whether ``...`` was present.
    """

    __slots__ = ("fn", "where", "name", "formals", "ellipsis")

    def __init__(self, fn, where=None, name: str | None = None,
                 formals: tuple | None = None, ellipsis: bool = False) -> None:
        self.fn = fn
        self.where = where
        self.name = name
        self.formals = formals
        self.ellipsis = ellipsis

    @property
    def pos(self) -> Pos | None:
        w = self.where
        return w if w is None or type(w) is Pos else w.pos

    def __repr__(self) -> str:
        return f"Lambda({self.name or '<anon>'} @ {self.pos})"


class PrimOp:
    """A builtin function of ``arity`` arguments, with the ones applied so far.

    ``fn(*args)`` receives the arguments unforced (values or thunks) and may
    return a value or a thunk; ``call`` forces the result.  A builtin that
    needs the evaluation state has it bound into ``fn`` when the state makes
    its builtins.
    """

    __slots__ = ("name", "arity", "fn", "args")

    def __init__(self, name: str, arity: int, fn, args: tuple = ()) -> None:
        self.name = name
        self.arity = arity
        self.fn = fn
        self.args = args

    def apply(self, arg):
        args = self.args + (arg,)
        if len(args) < self.arity:
            return PrimOp(self.name, self.arity, self.fn, args)
        r = self.fn(*args)
        if type(r) is Thunk:
            r = r.force()
        return r

    def __repr__(self) -> str:
        return f"PrimOp({self.name}, {len(self.args)}/{self.arity})"


def call(f, arg):
    """Apply the Nix function ``f`` (value or thunk) to ``arg``; returns a value."""
    if type(f) is Thunk:
        f = f.force()
    t = type(f)
    if t is Lambda:
        return f.fn(arg)
    if t is PrimOp:
        return f.apply(arg)
    if t is Attrs and "__functor" in f:
        return call(call(f["__functor"], f), arg)
    raise NixTypeError(
        f"attempt to call something which is not a function but {type_name(f)}: {short_show(f)}"
    )


# --------------------------------------------------------------------------
# types and checked access


def position_value(pos: Pos | None):
    """Nix's ``mkPos``: ``{ file, line, column }`` for a position in a file, else null.

    Today's Nix gives null for text that is no file (``-E`` text, standard input)."""
    if pos is None or not pos.file.startswith("/"):
        return None
    return Attrs({"file": pos.file, "line": pos.line, "column": pos.col})


def type_name(v) -> str:
    """Nix's ``showType``: the article and name used in error messages."""
    t = type(v)
    if t is int:
        return "an integer"
    if t is str:
        return "a string"
    if t is CStr:
        return "a string with context"
    if t is bool:
        return "a Boolean"
    if v is None:
        return "null"
    if t is Attrs:
        return "a set"
    if t is list:
        return "a list"
    if t is float:
        return "a float"
    if t is NixPath:
        return "a path"
    if t is Lambda:
        return "a function"
    if t is PrimOp:
        if v.args:
            return f"the partially applied built-in function '{v.name}'"
        return f"the built-in function '{v.name}'"
    if t is Thunk:
        return "a thunk"
    return "an unknown value"


def type_of(v) -> str:
    """``builtins.typeOf``."""
    t = type(v)
    if t is int:
        return "int"
    if t is str or t is CStr:
        return "string"
    if t is bool:
        return "bool"
    if v is None:
        return "null"
    if t is Attrs:
        return "set"
    if t is list:
        return "list"
    if t is float:
        return "float"
    if t is NixPath:
        return "path"
    if t is Lambda or t is PrimOp:
        return "lambda"
    return "unknown"


def short_show(v) -> str:
    """A value shown briefly for error messages (as today's Nix does after 'found …')."""
    return show_for_error(v)


def type_error(v, expected: str) -> NixTypeError:
    """Today's Nix wording: ``expected an integer but found a string: "x"``."""
    return NixTypeError(f"expected {expected} but found {type_name(v)}: {short_show(v)}")


def checked_int(n: int, op: str, a: int, b: int) -> int:
    if INT_MIN <= n <= INT_MAX:
        return n
    raise EvalError(f"integer overflow in {op} {a} {_OPSYM[op]} {b}")


_OPSYM = {"adding": "+", "subtracting": "-", "multiplying": "*", "dividing": "/"}


def force_int(v) -> int:
    v = force(v)
    if type(v) is int:
        return v
    raise type_error(v, "an integer")


def force_bool(v) -> bool:
    v = force(v)
    if type(v) is bool:
        return v
    raise type_error(v, "a Boolean")


def force_str(v) -> str:
    """A string value (context kept), without coercion."""
    v = force(v)
    t = type(v)
    if t is str or t is CStr:
        return v
    raise type_error(v, "a string")


def force_str_noctx(v, what: str = "") -> str:
    """A string that must not have context (e.g. attribute names, regexes)."""
    s = force_str(v)
    if type(s) is CStr:
        raise EvalError(f"the string '{s}' is not allowed to refer to a store path "
                        f"(such as '{sorted(s.ctx)[0]}')")
    return s


def force_list(v) -> list:
    v = force(v)
    if type(v) is list:
        return v
    raise type_error(v, "a list")


def force_attrs(v) -> Attrs:
    v = force(v)
    if type(v) is Attrs:
        return v
    raise type_error(v, "a set")


def force_function(v):
    v = force(v)
    if type(v) is Lambda or type(v) is PrimOp or (type(v) is Attrs and "__functor" in v):
        return v
    raise type_error(v, "a function")


def deep_force(v):
    """Force a value and, recursively, every list item and attribute (``deepSeq``,
    ``--strict``), depth first in definition order as Nix does (so the same error
    wins when several would fail).  Iterative, so deep data cannot overflow the
    stack; a failing attribute adds Nix's ``while evaluating the attribute`` frame."""
    v = force(v)
    seen: set[int] = set()
    stack: list = []

    def children(x):
        if type(x) is Attrs:
            return ((k, x, x[k]) for k in list(x))
        return ((None, None, item) for item in x)

    t = type(v)
    if t is Attrs or t is list:
        seen.add(id(v))
        stack.append(children(v))
    while stack:
        for name, owner, item in stack[-1]:
            if type(item) is Thunk:
                try:
                    item = item.force()
                except EvalError as exc:
                    if name is not None:
                        exc.add_trace(f"while evaluating the attribute '{name}'", owner.attr_pos(name))
                    raise
            t = type(item)
            if (t is Attrs or t is list) and id(item) not in seen:
                seen.add(id(item))
                stack.append(children(item))
                break
        else:
            stack.pop()
    return v


def is_derivation(v) -> bool:
    """A set with ``type = "derivation"`` (forces ``type``)."""
    if type(v) is not Attrs:
        return False
    t = v.get("type")
    if t is None:
        return False
    t = force(t)
    return (type(t) is str or type(t) is CStr) and t == "derivation"


# --------------------------------------------------------------------------
# showing values (error messages, ``trace``); ``nixlite.eval.printer`` adds
# ``nix-instantiate --eval``'s printer

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*\Z")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\n\r\t]|\$\{')


def escape_string(s: str) -> str:
    """A Nix string literal: quotes, ``\\`` ``\\n`` ``\\r`` ``\\t`` and ``${`` escaped."""
    if _NEEDS_ESCAPE.search(s) is None:
        return f'"{s}"'
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), "\\${"), s) + '"'


_NAME_ESCAPE = re.compile(r'["\\\n\r\t$]')
_NAME_ESCAPES = dict(_ESCAPES, **{"$": "\\$"})


def attr_name(name: str) -> str:
    """An attribute name as Nix prints it: bare when a valid identifier (``if``
    excepted), else quoted, escaping every ``$`` (unlike string values)."""
    if _IDENT.match(name) and name != "if":
        return name
    return '"' + _NAME_ESCAPE.sub(lambda m: _NAME_ESCAPES[m.group()], name) + '"'


def format_float(f: float) -> str:
    """C++ ``ostream << double`` with default flags: ``%g`` (6 significant digits)."""
    return "%g" % f


class _Limits:
    __slots__ = ("depth", "attrs", "items", "strlen", "budget")

    def __init__(self, depth: int, attrs: int, items: int, strlen: int) -> None:
        self.depth = depth
        self.attrs = attrs
        self.items = items
        self.strlen = strlen


def show_value(v, *, max_depth: int = 1 << 30, max_attrs: int = 1 << 30,
               max_items: int = 1 << 30, max_strlen: int = 1 << 30) -> str:
    """Today's Nix value printer (``nix eval``/``trace`` style); never forces."""
    out: list[str] = []
    _show(v, out, set(), _Limits(max_depth, max_attrs, max_items, max_strlen), 0)
    return "".join(out)


def show_for_error(v) -> str:
    """A value inside an error message: today's ``errorPrintOptions`` limits."""
    return show_value(v, max_depth=10, max_attrs=10, max_items=10, max_strlen=1024)


def _show_str(s: str, lim: _Limits) -> str:
    if len(s) > lim.strlen:
        return escape_string(s[: lim.strlen])[:-1] + f'" «{len(s) - lim.strlen} bytes elided»'
    return escape_string(s)


def _show(v, out: list[str], seen: set[int], lim: _Limits, depth: int) -> None:
    t = type(v)
    if t is Thunk:
        if v.fn is None:
            v = v.val
            t = type(v)
        elif v.is_blackhole():
            out.append("«potential infinite recursion»")
            return
        else:
            out.append("«thunk»")
            return
    if t is int:
        out.append(str(v))
    elif t is str or t is CStr:
        out.append(_show_str(v, lim))
    elif t is bool:
        out.append("true" if v else "false")
    elif v is None:
        out.append("null")
    elif t is float:
        out.append(format_float(v))
    elif t is NixPath:
        out.append(v.path)
    elif t is Lambda:
        out.append(f"«lambda {v.name} @ {v.pos}»" if v.name and v.pos else
                   f"«lambda @ {v.pos}»" if v.pos else "«lambda»")
    elif t is PrimOp:
        out.append(f"«partially applied primop {v.name}»" if v.args else f"«primop {v.name}»")
    elif t is Attrs:
        if _is_derivation_value(v):
            drv = v.get("drvPath")
            drv = drv.val if type(drv) is Thunk and drv.fn is None else drv
            out.append(f"«derivation {drv}»" if isinstance(drv, str) else "«derivation»")
            return
        if not v:
            out.append("{ }")
            return
        if id(v) in seen:
            out.append("«repeated»")
            return
        if depth >= lim.depth:
            out.append("{ … }")
            return
        seen.add(id(v))
        out.append("{ ")
        names = sorted(v)
        for name in names[: lim.attrs]:
            out.append(attr_name(name))
            out.append(" = ")
            _show(v[name], out, seen, lim, depth + 1)
            out.append("; ")
        if len(names) > lim.attrs:
            n = len(names) - lim.attrs
            out.append(f"«{n} attribute{'s' if n != 1 else ''} elided» ")
        out.append("}")
    elif t is list:
        if not v:
            out.append("[ ]")
            return
        if id(v) in seen:
            out.append("«repeated»")
            return
        if depth >= lim.depth:
            out.append("[ … ]")
            return
        seen.add(id(v))
        out.append("[ ")
        for item in v[: lim.items]:
            _show(item, out, seen, lim, depth + 1)
            out.append(" ")
        if len(v) > lim.items:
            n = len(v) - lim.items
            out.append(f"«{n} item{'s' if n != 1 else ''} elided» ")
        out.append("]")
    else:
        out.append(f"«unknown value {type(v).__name__}»")


def _is_derivation_value(v: Attrs) -> bool:
    t = v.get("type")
    if type(t) is Thunk:
        if t.fn is not None:
            return False
        t = t.val
    return t == "derivation" and isinstance(t, str)
