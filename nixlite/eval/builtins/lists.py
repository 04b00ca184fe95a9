"""List builtins with Nix's strictness: which arguments are forced, in which
order, and which results stay lazy (``map``, ``genList`` and ``concatMap``'s
inputs create thunks; ``sort`` and ``partition`` force the elements)."""

from __future__ import annotations

import math

from nixlite.eval import ops
from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import (
    binary,
    bool_result,
    function_arg,
    int_arg,
    list_arg,
    str_noctx_arg,
    to_bytes,
    unary,
)
from nixlite.eval.values import (
    Attrs,
    CStr,
    EvalError,
    Lambda,
    PrimOp,
    Thunk,
    call,
    type_error,
)


def _apply_pair(pair):
    return call(pair[0], pair[1])


@builtin("length", 1)
def length(xs):
    return len(list_arg(xs, "while evaluating the first argument passed to builtins.length"))


@builtin("head", 1)
def head(xs):
    xs = list_arg(xs, "while evaluating the first argument passed to 'builtins.head'")
    if not xs:
        raise EvalError("'builtins.head' called on an empty list")
    return xs[0]


@builtin("tail", 1)
def tail(xs):
    xs = list_arg(xs, "while evaluating the first argument passed to 'builtins.tail'")
    if not xs:
        raise EvalError("'builtins.tail' called on an empty list")
    return xs[1:]


@builtin("elemAt", 2)
def elem_at(xs, n):
    n = int_arg(n, "while evaluating the second argument passed to 'builtins.elemAt'")
    xs = list_arg(xs, "while evaluating the first argument passed to 'builtins.elemAt'")
    if n < 0 or n >= len(xs):
        raise EvalError(f"'builtins.elemAt' called with index {n} on a list of size {len(xs)}")
    return xs[n]


@builtin("map", 2)
def map_(f, xs):
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.map")
    if not xs:
        return xs
    f = function_arg(f, "while evaluating the first argument passed to builtins.map")
    t = type(f)
    if t is Lambda or t is PrimOp:
        # The thunk runs the function directly: no argument tuple, no dispatch.
        fn = f.fn if t is Lambda else f.apply
        return [Thunk(fn, x) for x in xs]
    return [Thunk(_apply_pair, (f, x)) for x in xs]


@builtin("filter", 2)
def filter_(f, xs):
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.filter")
    if not xs:
        return xs
    f = function_arg(f, "while evaluating the first argument passed to builtins.filter")
    apply = unary(f)
    what = "while evaluating the return value of the filtering function passed to builtins.filter"
    out = [x for x in xs if bool_result(apply(x), what)]
    return xs if len(out) == len(xs) else out


@builtin("elem", 2)
def elem(x, xs):
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.elem")
    eq = ops.eq
    for item in xs:
        if eq(x, item):
            return True
    return False


@builtin("concatLists", 1)
def concat_lists(xss):
    xss = list_arg(xss, "while evaluating the first argument passed to builtins.concatLists")
    what = "while evaluating a value of the list passed to builtins.concatLists"
    out: list = []
    extend = out.extend
    try:  # the module system concatenates a million small lists: list_arg inlined
        for xs in xss:
            if type(xs) is Thunk:
                xs = xs.force()
            if type(xs) is not list:
                raise type_error(xs, "a list")
            extend(xs)
    except EvalError as e:
        raise e.add_trace(what)
    return out


@builtin("concatMap", 2)
def concat_map(f, xs):
    f = function_arg(f, "while evaluating the first argument passed to builtins.concatMap")
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.concatMap")
    apply = unary(f)
    what = "while evaluating the return value of the function passed to builtins.concatMap"
    out: list = []
    for x in xs:
        out.extend(list_arg(apply(x), what))
    return out


@builtin("foldl'", 3)
def foldl_strict(f, acc, xs):
    f = function_arg(f, "while evaluating the first argument passed to builtins.foldlStrict")
    xs = list_arg(xs, "while evaluating the third argument passed to builtins.foldlStrict")
    if not xs:
        return acc.force() if type(acc) is Thunk else acc
    apply2 = binary(f)
    for x in xs:
        acc = apply2(acc, x)
    return acc


def _any_all(want: bool, name: str, f, xs) -> bool:
    f = function_arg(f, f"while evaluating the first argument passed to builtins.{name}")
    xs = list_arg(xs, f"while evaluating the second argument passed to builtins.{name}")
    apply = unary(f)
    what = f"while evaluating the return value of the function passed to builtins.{name}"
    for x in xs:
        if bool_result(apply(x), what) is want:
            return want
    return not want


@builtin("any", 2)
def any_(f, xs):
    return _any_all(True, "any", f, xs)


@builtin("all", 2)
def all_(f, xs):
    return _any_all(False, "all", f, xs)


@builtin("genList", 2)
def gen_list(f, n):
    n = int_arg(n, "while evaluating the second argument passed to builtins.genList")
    if n < 0:
        raise EvalError(f"cannot create list of size {n}")
    f = function_arg(f, "while evaluating the first argument passed to builtins.genList")
    t = type(f)
    if t is Lambda or t is PrimOp:
        fn = f.fn if t is Lambda else f.apply
        return [Thunk(fn, i) for i in range(n)]
    return [Thunk(_apply_pair, (f, i)) for i in range(n)]


@builtin("partition", 2)
def partition(f, xs):
    f = function_arg(f, "while evaluating the first argument passed to builtins.partition")
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.partition")
    apply = unary(f)
    what = "while evaluating the return value of the partition function passed to builtins.partition"
    right: list = []
    wrong: list = []
    for x in xs:
        if type(x) is Thunk:
            x = x.force()
        (right if bool_result(apply(x), what) else wrong).append(x)
    return Attrs(right=right, wrong=wrong)


@builtin("groupBy", 2)
def group_by(f, xs):
    f = function_arg(f, "while evaluating the first argument passed to builtins.groupBy")
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.groupBy")
    apply = unary(f)
    what = "while evaluating the return value of the grouping function passed to builtins.groupBy"
    groups: dict[str, list] = {}
    for x in xs:
        key = apply(x)
        if type(key) is not str:
            key = str_noctx_arg(key, what)
        group = groups.get(key)
        if group is None:
            groups[key] = [x]
        else:
            group.append(x)
    return Attrs(groups)


# ------------------------------------------------------------------------ sort
#
# Today's Nix sorts with its own stable PeekSort (Nix >= 2.28; 2.8 used
# std::stable_sort).  For a strict weak ordering every stable sort gives the
# same result, so plain numbers and strings use Python's sort.  Any other
# comparator runs through the same algorithm as Nix, so that comparators that
# are not strict weak orderings (``a <= b``, ``_: _: true``) give Nix's order
# and are called on the same pairs in the same sequence.

_INSERTION_SORT_MAX = 16


def peeksort(a: list, less) -> None:
    """Sort ``a`` in place exactly as Nix's ``peeksort`` does."""
    n = len(a)
    if n < 2:
        return
    if n == 2:
        if less(a[1], a[0]):
            a[0], a[1] = a[1], a[0]
        return

    def merge(b: int, m: int, e: int) -> None:
        left = a[b:m]
        right = a[m:e]
        nl = len(left)
        nr = len(right)
        i = j = 0
        k = b
        while i < nl and j < nr:
            if not less(right[j], left[i]):
                a[k] = left[i]
                i += 1
            else:
                a[k] = right[j]
                j += 1
            k += 1
        if i < nl:
            a[k:e] = left[i:]
        else:
            a[k:e] = right[j:]

    def insertion(b: int, e: int) -> None:
        for cur in range(b + 1, e):
            ip = cur
            while ip != b and less(a[ip], a[ip - 1]):
                a[ip], a[ip - 1] = a[ip - 1], a[ip]
                ip -= 1

    def run_end(b: int, e: int, decreasing: bool) -> int:
        """End of the longest strictly decreasing / weakly increasing prefix of [b, e)."""
        if b == e:
            return b
        while b + 1 != e and bool(less(a[b + 1], a[b])) is decreasing:
            b += 1
        return b + 1

    def run_start(b: int, e: int, decreasing: bool) -> int:
        """Start of the longest strictly decreasing / weakly increasing suffix of [b, e)."""
        if b == e:
            return e
        while e - 1 > b and bool(less(a[e - 1], a[e - 2])) is decreasing:
            e -= 1
        return e - 1

    def impl(b: int, e: int, left_run_end: int, right_run_begin: int) -> None:
        if left_run_end == e or right_run_begin == b:
            return
        length = e - b
        if length <= _INSERTION_SORT_MAX:
            insertion(b, e)
            return
        m = b + length // 2
        if m <= left_run_end:
            impl(left_run_end, e, left_run_end + 1, right_run_begin)
            merge(b, left_run_end, e)
            return
        if m >= right_run_begin:
            impl(b, right_run_begin, left_run_end, right_run_begin - 1)
            merge(b, right_run_begin, e)
            return
        if not less(a[m], a[m - 1]):
            i = run_start(left_run_end, m, False)
            j = run_end(m - 1, right_run_begin, False)
        else:
            i = run_start(left_run_end, m, True)
            j = run_end(m - 1, right_run_begin, True)
            a[i:j] = a[i:j][::-1]
        if i == b and j == e:
            return
        if m - i < j - m:
            impl(b, i, left_run_end, i - 1)
            impl(i, e, j, right_run_begin)
            merge(b, i, e)
        else:
            impl(b, j, left_run_end, i)
            impl(j, e, j + 1, right_run_begin)
            merge(b, j, e)

    impl(0, n, 0, n)


def _is_less_than_primop(f) -> bool:
    return type(f) is PrimOp and f.name == "lessThan" and not f.args


_EXACT = 1 << 53


def _natively_sortable(items: list) -> bool:
    """All ints/floats (no NaN) or all strings: Python's ``<`` equals Nix's."""
    t0 = type(items[0])
    if t0 is int or t0 is float:
        seen = set()
        for v in items:
            t = type(v)
            if t is float:
                if math.isnan(v):
                    return False
            elif t is not int:
                return False
            seen.add(t)
        # Nix compares an int with a float as doubles; Python compares exactly.
        return len(seen) == 1 or all(type(v) is float or -_EXACT <= v <= _EXACT for v in items)
    if t0 is str or t0 is CStr:
        for v in items:
            t = type(v)
            if t is not str and t is not CStr:
                return False
        return True
    return False


@builtin("sort", 2)
def sort(f, xs):
    xs = list_arg(xs, "while evaluating the second argument passed to builtins.sort")
    if not xs:
        return xs
    f = function_arg(f, "while evaluating the first argument passed to builtins.sort")
    items = [x.force() if type(x) is Thunk else x for x in xs]
    if _is_less_than_primop(f):
        if _natively_sortable(items):
            if type(items[0]) is str or type(items[0]) is CStr:
                if not all(map(str.isascii, items)):
                    # Nix compares bytes; stray bytes kept as surrogates must sort as bytes.
                    return sorted(items, key=to_bytes)
            return sorted(items)
        less = ops.less_than
    else:
        what = "while evaluating the return value of the sorting function passed to builtins.sort"
        if type(f) is Lambda:
            fn = f.fn

            def less(a, b):
                g = fn(a)
                r = g.fn(b) if type(g) is Lambda else call(g, b)
                return r if type(r) is bool else bool_result(r, what)
        else:
            apply2 = binary(f)

            def less(a, b):
                r = apply2(a, b)
                return r if type(r) is bool else bool_result(r, what)

    peeksort(items, less)
    return items
