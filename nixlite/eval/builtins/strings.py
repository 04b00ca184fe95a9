"""String builtins.  Nix strings are byte strings: lengths and offsets count
UTF-8 bytes.  Context is propagated as Nix does: ``substring``,
``concatStringsSep`` and ``replaceStrings`` keep it (the latter only from the
replacements actually used)."""

from __future__ import annotations

import re

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import (
    byte_len,
    coerce_arg,
    from_bytes,
    int_arg,
    list_arg,
    str_arg,
    to_bytes,
)
from nixlite.eval.values import CStr, EvalError, Thunk, mkstr


@builtin("stringLength", 1, state=True)
def string_length(state, s):
    s = coerce_arg(s, "while evaluating the argument passed to builtins.stringLength", copy_to_store=state.io)
    return byte_len(s)


@builtin("substring", 3, state=True)
def substring(state, start, length, s):
    start = int_arg(start, "while evaluating the first argument (the start offset) passed to builtins.substring")
    if start < 0:
        raise EvalError("negative start position in 'substring'")
    length = int_arg(length, "while evaluating the second argument (the substring length) passed to builtins.substring")
    if length == 0:
        v = s.force() if type(s) is Thunk else s
        if type(v) is str:
            return ""
        if type(v) is CStr:
            return CStr("", v.ctx)
    s = coerce_arg(s, "while evaluating the third argument (the string) passed to builtins.substring",
                   copy_to_store=state.io)
    ctx = s.ctx if type(s) is CStr else None
    if s.isascii():
        r = s[start:] if length < 0 else s[start:start + length]
    else:
        b = to_bytes(s)
        r = from_bytes(b[start:] if length < 0 else b[start:start + length])
    return CStr(r, ctx) if ctx else r


@builtin("concatStringsSep", 2, state=True)
def concat_strings_sep(state, sep, xs):
    sep = str_arg(sep, "while evaluating the first argument (the separator string) passed to builtins.concatStringsSep")
    xs = list_arg(xs, "while evaluating the second argument (the list of strings to concat) passed to builtins.concatStringsSep")
    what = "while evaluating one element of the list of strings to concat passed to builtins.concatStringsSep"
    ctx = set(sep.ctx) if type(sep) is CStr else None
    parts = []
    for x in xs:
        if type(x) is Thunk:
            x = x.force()
        if type(x) is not str:
            x = coerce_arg(x, what, copy_to_store=state.io)
            if type(x) is CStr:
                if ctx is None:
                    ctx = set(x.ctx)
                else:
                    ctx |= x.ctx
        parts.append(x)
    r = str.join(sep, parts) if type(sep) is str else str.join(str(sep), parts)
    return mkstr(r, ctx) if ctx else r


# ---------------------------------------------------------------- replaceStrings

_REPLACE_CACHE: dict[tuple[str, ...], tuple[re.Pattern, dict[str, int]]] = {}


def _replacer(froms: tuple[str, ...]):
    """An alternation of the literal patterns in list order: at each position the
    first pattern that matches wins, exactly Nix's scan (patterns are non-empty)."""
    hit = _REPLACE_CACHE.get(froms)
    if hit is None:
        index: dict[str, int] = {}
        for i, f in enumerate(froms):
            index.setdefault(f, i)
        pattern = re.compile("|".join(re.escape(f) for f in index))
        hit = (pattern, index)
        if len(_REPLACE_CACHE) > 512:
            _REPLACE_CACHE.clear()
        _REPLACE_CACHE[froms] = hit
    return hit


@builtin("replaceStrings", 3)
def replace_strings(froms, tos, s):
    froms = list_arg(froms, "while evaluating the first argument passed to builtins.replaceStrings")
    tos = list_arg(tos, "while evaluating the second argument passed to builtins.replaceStrings")
    if len(froms) != len(tos):
        raise EvalError("'from' and 'to' arguments passed to builtins.replaceStrings have different lengths")
    what_from = "while evaluating one of the strings to replace passed to builtins.replaceStrings"
    pats = []
    for f in froms:
        if type(f) is not str:
            f = str(str_arg(f, what_from))
        pats.append(f)
    s = str_arg(s, "while evaluating the third argument passed to builtins.replaceStrings")
    if not pats:
        return s
    what_to = "while evaluating one of the replacement strings passed to builtins.replaceStrings"
    ctx = set(s.ctx) if type(s) is CStr else set()
    cache: dict[int, str] = {}

    def replacement(i: int) -> str:
        r = cache.get(i)
        if r is None:
            r = str_arg(tos[i], what_to)
            if type(r) is CStr:
                ctx.update(r.ctx)
            cache[i] = r
        return r

    if "" in pats:
        out = _replace_with_empty(pats, replacement, str(s))
    else:
        pattern, index = _replacer(tuple(pats))
        out = pattern.sub(lambda m: replacement(index[m.group()]), s)
    return mkstr(out, ctx)


def _replace_with_empty(pats: list[str], replacement, s: str) -> str:
    """Nix's byte-wise scan, needed when a pattern is empty: the empty pattern
    matches before every byte and at the end, copying one byte each time."""
    ascii_only = s.isascii()
    data = s if ascii_only else to_bytes(s)
    bpats = pats if ascii_only else [to_bytes(p) for p in pats]
    out: list = []
    p = 0
    n = len(data)
    while p <= n:
        for i, pat in enumerate(bpats):
            if data.startswith(pat, p):
                r = replacement(i)
                out.append(r if ascii_only else to_bytes(r))
                if pat:
                    p += len(pat)
                else:
                    if p < n:
                        out.append(data[p:p + 1])
                    p += 1
                break
        else:
            if p < n:
                out.append(data[p:p + 1])
            p += 1
    return "".join(out) if ascii_only else from_bytes(b"".join(out))
