"""Today's Nix's literal lints (``lint-url-literals``, ``lint-short-path-literals``,
``lint-absolute-path-literals``): each is ``ignore``, ``warn`` (a warning at the
literal) or ``fatal`` (an error, as if the parser had refused the file).

They run over a file's syntax tree once, when it is compiled; with every lint at
``ignore`` nothing is walked."""

from __future__ import annotations

import re

from nixlite.eval.values import EvalError, render_pos
from nixlite.syntax import ast as A

_PATH_TEXT = re.compile(r"[a-zA-Z0-9._\-+~/]+")


def _literals(expr):
    """Every path literal and URL literal in ``expr``, with its source text."""
    stack = [expr]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        t = type(node)
        if t is A.Path:
            m = _PATH_TEXT.match(node.src.text, node.off)
            if m:
                yield "path", node, m.group()
            continue
        if t is A.Str:
            first = node.src.text[node.off:node.off + 1]
            if first.isalpha():  # not "…" or ''…'': a URL literal
                yield "url", node, node.value
            continue
        if t is A.StrInterp:
            stack.extend(p for p in node.parts if type(p) is not A.Str)
            continue
        for cls in t.__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name in ("src", "off"):
                    continue
                value = getattr(node, name, None)
                if isinstance(value, (A.Expr, A.AttrDef, A.DynAttr, A.Formal)):
                    stack.append(value)
                elif isinstance(value, dict):
                    stack.extend(v for v in value.values() if isinstance(v, (A.Expr, A.AttrDef, A.DynAttr)))
                elif isinstance(value, (list, tuple)):
                    stack.extend(v for v in value if isinstance(v, (A.Expr, A.AttrDef, A.DynAttr, A.Formal)))


def _finding(kind: str, text: str, settings) -> tuple[str, str] | None:
    """(level, message) of the lint ``text`` breaks, if it is not ignored."""
    if kind == "url":
        return settings.lint_url_literals, f"URL literal '{text}' is deprecated"
    if text.startswith(("/", "~/")):
        return (settings.lint_absolute_path_literals,
                f"absolute path literals are not portable. Consider replacing path literal "
                f"'{text}' by a string, relative path, or parameter (lint-absolute-path-literals)")
    if not text.startswith(("./", "../")):
        return (settings.lint_short_path_literals,
                f"relative path literal '{text}' should be prefixed with '.' for clarity: './{text}'")
    return None


def wants_lint(settings) -> bool:
    return any(level != "ignore" for level in (
        settings.lint_url_literals, settings.lint_short_path_literals,
        settings.lint_absolute_path_literals))


def lint(expr, settings, warn) -> None:
    """Report the lints ``expr`` breaks: ``warn(text)`` for warnings (in source order),
    an ``EvalError`` for the first fatal one."""
    found = []
    for kind, node, text in _literals(expr):
        finding = _finding(kind, text, settings)
        if finding is not None and finding[0] != "ignore":
            found.append((node.off, finding, node))
    for _, (level, message), node in sorted(found, key=lambda f: f[0]):
        if level == "fatal":
            raise EvalError(message, node.pos)
        warn(f"warning: {message}\n" + warning_pos(node.pos))


def warning_pos(pos) -> str:
    """Where a warning points: an error's excerpt, indented under ``warning: ``."""
    lines = render_pos(pos).split("\n")
    return "\n".join("  " + line for line in lines if line)
