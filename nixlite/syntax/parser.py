"""Tokens to AST: the LALR(1) tables of grammar/nix.lark, driven by a lean loop.

Lark builds (and checks, ``strict=True``) the LALR automaton, once, into
``nixlite.syntax.lalr_tables`` (see ``nixlite.syntax.build_tables``); this module runs it over
the token lists from ``nixlite.syntax.lexer`` and builds ``nixlite.syntax.ast`` nodes in
the reduce actions, doing what Nix's bison actions do (attribute path merging, duplicate
checks, indentation stripping, path resolution, desugaring).  Driving the tables
directly avoids a Lark ``Token`` per token and lets syntax errors be reported as bison
reports them: after its default reductions, with the tokens the state accepts.
"""

from __future__ import annotations

import gc
import os

from nixlite.errors import NixliteError
from nixlite.syntax import ast as A
from nixlite.syntax.lalr_tables import ACTION, END, GOTO, RULES, START
from nixlite.syntax.lexer import LexError, tokenize

# How bison names each terminal in "syntax error, unexpected X, expecting Y" (today's Nix
# declares these aliases in parser.y).  Order = bison's symbol numbers, which is the
# order expected tokens are listed in.
TOKEN_NAMES = {
    "$END": "end of file",
    "ID": "identifier", "STR": "string", "IND_STR": "indented string", "INT": "integer",
    "FLOAT": "floating-point literal", "PATH": "path", "HPATH": "'~/…' path",
    "SPATH": "'<…>' path", "PATH_END": "end of path", "URI": "URI",
    "IF": "'if'", "THEN": "'then'", "ELSE": "'else'", "ASSERT": "'assert'",
    "WITH": "'with'", "LET": "'let'", "IN": "'in'", "REC": "'rec'", "INHERIT": "'inherit'",
    "EQ": "'=='", "NEQ": "'!='", "LEQ": "'<='", "GEQ": "'>='", "UPDATE": "'//'",
    "CONCAT": "'++'", "AND": "'&&'", "OR": "'||'", "IMPL": "'->'", "OR_KW": "'or'",
    "PIPE_FROM": "'<|'", "PIPE_INTO": "'|>'", "DOLLAR_CURLY": "'${'",
    "IND_STRING_OPEN": "start of an indented string",
    "IND_STRING_CLOSE": "end of an indented string", "ELLIPSIS": "'...'",
    # character tokens: those in precedence declarations first, then in order of first
    # appearance in the rules
    "LT": "'<'", "GT": "'>'", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'",
    "SLASH": "'/'", "QUESTION": "'?'", "COLON": "':'", "AT": "'@'", "SEMI": "';'",
    "NOT": "'!'", "DOT": "'.'", "QUOTE": "'\"'", "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'",
    "RBRACE": "'}'", "LBRACK": "'['", "RBRACK": "']'", "ASSIGN": "'='", "COMMA": "','",
}
_TOKEN_ORDER = {name: i for i, name in enumerate(TOKEN_NAMES)}
# Non-associative levels of grammar/nix.lark: the rule and the operators it rejects next.
_NONASSOC = {"op_eq": ("EQ", "NEQ"), "op_cmp": ("LT", "GT", "LEQ", "GEQ")}


# (state below, state, lookahead) -> the state after the pass-through reductions
_UNIT_MEMO: dict = {}


def _follow_units(below: int, state: int, tok: str) -> int:
    while True:
        code = ACTION[state].get(tok)
        if code is None or code >= 0:
            return state
        lhs, n, name = RULES[~code]
        if name is not None or n != 1:
            return state
        state = GOTO[below][lhs]


def parse(text: str, file: str = "«string»", base_dir: str | None = None) -> A.Expr:
    """Parse Nix ``text``; ``file`` is the name errors print, ``base_dir`` the directory
    relative paths resolve against (default: the file's directory, or the current
    directory for ``«string»``/``«stdin»``)."""
    if base_dir is None:
        if file.startswith("«"):
            base_dir = os.getcwd()
        else:
            base_dir = os.path.dirname(os.path.abspath(file))
    src = A.Source(file, text, base_dir)
    # The parse allocates many objects and frees none: the cyclic GC would only rescan
    # them over and over (it costs more than the parse itself on large files).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        types, values, offs = tokenize(text)
        return _Builder(src).run(types, values, offs)
    except LexError as exc:
        raise NixliteError(exc.message, src.pos(exc.off)) from None
    finally:
        if gc_was_enabled:
            gc.enable()


def _set_name(e: A.Expr, name: str) -> None:
    while type(e) is A.Lambda:
        e.name = name
        e = e.body


class _Builder:
    """Runs the automaton over one token list, building nodes for one Source."""

    def __init__(self, src: A.Source) -> None:
        self.src = src

    # ---- the driver -------------------------------------------------------------

    def run(self, types: list, values: list, offs: list) -> A.Expr:
        action, goto, end_state = ACTION, GOTO, END
        lhs_of = [lhs for lhs, _, _ in RULES]
        size_of = [n for _, n, _ in RULES]
        handlers = [None if name is None else getattr(self, name) for _, _, name in RULES]
        unit_memo = _UNIT_MEMO
        states = [START]
        vals: list = []
        starts: list[int] = []
        push_state, push_val, push_start = states.append, vals.append, starts.append
        i = 0
        tok = types[0]
        while True:
            state = states[-1]
            code = action[state].get(tok)
            if code is None:
                if tok == "$END" and state == end_state:
                    return vals[-1]
                self._syntax_error(states, tok, offs[i])
            if code >= 0:
                push_state(code)
                push_val(values[i])
                push_start(offs[i])
                i += 1
                tok = types[i]
                continue
            rule = ~code
            handler = handlers[rule]
            if handler is None:
                # a chain of pass-through reductions (expr_op -> op_impl -> ... ->
                # expr_simple) only changes the top state: follow it in one step
                key = (states[-2], state, tok)
                target = unit_memo.get(key)
                if target is None:
                    target = unit_memo[key] = _follow_units(states[-2], state, tok)
                states[-1] = target
                continue
            n = size_of[rule]
            if n:
                value = handler(vals[-n:], starts[-n:])
                start = starts[-n]
                del states[-n:], vals[-n:], starts[-n:]
            else:
                start = offs[i]
                value = handler(None, start)
            push_val(value)
            push_start(start)
            push_state(goto[states[-1]][lhs_of[rule]])

    def _syntax_error(self, states: list, tok: str, off: int) -> None:
        """Raise bison's message: perform the default reductions first (bison reduces
        by a state's most common reduction without consulting the lookahead), then list
        what the state accepts — at most four tokens, as bison does."""
        states = list(states)
        for _ in range(100000):  # a bound, though the automaton always stops sooner
            acts = ACTION[states[-1]]
            reduces: dict[int, int] = {}
            for code in acts.values():
                if code < 0:
                    reduces[code] = reduces.get(code, 0) + 1
            if not reduces:
                break
            code = max(reduces, key=lambda c: (reduces[c], c))
            lhs, n, _ = RULES[~code]
            if n == 3 and tok in _NONASSOC.get(lhs, ()):
                # bison's %nonassoc makes this an explicit error in the state after
                # `x == y`, whose other actions (the tighter operators) are too many
                # to list
                states = None
                break
            if n:
                del states[-n:]
            states.append(GOTO[states[-1]][lhs])
        if states is None:
            expected = []
        elif states[-1] == END:
            expected = ["$END"]
        else:
            acts = ACTION[states[-1]]
            expected = sorted(
                (name for name in acts if acts[name] >= 0),
                key=lambda n: _TOKEN_ORDER.get(n, 999),
            )
        if tok == "CHAR":  # a character no rule uses: bison's undefined token
            unexpected = "invalid token"
        else:
            unexpected = TOKEN_NAMES.get(tok, tok)
        msg = f"syntax error, unexpected {unexpected}"
        if 0 < len(expected) <= 4:
            msg += ", expecting " + " or ".join(TOKEN_NAMES.get(e, e) for e in expected)
        raise NixliteError(msg, self.src.pos(off))

    # ---- helpers ----------------------------------------------------------------

    def _error(self, message: str, off: int):
        raise NixliteError(message, self.src.pos(off))

    def _pos_str(self, off: int) -> str:
        return str(self.src.pos(off))

    def _show_path(self, path: list) -> str:
        from nixlite.syntax.printer import show_attr_path

        return show_attr_path(path)

    def _make_call(self, off: int, fn: A.Expr, arg: A.Expr) -> A.Expr:
        if type(fn) is A.Call:
            fn.args.append(arg)
            return fn
        return A.Call(self.src, off, fn, [arg])

    def _add_attr(self, attrs: A.Attrs, path: list, off: int, e: A.Expr) -> None:
        src = self.src
        for item in path[:-1]:
            if type(item) is str:
                j = attrs.attrs.get(item)
                if j is not None:
                    if j.kind == A.INHERITED or type(j.value) is not A.Attrs:
                        self._dup_path(path, off, j.off)
                    attrs = j.value
                else:
                    nested = A.Attrs(src, off)
                    attrs.attrs[item] = A.AttrDef(src, off, item, nested)
                    attrs = nested
            else:
                nested = A.Attrs(src, off)
                attrs.dynamic.append(A.DynAttr(src, off, item, nested))
                attrs = nested
        last = path[-1]
        if type(last) is str:
            j = attrs.attrs.get(last)
            if j is None:
                attrs.attrs[last] = A.AttrDef(src, off, last, e)
                if type(e) is A.Lambda:
                    _set_name(e, last)
            elif type(e) is A.Attrs and type(j.value) is A.Attrs:
                target = j.value
                shift = len(target.inherit_from)
                shifted: set[int] = set()
                for name, ad in e.attrs.items():
                    j2 = target.attrs.get(name)
                    if j2 is not None:  # Nix reports it at the earlier definition
                        self._error(
                            f"attribute '{self._show_path([name])}' already defined at "
                            f"{self._pos_str(ad.off)}",
                            j2.off,
                        )
                    target.attrs[name] = ad
                    if ad.kind == A.INHERITED_FROM:
                        source = ad.value.expr
                        if id(source) not in shifted:
                            shifted.add(id(source))
                            source.index += shift
                target.dynamic.extend(e.dynamic)
                target.inherit_from.extend(e.inherit_from)
            else:
                self._dup_path(path, off, j.off)
        else:
            attrs.dynamic.append(A.DynAttr(src, off, last, e))

    def _dup_path(self, path: list, off: int, prev_off: int):
        self._error(
            f"attribute '{self._show_path(path)}' already defined at {self._pos_str(prev_off)}",
            off,
        )

    def _lambda(self, off: int, arg, formal_set, body) -> A.Lambda:
        formals, ellipsis = formal_set
        seen: dict[str, int] = {}
        duplicate = None
        for f in formals:
            if f.name in seen:
                if duplicate is None or (seen[f.name], f.off) < duplicate[0]:
                    duplicate = ((seen[f.name], f.off), f)
            else:
                seen[f.name] = len(seen)
        if duplicate is not None:
            f = duplicate[1]
            self._error(f"duplicate formal function argument '{f.name}'", f.off)
        if arg is not None and arg in seen:
            self._error(f"duplicate formal function argument '{arg}'", off)
        return A.Lambda(self.src, off, arg, formals, ellipsis, body)

    def _strip_indentation(self, off: int, parts: list) -> A.Expr:
        src = self.src
        if not parts:
            return A.Str(src, off, "")
        at_start = True
        min_indent = 1000000
        cur = 0
        for _, item in parts:
            if type(item) is not tuple or not item[1]:
                if at_start:
                    at_start = False
                    if cur < min_indent:
                        min_indent = cur
                continue
            for c in item[0]:
                if at_start:
                    if c == " ":
                        cur += 1
                    elif c == "\n":
                        cur = 0
                    else:
                        at_start = False
                        if cur < min_indent:
                            min_indent = cur
                elif c == "\n":
                    at_start = True
                    cur = 0
        out: list = []
        at_start = True
        dropped = 0
        n = len(parts)
        for k, (poff, item) in enumerate(parts):
            if type(item) is not tuple:
                at_start = False
                dropped = 0
                out.append(item)
                continue
            buf = []
            for c in item[0]:
                if at_start:
                    if c == " ":
                        if dropped >= min_indent:
                            buf.append(c)
                        dropped += 1
                    elif c == "\n":
                        dropped = 0
                        buf.append(c)
                    else:
                        at_start = False
                        dropped = 0
                        buf.append(c)
                else:
                    buf.append(c)
                    if c == "\n":
                        at_start = True
            s = "".join(buf)
            if k == n - 1:
                p = s.rfind("\n")
                if p >= 0 and s[p + 1:].strip(" ") == "":
                    s = s[: p + 1]
            out.append(A.Str(src, poff, s))
        if len(out) == 1 and type(out[0]) is A.Str:
            out[0].off = off
            return out[0]
        return A.StrInterp(src, off, out)

    # ---- reduce actions (named after the grammar's aliases) ---------------------

    def lambda_arg(self, v, o):
        return A.Lambda(self.src, o[0], v[0], None, False, v[2])

    def lambda_formals(self, v, o):
        return self._lambda(o[0], None, v[0], v[2])

    def lambda_formals_at(self, v, o):
        return self._lambda(o[0], v[2], v[0], v[4])

    def lambda_at_formals(self, v, o):
        return self._lambda(o[0], v[0], v[2], v[4])

    def assert_(self, v, o):
        return A.Assert(self.src, o[0], v[1], v[3])

    def with_(self, v, o):
        return A.With(self.src, o[0], v[1], v[3])

    def let(self, v, o):
        binds = v[1]
        if binds.dynamic:
            self._error("dynamic attributes not allowed in let", o[0])
        return A.Let(self.src, o[0], binds.attrs, binds.inherit_from, v[3])

    def if_(self, v, o):
        return A.If(self.src, o[0], v[1], v[3], v[5])

    def pipe_from(self, v, o):
        return self._make_call(o[1], v[0], v[2])

    def pipe_into(self, v, o):
        return self._make_call(o[1], v[2], v[0])

    def binop(self, v, o):
        op = v[1]
        fn_name = A.OP_FUNCTIONS.get(op)
        fn = A.Var(self.src, o[1], fn_name) if fn_name is not None else None
        return A.BinOp(self.src, o[1], op, v[0], v[2], fn)

    def not_(self, v, o):
        return A.Not(self.src, o[0], v[1])

    def neg(self, v, o):
        return A.Neg(self.src, o[0], v[1], A.Var(self.src, o[0], "__sub"))

    def has_attr(self, v, o):
        return A.HasAttr(self.src, o[1], v[0], v[2])

    def app(self, v, o):
        return self._make_call(o[0], v[0], v[1])

    def select(self, v, o):
        return A.Select(self.src, o[0], v[0], v[2], None)

    def select_or(self, v, o):
        return A.Select(self.src, o[0], v[0], v[2], v[4])

    def cursed_or(self, v, o):
        return A.Call(self.src, o[0], v[0], [A.Var(self.src, o[0], "or")])

    def var(self, v, o):
        if v[0] == "__curPos":
            return A.CurPos(self.src, o[0])
        return A.Var(self.src, o[0], v[0])

    def int_(self, v, o):
        return A.Int(self.src, o[0], v[0])

    def float_(self, v, o):
        return A.Float(self.src, o[0], v[0])

    def string(self, v, o):
        e = v[1]
        if type(e) is A.Str:
            e.off = o[0]
        return e

    def ind_string(self, v, o):
        return self._strip_indentation(o[0], v[1])

    def path(self, v, o):
        return v[0]

    def path_interp(self, v, o):
        return A.PathInterp(self.src, o[0], [v[0]] + v[1])

    def path_start(self, v, o):
        literal = v[0]
        if literal[0] == "/":
            path = A.canon_path(literal)
        else:
            path = A.canon_path(self.src.base_dir + "/" + literal)
        if len(literal) > 1 and literal[-1] == "/":
            path += "/"
        return A.Path(self.src, o[0], path)

    def hpath_start(self, v, o):
        literal = v[0]
        return A.Path(self.src, o[0], os.environ.get("HOME", "") + literal[1:])

    def spath(self, v, o):
        src, off = self.src, o[0]
        return A.Call(src, off, A.Var(src, off, "__findFile"),
                      [A.Var(src, off, "__nixPath"), A.Str(src, off, v[0][1:-1])])

    def uri(self, v, o):
        return A.Str(self.src, o[0], v[0])

    def paren(self, v, o):
        return v[1]

    def legacy_let(self, v, o):
        attrs = v[2]
        attrs.rec = True
        attrs.off = o[0]
        return A.Select(self.src, o[0], attrs, ["body"], None)

    def rec_attrs(self, v, o):
        attrs = v[2]
        attrs.rec = True
        attrs.off = o[0]
        return attrs

    def attrs(self, v, o):
        attrs = v[1]
        attrs.off = o[0]
        return attrs

    def empty_attrs(self, v, o):
        return A.Attrs(self.src, o[0])

    def list_(self, v, o):
        return A.List(self.src, o[0], v[1])

    def str_single(self, v, o):
        return A.Str(self.src, o[0], v[0])

    def str_interp(self, v, o):
        return A.StrInterp(self.src, o[0], v[0])

    def str_empty(self, v, off):
        return A.Str(self.src, off, "")

    def parts_append_str(self, v, o):
        v[0].append(A.Str(self.src, o[1], v[1]))
        return v[0]

    def parts_append_expr(self, v, o):
        v[0].append(v[2])
        return v[0]

    def parts_first_expr(self, v, o):
        return [v[1]]

    def parts_first_str_expr(self, v, o):
        return [A.Str(self.src, o[0], v[0]), v[2]]

    def ind_append_str(self, v, o):
        v[0].append((o[1], v[1]))
        return v[0]

    def ind_append_expr(self, v, o):
        v[0].append((o[1], v[2]))
        return v[0]

    def ind_empty(self, v, off):
        return []

    def binds_empty(self, v, off):
        return A.Attrs(self.src, off)

    def bind_attr(self, v, o):
        self._add_attr(v[0], v[1], o[1], v[3])
        return v[0]

    def bind_first(self, v, o):
        attrs = A.Attrs(self.src, o[0])
        self._add_attr(attrs, v[0], o[0], v[2])
        return attrs

    def bind_inherit(self, v, o):
        attrs = v[0]
        src = self.src
        for name, off in v[2]:
            prev = attrs.attrs.get(name)
            if prev is not None:
                self._error(
                    f"attribute '{self._show_path([name])}' already defined at "
                    f"{self._pos_str(prev.off)}", off)
            attrs.attrs[name] = A.AttrDef(src, off, name, A.Var(src, off, name), A.INHERITED)
        return attrs

    def bind_inherit_from(self, v, o):
        attrs = v[0]
        src = self.src
        attrs.inherit_from.append(v[3])
        source = A.InheritFrom(src, o[3], len(attrs.inherit_from) - 1)
        for name, off in v[5]:
            prev = attrs.attrs.get(name)
            if prev is not None:
                self._error(
                    f"attribute '{self._show_path([name])}' already defined at "
                    f"{self._pos_str(prev.off)}", off)
            attrs.attrs[name] = A.AttrDef(
                src, off, name, A.Select(src, off, source, [name], None), A.INHERITED_FROM)
        return attrs

    def inherit_names_attr(self, v, o):
        v[0].append((v[1], o[1]))
        return v[0]

    def inherit_names_string(self, v, o):
        if type(v[1]) is not str:
            self._error("dynamic attributes not allowed in inherit", o[1])
        v[0].append((v[1], o[1]))
        return v[0]

    def inherit_names_empty(self, v, off):
        return []

    def attrpath_append(self, v, o):
        v[0].append(v[2])
        return v[0]

    def attrpath_first(self, v, o):
        return [v[0]]

    def attr_id(self, v, o):
        return v[0]

    def attr_or(self, v, o):
        return "or"

    def string_attr(self, v, o):
        e = v[1]
        return e.value if type(e) is A.Str else e

    def dynamic_attr(self, v, o):
        e = v[1]
        return e.value if type(e) is A.Str else e

    def list_append(self, v, o):
        v[0].append(v[1])
        return v[0]

    def list_empty(self, v, off):
        return []

    def formals_ellipsis(self, v, o):
        return (v[1], True)

    def formals_only_ellipsis(self, v, o):
        return ([], True)

    def formals_plain(self, v, o):
        return (v[1], False)

    def formals_none(self, v, o):
        return ([], False)

    def formals_append(self, v, o):
        v[0].append(v[2])
        return v[0]

    def formals_first(self, v, o):
        return [v[0]]

    def formal(self, v, o):
        return A.Formal(self.src, o[0], v[0], None)

    def formal_default(self, v, o):
        return A.Formal(self.src, o[0], v[0], v[2])

    def start(self, v, o):
        return v[0]
