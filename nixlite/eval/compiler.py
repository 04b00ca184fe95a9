"""Compile a resolved AST into Python closures, once per file.

Every expression node becomes ``code(env) -> value`` (the value in weak head
normal form).  ``lazy(node)`` gives ``code(env) -> value-or-thunk`` for places
where Nix delays evaluation (attribute values, list items, arguments, let
bindings): as in Nix, literals and variables are not wrapped in a thunk (a
variable shares the slot's thunk or value), anything else is.  This matters
both for speed and for what ``nix-instantiate --eval`` prints (``<CODE>``).

Environments are Python lists ``[parent, slot0, slot1, …]``: one per frame the
resolver opened (lambda, let, rec set, with), so a variable at (level, index)
is ``env[0][0]…[index + 1]`` with ``level`` hops.
"""

from __future__ import annotations

from nixlite.eval import fastops, ops
from nixlite.eval.fastops import MISSING as _MISSING
from nixlite.eval.fastops import _frame
from nixlite.eval.fastops import force_attr as _force_attr
from nixlite.eval.fastops import missing_attr as _missing
from nixlite.eval.symbols import symbol_rank
from nixlite.errors import Pos
from nixlite.eval.values import (
    AbortError,
    AssertionFailed,
    Attrs,
    CStr,
    EvalError,
    Lambda,
    NixPath,
    PosChain,
    ThrownError,
    Thunk,
    call,
    canon_path,
    force,
    position_value,
    type_error,
)
from nixlite.resolve import DYNAMIC, GLOBAL
from nixlite.syntax import ast as A

# Errors Nix reports without the position of the call that raised them.
_UNPOSITIONED = (ThrownError, AbortError)
_VARIABLE_KINDS = fastops.VARS  # by level


def _inline(code) -> tuple:
    """``(cell, None)`` for the code of a delayed expression (the caller makes
    ``Thunk(cell[0], env)`` itself, one call less), else ``(None, code)``."""
    cell = getattr(code, "cell", None)
    return (cell, None) if cell is not None else (None, code)


def _literal(node):
    """The value of a literal (number, string, path), else ``_MISSING``."""
    t = type(node)
    if t is A.Int or t is A.Float or t is A.Str:
        return node.value
    if t is A.Path:
        return NixPath(node.value)
    return _MISSING


def _lambda_label(name: str | None) -> str:
    return f"'{name}'" if name else "'anonymous lambda'"


def _show_expr(node) -> str:
    """The expression as Nix prints it in ``assertion '…' failed``."""
    from nixlite.syntax.printer import show

    return show(node)


class Compiler:
    """Compiles AST nodes of any file for one evaluation state: its globals, and
    its I/O (``EvalIO``), which coercing a path to a string needs to copy it to
    the store."""

    def __init__(self, globals_: list, io) -> None:
        self.globals = globals_
        self.io = io
        # compiled code of delayed expressions -> node, to locate unevaluated thunks
        self.code_nodes: dict = {}
        self._dispatch = {
            A.Int: self._const,
            A.Float: self._const,
            A.Str: self._const,
            A.Path: self._path,
            A.Var: self._var,
            A.Select: self._select,
            A.HasAttr: self._hasattr,
            A.Attrs: self._attrs,
            A.List: self._list,
            A.Lambda: self._lambda,
            A.Call: self._call,
            A.Let: self._let,
            A.With: self._with,
            A.Assert: self._assert,
            A.If: self._if,
            A.Not: self._not,
            A.Neg: self._neg,
            A.BinOp: self._binop,
            A.StrInterp: self._strinterp,
            A.PathInterp: self._pathinterp,
            A.CurPos: self._curpos,
        }

    # ------------------------------------------------------------------ entry

    def compile(self, e):
        return self._dispatch[type(e)](e)

    def lazy(self, e):
        """``code(env) -> value-or-thunk``: no thunk for literals and variables."""
        t = type(e)
        if t is A.Int or t is A.Float or t is A.Str:
            v = e.value
            return lambda env: v
        if t is A.Path:
            p = NixPath(e.value)
            return lambda env: p
        if t is A.Var and e.level != DYNAMIC:
            return self._var_lazy(e)
        return self._delayed(e)

    def _delayed(self, e):
        """``code(env) -> Thunk`` for any expression (also a variable whose slot is
        not filled yet when the thunk is made)."""
        cell = self._on_first_run(e)
        code = lambda env: Thunk(cell[0], env)  # noqa: E731 - it carries an attribute
        code.cell = cell  # hot builders make the thunk inline (see ``_inline``)
        return code

    def _on_first_run(self, e) -> list:
        """A one-item list holding ``code(env)`` for ``e``, compiled the first time it
        runs (and remembered, to locate unevaluated thunks).

        Most of what a large file defines is never used — nixpkgs' package
        attributes and lib functions — so thunk expressions and function bodies
        are compiled when first forced or called, not when their file is loaded.
        """
        cell = [None]
        nodes = self.code_nodes

        def compile_and_run(env):
            code = cell[0]
            if code is compile_and_run:  # else: compiled since this thunk was made
                code = cell[0] = self.compile(e)
                nodes[code] = e
            return code(env)

        cell[0] = compile_and_run  # its node is found through its closure (node_of_thunk)
        return cell

    def node_of_thunk(self, t: Thunk):
        """The expression an unevaluated thunk will evaluate, if compiled here."""
        fn = t.fn
        node = self.code_nodes.get(fn)
        code = getattr(fn, "__code__", None)
        if node is None and code is not None and code.co_name == "compile_and_run" \
                and code.co_filename == __file__:
            node = fn.__closure__[code.co_freevars.index("e")].cell_contents
        return node

    def delayed(self, e):
        """``(code, is_thunk)``: like ``lazy`` but lets hot callers build the thunk
        inline (``Thunk(code[0], env)`` when ``is_thunk``, ``code`` being the cell of
        ``_on_first_run``, else ``code(env)``)."""
        t = type(e)
        if (t is A.Int or t is A.Float or t is A.Str or t is A.Path
                or (t is A.Var and e.level != DYNAMIC)):
            return self.lazy(e), False
        return self._on_first_run(e), True

    # ------------------------------------------------------------- literals

    def _const(self, e):
        v = e.value
        return lambda env: v

    def _path(self, e):
        p = NixPath(e.value)
        return lambda env: p

    def _curpos(self, e):
        value = position_value(e.pos)
        return lambda env: value

    # ------------------------------------------------------------ variables

    def _var_lazy(self, e):
        level = e.level
        if level == GLOBAL:
            v = self.globals[e.index]
            return lambda env: v
        idx = e.index + 1
        if level == 0:
            return lambda env: env[idx]
        if level == 1:
            return lambda env: env[0][idx]
        if level == 2:
            return lambda env: env[0][0][idx]
        if level == 3:
            return lambda env: env[0][0][0][idx]
        if level == 4:
            return lambda env: env[0][0][0][0][idx]
        return lambda env: _frame(env, level)[idx]

    def _var(self, e):
        level = e.level
        if level == DYNAMIC:
            return self._dynamic_var(e)
        if level == GLOBAL:
            v = self.globals[e.index]
            if type(v) is not Thunk:
                return lambda env: v

            def global_code(env):
                return v.force()

            return global_code
        return fastops.variable(self._operand(e))

    def _dynamic_var(self, e):
        name = e.name
        # hops from one `with` frame to the next (levels ascend): one walk up the chain
        hops = [level - above for level, above in zip(e.withs, [0, *e.withs])]
        first = hops[0]
        hops[0] = 0
        # The innermost `with` frame fixes the whole chain (its parents and their forced
        # sets never change), so the frame last looked up through and the value found
        # are remembered: a module's `with lib;` frame serves all the lookups of its
        # body, and a file's `with lib.lists; with lib.strings; …` every call.
        last = [None, None]

        def code(env):
            frame = env
            hop = first
            while hop:
                frame = frame[0]
                hop -= 1
            if frame is last[0]:
                return last[1]
            innermost = frame
            for hop in hops:
                while hop:
                    frame = frame[0]
                    hop -= 1
                s = frame[1]
                if type(s) is Thunk:
                    try:
                        s = s.force()
                    except EvalError as exc:
                        raise exc.at(e.pos)
                    if type(s) is not Attrs:
                        raise type_error(s, "a set").at(e.pos)
                    frame[1] = s
                elif type(s) is not Attrs:
                    raise type_error(s, "a set").at(e.pos)
                v = s.get(name, _MISSING)
                if v is not _MISSING:
                    v = v.force() if type(v) is Thunk else v
                    last[0] = innermost
                    last[1] = v
                    return v
            raise EvalError(f"undefined variable '{name}'", e.pos)

        return code

    # ------------------------------------------------------------ selection

    def _attr_name_code(self, item):
        """A path element: a static ``str`` or a closure giving the name."""
        if isinstance(item, str):
            return item
        code = self.compile(item)

        def name_code(env):
            s = code(env)
            if type(s) is CStr:
                s = str(s)
            elif type(s) is not str:
                raise type_error(s, "a string").at(item.pos)
            return s

        return name_code

    def _select(self, e):
        names = [self._attr_name_code(p) for p in e.path]
        default = self.compile(e.default) if e.default is not None else None
        if all(type(n) is str for n in names):
            if len(names) > 1:
                return fastops.select_path(self._operand(e.expr), tuple(names), default, e)
            if default is None:
                return fastops.select1(self._operand(e.expr), names[0], e)
            return fastops.select1_or(self._operand(e.expr), names[0], default, e)
        expr = self.compile(e.expr)

        def select(env):
            v = expr(env)
            for n in names:
                if type(n) is not str:
                    n = n(env)
                if type(v) is not Attrs:
                    if default is not None:
                        return default(env)
                    raise type_error(v, "a set").at(e.pos)
                x = v.get(n, _MISSING)
                if x is _MISSING:
                    if default is not None:
                        return default(env)
                    raise _missing(n, v, e)
                v = _force_attr(x, v, n, e) if type(x) is Thunk else x
            return v

        return select

    def _hasattr(self, e):
        if len(e.path) == 1:
            item = e.path[0]
            name = item if isinstance(item, str) else (self._operand(item), item)
            return fastops.hasattr1(self._operand(e.expr), name)
        expr = self.compile(e.expr)
        names = [self._attr_name_code(p) for p in e.path]
        last = len(names) - 1

        def hasattr_(env):
            v = expr(env)
            for i, n in enumerate(names):
                if type(n) is not str:
                    n = n(env)
                if type(v) is not Attrs:
                    return False
                x = v.get(n, _MISSING)
                if x is _MISSING:
                    return False
                if i < last:
                    v = force(x)
            return True

        return hasattr_

    # ------------------------------------------------------- sets and lets

    def _binding_lazies(self, node, attrs: dict, inner_is_frame: bool):
        """Per static attribute, in Nix's fill order (symbol order, see
        ``nixlite.eval.symbols``): ``(slot, name, kind, code)`` where PLAIN/INHERITED
        codes take the (inner / outer) env and INHERITED_FROM codes are
        ``(source_index, name, node)``."""
        items = list(attrs.items())
        order = sorted(range(len(items)),
                       key=lambda i: symbol_rank(items[i][0], node.src, items[i][1].off))
        filled_before = {}
        for position, i in enumerate(order):
            filled_before[i] = position
        out = []
        for i in order:
            name, d = items[i]
            kind = d.kind
            if kind == A.INHERITED_FROM:
                sel = d.value
                out.append((i + 1, name, kind, (sel.expr.index, sel.path[0], sel)))
                continue
            value = d.value
            if (inner_is_frame and kind == A.PLAIN and type(value) is A.Var
                    and value.level == 0 and filled_before[value.index] >= filled_before[i]):
                # refers to a slot of this frame not filled yet: delay, as Nix does
                out.append((i + 1, name, kind, self._delayed(value)))
            else:
                out.append((i + 1, name, kind, self.lazy(value)))
        return out

    def _inherit_sources(self, node):
        """``inherit (e)`` sources: built before the frame's slots are filled, so a
        variable of that frame must be delayed (as Nix's maybeThunk does)."""
        out = []
        for x in node.inherit_from:
            if type(x) is A.Var and x.level == 0:
                out.append(self._delayed(x))
            else:
                out.append(self.lazy(x))
        return out

    def _dynamic_bindings(self, node):
        return [(self.compile(d.name), self.lazy(d.value), d) for d in node.dynamic]

    def _attrs(self, e):
        bindings = self._binding_lazies(e, e.attrs, e.rec)
        sources = self._inherit_sources(e)
        dynamic = self._dynamic_bindings(e)
        positions = e.attrs
        rec = e.rec
        n = len(bindings)
        overrides = None
        if rec and "__overrides" in positions:
            # Nix then makes every non-inherited binding a real thunk, so that one
            # binding referring to another sees the overriding value.
            overrides = {name: slot for slot, name, _, _ in bindings}
            bindings = [
                (slot, name, kind, self._delayed(e.attrs[name].value) if kind == A.PLAIN else code)
                for slot, name, kind, code in bindings
            ]

        if not rec and not sources and not dynamic:
            if all(kind == A.PLAIN or kind == A.INHERITED for _, _, kind, _ in bindings):
                # Literal values are in the template from the start; the others are
                # filled into a copy, which keeps the template's (symbol) order.
                template = {}
                pairs = []
                for _, name, kind, code in bindings:
                    literal = _literal(e.attrs[name].value) if kind == A.PLAIN else _MISSING
                    template[name] = literal
                    if literal is _MISSING:
                        pairs.append((name, code))

                pairs = [(name, *_inline(code)) for name, code in pairs]

                def plain_set(env):
                    a = Attrs(template)
                    for name, cell, code in pairs:
                        a[name] = Thunk(cell[0], env) if cell is not None else code(env)
                    a._pos = positions
                    return a

                return plain_set

        def build(env):
            if rec:
                frame = [env]
                frame.extend([None] * n)
                inner = frame
            else:
                inner = env
            srcs = [s(inner) for s in sources]
            result = Attrs()
            for slot, name, kind, code in bindings:
                if kind == A.PLAIN:
                    v = code(inner)
                elif kind == A.INHERITED:
                    v = code(env)
                else:
                    v = Thunk(_select_inherited, (srcs[code[0]], code[1], code[2]))
                if rec:
                    frame[slot] = v
                result[name] = v
            pos = positions
            if overrides is not None:
                pos = _apply_overrides(result, frame, overrides, positions)
            if dynamic:
                pos = dict(pos)
                for name_code, value_code, d in dynamic:
                    try:
                        name = name_code(inner)
                    except EvalError as exc:
                        raise exc.at(d.pos)
                    if name is None:
                        continue
                    if type(name) is CStr:
                        raise EvalError(
                            f"the string '{name}' is not allowed to refer to a store path "
                            f"(such as '{sorted(name.ctx)[0]}')", d.pos)
                    if type(name) is not str:
                        raise type_error(name, "a string").at(d.pos)
                    if name in result:
                        prev = pos.get(name)
                        if prev is not None and type(prev) is not Pos:
                            prev = prev.pos
                        where = f" at {prev}" if prev is not None else ""
                        raise EvalError(f"dynamic attribute '{name}' already defined{where}", d.pos)
                    result[name] = value_code(inner)
                    pos[name] = d
            result.pos = pos
            return result

        return build

    def _let(self, e):
        bindings = self._binding_lazies(e, e.attrs, True)
        sources = self._inherit_sources(e)
        body = self.compile(e.body)
        n = len(bindings)
        simple = not sources and all(kind != A.INHERITED_FROM for _, _, kind, _ in bindings)
        if simple:
            # literal values are in the frame from the start
            slots = [None] * n
            plain = []
            for slot, name, kind, code in bindings:
                literal = _literal(e.attrs[name].value) if kind == A.PLAIN else _MISSING
                if literal is _MISSING:
                    plain.append((slot, kind == A.PLAIN, code))
                else:
                    slots[slot - 1] = literal

            plain = [(slot, is_plain, *_inline(code)) for slot, is_plain, code in plain]

            def let_simple(env):
                frame = [env]
                frame.extend(slots)
                for slot, is_plain, cell, code in plain:
                    if cell is not None:
                        frame[slot] = Thunk(cell[0], frame if is_plain else env)
                    else:
                        frame[slot] = code(frame) if is_plain else code(env)
                return body(frame)

            return let_simple

        def let_(env):
            frame = [env]
            frame.extend([None] * n)
            srcs = [s(frame) for s in sources]
            for slot, name, kind, code in bindings:
                if kind == A.PLAIN:
                    frame[slot] = code(frame)
                elif kind == A.INHERITED:
                    frame[slot] = code(env)
                else:
                    frame[slot] = Thunk(_select_inherited, (srcs[code[0]], code[1], code[2]))
            return body(frame)

        return let_

    def _with(self, e):
        attrs = self.lazy(e.attrs)
        body = self.compile(e.body)
        return lambda env: body([env, attrs(env)])

    def _list(self, e):
        items = [self.delayed(x) for x in e.elems]
        if not items:
            return lambda env: []
        if all(is_thunk for _, is_thunk in items):
            cells = [cell for cell, _ in items]
            return lambda env: [Thunk(cell[0], env) for cell in cells]
        if not any(is_thunk for _, is_thunk in items):
            codes = [code for code, _ in items]
            return lambda env: [code(env) for code in codes]
        return lambda env: [Thunk(code[0], env) if is_thunk else code(env) for code, is_thunk in items]

    # ------------------------------------------------------------ functions

    def _lambda(self, e):
        body = self._on_first_run(e.body)
        name = e.name
        node = e
        if e.formals is None:
            def make(env):
                return Lambda(lambda arg: body[0]([env, arg]), node, name)

            return make

        has_arg = e.arg is not None
        formals = []
        for f in e.formals:
            d = f.default
            if d is None:
                formals.append((f.name, None))
            elif type(d) is A.Var and d.level == 0:
                formals.append((f.name, self._delayed(d)))
            else:
                formals.append((f.name, self.lazy(d)))
        ellipsis = e.ellipsis
        formal_names = frozenset(f.name for f in e.formals)
        info = tuple((f.name, f.default is not None) for f in e.formals)
        nformals = len(formals)

        def make(env):
            def fn(arg):
                a = arg.force() if type(arg) is Thunk else arg
                if type(a) is not Attrs:
                    raise type_error(a, "a set")
                frame = [env, arg] if has_arg else [env]
                used = 0
                for fname, default in formals:
                    x = a.get(fname, _MISSING)
                    if x is _MISSING:
                        if default is None:
                            raise EvalError(
                                f"function {_lambda_label(name)} called without required argument '{fname}'"
                            )
                        frame.append(None)
                    else:
                        used += 1
                        frame.append(x)
                if used < nformals:
                    base = 2 if has_arg else 1
                    for i, (fname, default) in enumerate(formals):
                        if frame[base + i] is None and fname not in a:
                            frame[base + i] = default(frame)
                if not ellipsis and used != len(a):
                    for k in sorted(a):
                        if k not in formal_names:
                            exc = EvalError(
                                f"function {_lambda_label(name)} called with unexpected argument '{k}'"
                            )
                            from nixlite.eval.suggest import did_you_mean

                            exc.hint = did_you_mean(k, formal_names)
                            raise exc
                return body[0](frame)

            return Lambda(fn, node, name, info, ellipsis)

        return make

    def _call(self, e):
        def on_error(exc, f):
            if exc.pos is None and not isinstance(exc, _UNPOSITIONED):
                exc.pos = e.pos
            if type(f) is Lambda:
                exc.add_trace(f"while calling {_lambda_label(f.name)}", f.pos)
                exc.add_trace("from call site", e.pos)
            return exc

        if len(e.args) == 1:
            acode, is_thunk = self.delayed(e.args[0])
            return fastops.call1(self._operand(e.fn), acode, is_thunk, on_error)
        if len(e.args) == 2:
            return fastops.call2(self._operand(e.fn), *map(self.delayed, e.args), on_error)
        fn = self.compile(e.fn)
        args = [self.delayed(a) for a in e.args]

        def calln(env):
            f = fn(env)
            try:
                for code, is_thunk in args:
                    a = Thunk(code[0], env) if is_thunk else code(env)
                    g = f
                    f = g.fn(a) if type(g) is Lambda else call(g, a)
                return f
            except EvalError as exc:
                raise on_error(exc, g)

        return calln

    # ------------------------------------------------------------ control

    def _assert(self, e):
        cond = self.compile(e.cond)
        body = self.compile(e.body)

        def assert_(env):
            c = cond(env)
            if c is True:
                return body(env)
            if c is False:
                raise AssertionFailed(f"assertion '{_show_expr(e.cond)}' failed", e.pos)
            raise type_error(c, "a Boolean").at(e.pos)

        return assert_

    def _if(self, e):
        then = self.compile(e.then)
        else_ = self.compile(e.else_)
        c = e.cond
        if type(c) is A.HasAttr and len(c.path) == 1:
            item = c.path[0]
            name = item if isinstance(item, str) else (self._operand(item), item)
            return fastops.if_hasattr(self._operand(c.expr), name, then, else_)
        if (type(c) is A.BinOp and (c.op == "==" or c.op == "!=")
                and (c.fn is None or c.fn.level == GLOBAL)):
            return fastops.if_equal(c.op, self._operand(c.left), self._operand(c.right), c,
                                    then, else_)
        cond = self.compile(c)

        def if_(env):
            c = cond(env)
            if c is True:
                return then(env)
            if c is False:
                return else_(env)
            raise type_error(c, "a Boolean").at(e.pos)

        return if_

    def _not(self, e):
        expr = self.compile(e.expr)

        def not_(env):
            c = expr(env)
            if c is True:
                return False
            if c is False:
                return True
            raise type_error(c, "a Boolean").at(e.pos)

        return not_

    def _neg(self, e):
        expr = self.compile(e.expr)
        if e.fn.level != GLOBAL:
            fn = self._var(e.fn)
            return lambda env: _call2(fn(env), 0, expr(env), e)

        def neg(env):
            v = expr(env)
            try:
                return ops.sub(0, v)
            except EvalError as exc:
                raise exc.at(e.pos)

        return neg

    def _logic(self, e):
        """``&&``, ``||`` and ``->``: the right operand is evaluated only when the left
        one does not decide; each must be a Boolean (checked inline: 400k of these on
        the NixOS system)."""
        left = self.compile(e.left)
        right = self.compile(e.right)
        # the left operand's value that decides the result without the right one
        decides = {"&&": False, "||": True, "->": False}[e.op]
        result = e.op != "&&"

        def logic(env):
            v = left(env)
            if v is decides:
                return result
            if type(v) is not bool:
                raise type_error(v, "a Boolean").at(e.pos)
            v = right(env)
            if type(v) is bool:
                return v
            raise type_error(v, "a Boolean").at(e.pos)

        return logic

    def _binop(self, e):
        op = e.op
        if op == "&&" or op == "||" or op == "->":
            return self._logic(e)
        if e.fn is not None and e.fn.level != GLOBAL:
            return self._binop_user(e)
        if op in fastops.OPERATORS:
            return fastops.binop(op, self._operand(e.left), self._operand(e.right), e, self.io)
        if op == "++" and _is_builtin_concat(e.right):
            return self._concat_chain(e)
        left = self.compile(e.left)
        right = self.compile(e.right)

        def wrap(fn2):
            def code(env):
                a = left(env)
                b = right(env)
                try:
                    return fn2(a, b)
                except EvalError as exc:
                    raise exc.at(e.pos)

            return code

        if op == "/":
            return wrap(ops.div)
        if op == "//":
            return wrap(_update)
        if op == "++":
            return wrap(_concat_lists)
        raise EvalError(f"unknown operator {op}", e.pos)

    def _concat_chain(self, e):
        """``a ++ b ++ c …`` (right-nested) as one concatenation: linear in the chain's
        length where nested binary ones copy the growing tail at every step.  Nix evaluates
        every operand first, left to right, then checks the innermost ``++``'s operands
        first, outwards; each error names the ``++`` the operand belongs to."""
        operands, nodes = [e.left], [e]
        right = e.right
        while _is_builtin_concat(right):
            operands.append(right.left)
            nodes.append(right)
            right = right.right
        operands.append(right)
        codes = [self.compile(x) for x in operands]
        last = len(operands) - 1
        check_order = [(k, nodes[min(k, last - 1)]) for k in (last - 1, last, *range(last - 2, -1, -1))]

        def concat(env):
            values = [code(env) for code in codes]
            for k, node in check_order:
                if type(values[k]) is not list:
                    raise type_error(values[k], "a list").at(node.pos)
            out: list = []
            for v in values:
                out.extend(v)
            return out

        return concat

    def _operand(self, x):
        """How a generated fast path reads an operand (see ``nixlite.eval.fastops``)."""
        t = type(x)
        if t is A.Int or t is A.Float or t is A.Str:
            return (fastops.CONST, x.value, None)
        if t is A.Path:
            return (fastops.CONST, NixPath(x.value), None)
        if t is A.Var:
            level = x.level
            if level >= 0:
                kind = _VARIABLE_KINDS[level] if level < len(_VARIABLE_KINDS) else fastops.VARN
                return (kind, (level, x.index + 1) if kind == fastops.VARN else x.index + 1, x)
            if level == GLOBAL and type(self.globals[x.index]) is not Thunk:
                return (fastops.CONST, self.globals[x.index], None)
        return (fastops.CODE, self.compile(x), None)

    def _binop_user(self, e):
        """``-``/``*``/``/``/``<``… when ``__sub``… is rebound lexically: call it, as Nix does."""
        fn = self._var(e.fn)
        left = self.lazy(e.left)
        right = self.lazy(e.right)
        op = e.op
        if op == "-" or op == "*" or op == "/" or op == "<":
            return lambda env: _call2(fn(env), left(env), right(env), e)
        if op == ">":
            return lambda env: _call2(fn(env), right(env), left(env), e)
        if op == "<=":
            return lambda env: _not_bool(_call2(fn(env), right(env), left(env), e), e)
        return lambda env: _not_bool(_call2(fn(env), left(env), right(env), e), e)

    # ------------------------------------------------------------- strings

    def _strinterp(self, e):
        parts = []
        for p in e.parts:
            if type(p) is A.Str:
                parts.append(p.value)
            else:
                parts.append((self.compile(p), p))
        io = self.io

        def interp(env):
            out = []
            ctx = None
            for p in parts:
                if type(p) is str:
                    out.append(p)
                    continue
                code, node = p
                v = code(env)
                if type(v) is str:
                    out.append(v)
                    continue
                try:
                    s = ops.coerce_to_string(v, copy_to_store=io)
                except EvalError as exc:
                    raise exc.at(_interpolation_pos(node))
                if type(s) is CStr:
                    ctx = set(s.ctx) if ctx is None else ctx | s.ctx
                out.append(str(s))
            r = "".join(out)
            return CStr(r, frozenset(ctx)) if ctx else r

        return interp

    def _pathinterp(self, e):
        first = e.parts[0]
        base = first.value if type(first) is A.Path else None
        parts = []
        for p in e.parts[1:] if base is not None else e.parts:
            if type(p) is A.Str:
                parts.append(p.value)
            else:
                parts.append((self.compile(p), p))

        def interp(env):
            out = [base] if base is not None else []
            for p in parts:
                if type(p) is str:
                    out.append(p)
                    continue
                code, node = p
                v = code(env)
                try:
                    s = ops.coerce_to_string(v, copy_to_store=None)
                except EvalError as exc:
                    raise exc.at(node.pos)
                if type(s) is CStr:
                    raise EvalError(
                        "a string that refers to a store path cannot be appended to a path", e.pos)
                out.append(s)
            return NixPath(canon_path("".join(out)))

        return interp


def _interpolation_pos(node):
    """Nix reports a failed interpolation at its ``${``, which the AST does not keep."""
    text = node.src.text
    i = text.rfind("${", 0, node.off)
    if i >= 0 and not text[i + 2:node.off].strip():
        return node.src.pos(i)
    return node.pos


def _apply_overrides(result: Attrs, frame: list, slots: dict, positions: dict) -> dict:
    """``rec { __overrides = { … }; … }``: the overriding values replace the
    bindings both in the set and in the recursive scope (others are added to the
    set only), as Nix's ExprAttrs::eval does; returns the set's positions."""
    try:
        extra = force(result["__overrides"])
    except EvalError as exc:
        raise exc.add_trace("while evaluating the `__overrides` attribute")
    if type(extra) is not Attrs:
        raise type_error(extra, "a set").add_trace("while evaluating the `__overrides` attribute")
    pos = dict(positions)
    for name, v in extra.items():
        slot = slots.get(name)
        if slot is not None:
            frame[slot] = v
        result[name] = v
        where = extra.attr_pos(name)
        if where is None:
            pos.pop(name, None)
        else:
            pos[name] = where
    return pos


def _select_inherited(triple):
    source, name, node = triple
    try:
        s = force(source)
    except EvalError as exc:
        raise exc.at(node.pos)
    if type(s) is not Attrs:
        raise type_error(s, "a set").at(node.pos)
    v = s.get(name, _MISSING)
    if v is _MISSING:
        raise _missing(name, s, node)
    return _force_attr(v, s, name, node)


def _call2(f, a, b, node):
    try:
        return call(call(f, a), b)
    except EvalError as exc:
        raise exc.at(node.pos)


def _not_bool(v, node):
    if type(v) is not bool:
        raise type_error(v, "a Boolean").at(node.pos)
    return not v


def _update(a, b):
    if type(a) is not Attrs:
        raise type_error(a, "a set")
    if type(b) is not Attrs:
        raise type_error(b, "a set")
    if not b:
        return a
    if not a:
        return b
    r = Attrs(a)
    r.update(b)
    if a.pos:
        r.pos = PosChain.combine(b.pos, a.pos) if b.pos else a.pos
    else:
        r.pos = b.pos
    return r


def _is_builtin_concat(x) -> bool:
    """``x`` is a ``++`` that means list concatenation (not a user's ``__concat``-style
    operator in scope)."""
    return type(x) is A.BinOp and x.op == "++" and (x.fn is None or x.fn.level == GLOBAL)


def _concat_lists(a, b):
    if type(a) is not list:
        raise type_error(a, "a list")
    if type(b) is not list:
        raise type_error(b, "a list")
    return a + b

