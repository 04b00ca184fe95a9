"""One evaluation: its builtins, search path, import cache, I/O and options.

``EvalState`` is what builtins declared with ``state=True`` receive.  The
state in use is also reachable as ``current_state()`` (evaluation is
single-threaded), for code deep inside value operations (string coercion
copying a path to the store).
"""

from __future__ import annotations

import os
import sys
import time

from nixlite.eval.io import EvalIO, LocalIO
from nixlite.eval.values import (
    Attrs,
    active_state,
    EvalError,
    PrimOp,
    Thunk,
    canon_path,
)

def current_state() -> EvalState:
    """The state of the evaluation in progress (a fresh default one if none)."""
    state = active_state[0]
    if state is None:
        state = EvalState()
    return state


def parse_search_path(entries) -> list[tuple[str, str]]:
    """``-I``/``NIX_PATH`` entries (``prefix=path`` or ``path``) as ``(prefix, path)``."""
    out = []
    for entry in entries:
        if not entry:
            continue
        prefix, eq, path = entry.partition("=")
        if not eq:
            prefix, path = "", entry
        out.append((prefix, path))
    return out


class EvalState:
    """Options and shared caches of one evaluation."""

    def __init__(self, *, io: EvalIO | None = None, search_path: list[str] | None = None,
                 use_nix_path_env: bool = True, pure: bool = False, show_trace: bool = False,
                 read_write: bool = False, trace_sink=None) -> None:
        self.io = io or LocalIO()
        entries = list(search_path or [])
        if use_nix_path_env:
            entries += os.environ.get("NIX_PATH", "").split(":")
        self.search_path = parse_search_path(entries)
        self.pure = pure
        self.show_trace = show_trace
        self.trace_verbose = False  # builtins.traceVerbose prints only when set
        self.read_write = read_write
        self.trace_sink = trace_sink or (lambda line: sys.stderr.write(line + "\n"))
        self.start_time = int(time.time())
        self.import_cache: dict[str, object] = {}
        self.globals: list = []
        self.builtins = self._make_builtins()
        from nixlite.eval.compiler import Compiler

        self.compiler = Compiler(self.globals)
        active_state[0] = self
        # Nix's constants are values from the start (so they print as values)
        for name in self._constants:
            t = self.builtins[name]
            value = t.force()
            self.builtins[name] = value
            self.globals[:] = [value if g is t else g for g in self.globals]

    def activate(self) -> None:
        active_state[0] = self

    # --------------------------------------------------------------- builtins

    def _make_builtins(self) -> Attrs:
        from nixlite.eval.builtins import load_all
        from nixlite.resolve.globals import BUILTINS_ATTR_NAMES, GLOBAL_NAMES

        registry = load_all()
        b = Attrs()
        constants: list[str] = []
        for name in sorted(set(BUILTINS_ATTR_NAMES) | set(registry)):
            spec = registry.get(name)
            if spec is None:
                b[name] = PrimOp(name, 1, _unsupported(name))
            elif spec.arity == 0:
                b[name] = Thunk(_constant, (spec, self))
                constants.append(name)
            else:
                b[name] = PrimOp(name, spec.arity, spec.fn, (), spec.wants_state)
        b["builtins"] = b
        b["true"] = True
        b["false"] = False
        b["null"] = None
        self._constants = constants
        for name in GLOBAL_NAMES:
            key = name[2:] if name.startswith("__") else name
            self.globals.append(b.get(key))
        return b

    # ---------------------------------------------------------------- loading

    def compile_expr(self, expr):
        """Resolve and compile a parsed expression; returns ``code(env)``."""
        from nixlite.resolve import resolve

        return self.compiler.compile(resolve(expr))

    def eval_expr(self, expr):
        """Evaluate a parsed expression (top level) to weak head normal form."""
        self.activate()
        return self.compile_expr(expr)(None)

    def eval_string(self, text: str, file: str = "«string»", base_dir: str | None = None):
        from nixlite.syntax import parse

        return self.eval_expr(parse(text, file, base_dir or os.getcwd()))

    def resolve_import_path(self, path: str) -> str:
        if self.io.file_type(path) == "symlink":
            path = self.io.resolve_symlinks(path)
        if self.io.is_dir(path):
            path = canon_path(path + "/default.nix")
        return path

    def eval_file(self, path: str):
        """``import path``: evaluate a file once per state (cached by resolved path)."""
        path = self.resolve_import_path(path)
        cached = self.import_cache.get(path)
        if cached is not None:
            return cached.force() if type(cached) is Thunk else cached
        t = Thunk(self._load_file, path)
        self.import_cache[path] = t
        return t.force()

    def _load_file(self, path: str):
        # Files go through the on-disk parse cache (keyed by content): importing a
        # large file again, in this process or a later one, does not parse it again.
        from nixlite.resolve import parse_cached

        data = self.io.read_file(path)
        text = data.decode("utf-8", errors="surrogateescape")
        expr = parse_cached(text, path, os.path.dirname(path))
        return self.compiler.compile(expr)(None)

    def scoped_import(self, scope: Attrs, path: str):
        """``scopedImport scope path``: the file sees ``scope``'s names as variables."""
        from nixlite.resolve import resolve
        from nixlite.syntax import ast as A
        from nixlite.syntax import parse

        path = self.resolve_import_path(path)
        text = self.io.read_file(path).decode("utf-8", errors="surrogateescape")
        expr = parse(text, path, os.path.dirname(path))
        # A function of the scope's names, applied to the scope: lexical bindings that
        # shadow the globals, which is what Nix's scopedImport environment is.
        names = sorted(scope)
        wrapper = A.Lambda(expr.src, expr.off, None,
                           [A.Formal(expr.src, expr.off, n, None) for n in names], True, expr)
        fn = self.compiler.compile(resolve(wrapper))(None)
        return fn.fn(scope)

    # ------------------------------------------------------------ search path

    def find_file(self, search_path: list[tuple[str, str]], name: str) -> str:
        """``<name>``: the first search-path entry containing it."""
        for prefix, base in search_path:
            if prefix:
                if name == prefix:
                    rest = ""
                elif name.startswith(prefix + "/"):
                    rest = name[len(prefix):]
                else:
                    continue
            else:
                rest = "/" + name
            candidate = canon_path(os.path.abspath(base) + rest) if rest else canon_path(os.path.abspath(base))
            if self.io.path_exists(candidate):
                return candidate
        bundled = bundled_nixpkgs(search_path, name)
        if bundled is not None and self.io.path_exists(bundled):
            return bundled
        raise EvalError(
            f"file '{name}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
        )


# ---- nixlite's own package set behind <nixpkgs> ------------------------------------

BUNDLED_NIXPKGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pkgs")


def bundled_nixpkgs(search_path: list[tuple[str, str]], name: str) -> str | None:
    """``<nixpkgs>``/``<nixpkgs/…>`` in nixlite's package set (``nixlite/pkgs``) when no
    search-path entry is for ``nixpkgs``; ``-I nixpkgs=DIR`` always wins."""
    if name != "nixpkgs" and not name.startswith("nixpkgs/"):
        return None
    if any(prefix == "nixpkgs" for prefix, _ in search_path):
        return None
    return canon_path(BUNDLED_NIXPKGS + name[len("nixpkgs"):])


def _constant(pair):
    spec, state = pair
    return spec.fn(state) if spec.wants_state else spec.fn()


def _unsupported(name: str):
    def fn(*args):
        raise EvalError(f"builtins.{name} is not supported yet")

    return fn

