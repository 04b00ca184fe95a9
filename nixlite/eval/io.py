"""The evaluator's only door to the file system and the store.

Evaluation reads and parses files, lists directories, resolves relative
search-path entries and adds paths to the store exclusively through an
``EvalIO`` object (``state.io``), so tests and read-only or in-memory modes can
swap it.  ``LocalIO`` is the default: it reads the local file system, keeps
parsed files in the on-disk parse cache and hands store work to the
``nixlite.store`` store it was given (or the default one, opened on first use).
``MemoryIO`` serves a dict of files and touches no disk.
"""

from __future__ import annotations

import os
import stat

from nixlite.errors import NixliteError
from nixlite.eval.values import EvalError, as_eval_error, canon_path


class NotSupportedYet(EvalError):
    """A feature that needs a stage not built yet (store, fetchers)."""


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


class EvalIO:
    """Interface; every path argument is absolute and canonical."""

    def read_file(self, path: str) -> bytes:
        raise NotImplementedError

    def read_dir(self, path: str) -> dict[str, str]:
        """name → ``regular`` | ``directory`` | ``symlink`` | ``unknown``."""
        raise NotImplementedError

    def file_type(self, path: str) -> str:
        """``regular``, ``directory``, ``symlink`` or ``unknown`` (not following a final symlink)."""
        raise NotImplementedError

    def path_exists(self, path: str) -> bool:
        raise NotImplementedError

    def is_dir(self, path: str) -> bool:
        raise NotImplementedError

    def resolve_symlinks(self, path: str) -> str:
        raise NotImplementedError

    def cwd(self) -> str:
        """The directory relative search-path entries and ``-E`` text are taken from."""
        raise NotImplementedError

    def parse(self, text: str, path: str):
        """The resolved syntax tree of ``text``, read from the file ``path``."""
        from nixlite.resolve import resolve
        from nixlite.syntax import parse

        return resolve(parse(text, path, os.path.dirname(path)))

    def copy_path_to_store(self, path: str, name: str | None = None) -> str:
        """Add a file-system path to the store (as ``"${./p}"`` does); return its store path."""
        raise NotImplementedError

    def add_to_store(self, path: str, name: str, recursive: bool = True, path_filter=None) -> str:
        """``builtins.path``/``filterSource``: add ``path`` under ``name``, keeping only what
        ``path_filter(path, kind)`` accepts (a path inside a valid store path keeps its
        references); return the store path."""
        return self.store.add_path(path, name, recursive, path_filter, keep_refs=True)[0]

    def fetch(self, kind: str, **params):
        raise NotSupportedYet(f"fetching ({kind}) is not supported yet")

    # Import from derivation: builds outputs during evaluation.  A callable taking
    # ``[(drv path, output name), …]``, set by the command that evaluates (nixlite.build
    # is a later stage); without one, reading an unbuilt output is an error.
    realiser = None

    def realise(self, ctx) -> None:
        """Make valid every store path a string context names (``import``, ``readFile``…
        of a derivation output build it first, as Nix does)."""
        store = self.store
        wanted = []
        for elem in ctx:
            if elem[0] == "!":
                output, _, drv_path = elem[1:].partition("!")
                out = store.read_derivation(drv_path).outputs.get(output)
                if out is None or not store.is_valid(out.path):
                    wanted.append((drv_path, output, out.path if out else drv_path))
            else:
                p = elem[1:] if elem[0] == "=" else elem
                if not store.is_valid(p):
                    raise EvalError(f"path '{p}' is not valid")
        if not wanted:
            return
        if self.realiser is None:
            _, _, path = wanted[0]
            raise EvalError(f"cannot read '{path}': it is an output of '{wanted[0][0]}', which is "
                            "not built (to build it while evaluating, use --read-write-mode)")
        self.realiser([(drv_path, output) for drv_path, output, _ in wanted])

    @property
    def store(self):
        """The store operations (``nixlite.store.backend.StoreBackend`` interface)."""
        raise NotSupportedYet("this evaluation has no store")


class LocalIO(EvalIO):
    """The local file system and a nixlite store (``--store DIR``; by default the
    one ``$NIXLITE_STORE`` names), opened the first time evaluation needs it."""

    def __init__(self, store_root: str | None = None) -> None:
        self._store_root = store_root
        self._store_paths: dict[str, str] = {}
        self._store = None
        from nixlite.store.paths import store_dir

        self._store_prefix = store_dir() + "/"

    @property
    def store(self):
        if self._store is None:
            from nixlite.store.backend import StoreBackend
            from nixlite.store.local import LocalStore

            self._store = StoreBackend(LocalStore(self._store_root))
        return self._store

    def close(self) -> None:
        """Register what the store has pending (one group commit) and close it."""
        if self._store is not None:
            self._store.local.close()
            self._store = None

    def cwd(self) -> str:
        return os.getcwd()

    def parse(self, text: str, path: str):
        # through the on-disk parse cache (keyed by content): importing a large
        # file again, in this process or a later one, does not parse it again
        from nixlite.resolve import parse_cached

        return parse_cached(text, path, os.path.dirname(path))

    def _real(self, path: str) -> str:
        """Logical store paths live physically in nixlite's store."""
        if path.startswith(self._store_prefix):
            return self.store.real_path(path)
        return path

    def fetch(self, kind: str, **params):
        from nixlite.store.fetch import fetch

        return fetch(self.store, kind, **params)

    def read_file(self, path: str) -> bytes:
        try:
            with open(self._real(path), "rb") as f:
                return f.read()
        except IsADirectoryError:
            raise EvalError(f"reading from file '{path}': Is a directory") from None
        except OSError as exc:
            raise EvalError(f"opening file '{path}': {_describe(exc)}") from None

    def read_dir(self, path: str) -> dict[str, str]:
        try:
            out = {}
            with os.scandir(self._real(path)) as it:
                for entry in it:
                    if entry.is_symlink():
                        kind = "symlink"
                    elif entry.is_dir(follow_symlinks=False):
                        kind = "directory"
                    elif entry.is_file(follow_symlinks=False):
                        kind = "regular"
                    else:
                        kind = "unknown"
                    out[entry.name] = kind
            return out
        except OSError as exc:
            raise EvalError(f"opening directory '{path}': {_describe(exc)}") from None

    def file_type(self, path: str) -> str:
        try:
            mode = os.lstat(self._real(path)).st_mode
        except OSError as exc:
            raise EvalError(f"getting status of '{path}': {_describe(exc)}") from None
        if stat.S_ISREG(mode):
            return "regular"
        if stat.S_ISDIR(mode):
            return "directory"
        if stat.S_ISLNK(mode):
            return "symlink"
        return "unknown"

    def path_exists(self, path: str) -> bool:
        real = self._real(path)
        return os.path.lexists(real) if not path.endswith("/") else os.path.isdir(real)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(self._real(path))

    def resolve_symlinks(self, path: str) -> str:
        real = os.path.realpath(self._real(path))
        return self.store.local.logical(real) if path.startswith(self._store_prefix) else real

    def copy_path_to_store(self, path: str, name: str | None = None) -> str:
        key = path if name is None else f"{path}\0{name}"
        cached = self._store_paths.get(key)
        if cached is not None:
            return cached
        base = name if name is not None else path.rstrip("/").rsplit("/", 1)[-1]
        if base.endswith(".drv"):
            raise EvalError("file names are not allowed to end in '.drv'")
        try:
            store_path = self._copy_to_store(path, base)
        except NixliteError as exc:
            raise as_eval_error(exc) from None
        except FileNotFoundError:
            raise EvalError(f"getting status of '{path}': No such file or directory") from None
        except OSError as exc:
            raise EvalError(f"copying '{path}' to the store: {_describe(exc)}") from None
        self._store_paths[key] = store_path
        return store_path

    def _copy_to_store(self, path: str, name: str) -> str:
        return self.store.add_path(path, name)[0]


class MemoryIO(EvalIO):
    """Files held in memory (absolute path → bytes or text), for pure evaluation
    that must not touch the disk; directories are implied by the paths.  It has
    no store: copying a path to the store is an error."""

    def __init__(self, files: dict[str, bytes | str], cwd: str = "/") -> None:
        self.files = {canon_path(p): d.encode() if isinstance(d, str) else d for p, d in files.items()}
        self.dirs = {"/"}
        for p in self.files:
            while p != "/":
                p = p.rsplit("/", 1)[0] or "/"
                self.dirs.add(p)
        self._cwd = canon_path(cwd)

    def read_file(self, path: str) -> bytes:
        data = self.files.get(path)
        if data is not None:
            return data
        if path in self.dirs:
            raise EvalError(f"reading from file '{path}': Is a directory")
        raise EvalError(f"opening file '{path}': No such file or directory")

    def read_dir(self, path: str) -> dict[str, str]:
        if path not in self.dirs:
            raise EvalError(f"opening directory '{path}': No such file or directory")
        prefix = path.rstrip("/") + "/"
        out = {}
        for p in (*self.files, *self.dirs):
            if p.startswith(prefix) and "/" not in p[len(prefix):] and p != prefix:
                out[p[len(prefix):]] = "directory" if p in self.dirs else "regular"
        return out

    def file_type(self, path: str) -> str:
        if path in self.files:
            return "regular"
        if path in self.dirs:
            return "directory"
        raise EvalError(f"getting status of '{path}': No such file or directory")

    def path_exists(self, path: str) -> bool:
        if path.endswith("/"):
            return canon_path(path) in self.dirs
        return path in self.files or path in self.dirs

    def is_dir(self, path: str) -> bool:
        return path in self.dirs

    def resolve_symlinks(self, path: str) -> str:
        return path

    def cwd(self) -> str:
        return self._cwd

    def copy_path_to_store(self, path: str, name: str | None = None) -> str:
        raise NotSupportedYet(f"cannot copy '{path}' to the store: this evaluation has no store")
