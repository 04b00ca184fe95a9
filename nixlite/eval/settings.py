"""Nix's evaluation settings (``--option NAME VALUE`` and the flags named after them),
and the file-system guard that ``restrict-eval`` and ``pure-eval`` put around an
evaluation's I/O.

Values are parsed as Nix parses them: Booleans are ``true``/``yes``/``1`` or
``false``/``no``/``0``, integers are plain digits, lints are ``ignore``/``warn``/``fatal``.
A bad value or an unknown name is a warning, as ``nix-instantiate --option`` makes it.
"""

from __future__ import annotations

import os

from nixlite.eval.io import EvalIO
from nixlite.eval.values import EvalError

DEFAULT_MAX_CALL_DEPTH = 10000
LINT_LEVELS = ("ignore", "warn", "fatal")

# Features today's Nix knows; naming another is a warning.
EXPERIMENTAL_FEATURES = frozenset((
    "auto-allocate-uids", "ca-derivations", "cgroups", "configurable-impure-env",
    "daemon-trust-override", "dynamic-derivations", "fetch-closure", "fetch-tree", "flakes",
    "git-hashing", "impure-derivations", "local-overlay-store", "mounted-ssh-store",
    "nix-command", "no-url-literals", "parse-toml-timestamps", "pipe-operators",
    "read-only-local-store", "recursive-nix", "verified-fetches",
))

# Builtins today's Nix defines only when an experimental feature is enabled.
FEATURE_GATED_BUILTINS = {"parseFlakeRef": "flakes", "flakeRefToString": "flakes"}


class EvalSettings:
    """The settings nixlite's evaluation honours (names as in ``nix.conf``).

    (A plain class, not a dataclass: every evaluation imports this module, and
    ``dataclasses`` costs milliseconds of start-up.)"""

    def __init__(self, *, pure_eval: bool = False, restrict_eval: bool = False,
                 show_trace: bool = False, abort_on_warn: bool = False,
                 allow_import_from_derivation: bool = True,
                 max_call_depth: int = DEFAULT_MAX_CALL_DEPTH,
                 lint_short_path_literals: str = "ignore",
                 lint_absolute_path_literals: str = "ignore",
                 lint_url_literals: str = "ignore",
                 experimental_features: set[str] | None = None) -> None:
        self.pure_eval = pure_eval
        self.restrict_eval = restrict_eval
        self.show_trace = show_trace
        self.abort_on_warn = abort_on_warn
        self.allow_import_from_derivation = allow_import_from_derivation
        self.max_call_depth = max_call_depth
        self.lint_short_path_literals = lint_short_path_literals
        self.lint_absolute_path_literals = lint_absolute_path_literals
        self.lint_url_literals = lint_url_literals
        self.experimental_features = set() if experimental_features is None else experimental_features

    def set(self, name: str, value: str) -> str | None:
        """Apply ``--option name value``; returns a warning to print, if any."""
        extra = name.startswith("extra-")
        base = name[len("extra-"):] if extra else name
        if base == "experimental-features":
            features = value.split()
            if not extra:
                self.experimental_features.clear()
            self.experimental_features.update(features)
            unknown = [f for f in features if f not in EXPERIMENTAL_FEATURES]
            return f"unknown experimental feature '{unknown[0]}'" if unknown else None
        attr = base.replace("-", "_")
        if extra or attr == "experimental_features" or attr not in _KINDS:
            return f"unknown setting '{name}'"
        try:
            setattr(self, attr, _KINDS[attr](name, value))
        except ValueError as exc:
            return f"error: {exc}"  # Nix prints it as a warning and goes on
        return None


def _boolean(name: str, value: str) -> bool:
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise ValueError(f"Boolean setting '{name}' has invalid value '{value}'")


def _unsigned(name: str, value: str) -> int:
    if value.isascii() and value.isdigit() and len(value) <= 10:
        return int(value)
    raise ValueError(f"setting '{name}' has invalid value '{value}'")


def _lint(name: str, value: str) -> str:
    if value in LINT_LEVELS:
        return value
    raise ValueError(f"setting '{name}' has invalid value '{value}'; expected one of: "
                     + ", ".join(LINT_LEVELS))


_KINDS = {
    "pure_eval": _boolean, "restrict_eval": _boolean, "show_trace": _boolean,
    "abort_on_warn": _boolean, "allow_import_from_derivation": _boolean,
    "max_call_depth": _unsigned, "lint_short_path_literals": _lint,
    "lint_absolute_path_literals": _lint, "lint_url_literals": _lint,
}


# Where ``<nix/…>`` lands when no search-path entry provides it: Nix's built-in
# corepkgs, which ``import`` reads from nixlite's own copies.
COREPKGS_PREFIX = "/__corepkgs__/"


class SearchPathMiss(EvalError):
    """``<name>`` not found: Nix throws it, so ``tryEval`` catches it (but, unlike a
    ``throw``, it is reported at the ``<name>``)."""


class RestrictedPathError(EvalError):
    """A path outside what ``restrict-eval``/``pure-eval`` allow (``pathExists`` says false)."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class RestrictedIO(EvalIO):
    """Another ``EvalIO`` that only reaches files under the allowed roots, as Nix's
    ``checkSourcePath``: the path must be under a root as written, and again once its
    symlinks are resolved.  (Nix allows single store paths as they are made or listed
    in the search path; nixlite allows the store as a whole, minus its listing.)"""

    def __init__(self, inner: EvalIO, roots: list[str], store_dir: str, mode: str) -> None:
        self.inner = inner
        self.roots = [os.path.normpath(r) for r in roots]
        self.store_dir = store_dir
        self.mode = mode  # "in restricted mode" / "in pure eval mode (use '--impure' to override)"

    def _allowed(self, path: str) -> bool:
        return any(_inside(path, r) for r in self.roots) or path.startswith(self.store_dir + "/")

    def check(self, path: str) -> None:
        if not self._allowed(path):
            raise RestrictedPathError(f"access to absolute path '{path}' is forbidden {self.mode}")
        real = path if path.startswith(self.store_dir + "/") else os.path.realpath(path)
        if not self._allowed(real):
            raise RestrictedPathError(f"access to canonical path '{real}' is forbidden {self.mode}")

    def read_file(self, path: str) -> bytes:
        self.check(path)
        return self.inner.read_file(path)

    def read_dir(self, path: str) -> dict[str, str]:
        self.check(path)
        return self.inner.read_dir(path)

    def file_type(self, path: str) -> str:
        self.check(path)
        return self.inner.file_type(path)

    def path_exists(self, path: str) -> bool:
        self.check(path)
        return self.inner.path_exists(path)

    def is_dir(self, path: str) -> bool:
        self.check(path)
        return self.inner.is_dir(path)

    def resolve_symlinks(self, path: str) -> str:
        self.check(path)
        return self.inner.resolve_symlinks(path)

    def copy_path_to_store(self, path: str, name: str | None = None) -> str:
        self.check(path)
        return self.inner.copy_path_to_store(path, name)

    def add_to_store(self, path: str, name: str, recursive: bool = True, path_filter=None) -> str:
        self.check(path)
        return self.inner.add_to_store(path, name, recursive, path_filter)

    def fetch(self, kind: str, **params):
        return self.inner.fetch(kind, **params)

    def cwd(self) -> str:
        return self.inner.cwd()

    def parse(self, text: str, path: str):
        return self.inner.parse(text, path)

    def close(self) -> None:
        self.inner.close()

    @property
    def store(self):
        return self.inner.store
