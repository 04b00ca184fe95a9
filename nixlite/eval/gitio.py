"""Recipes read from a git revision (``--rev REV``) instead of the working tree.

``GitRevisionIO`` is a ``LocalIO`` whose view of one repository's work tree is the
tree of a commit, read with pygit2: no checkout, and neither the working tree nor the
index is touched or consulted, so uncommitted changes are invisible.  Paths keep their
working-tree spelling (as if the revision were checked out in place), so error
positions and ``toString ./.`` read as they would on a checkout; paths outside the work
tree (``<nixpkgs>``, ``-I`` entries, the store) are the local file system's as usual.

What a checkout of the revision would hold is what evaluation sees: git modes 100644
and 100755 are regular files (the latter executable), 120000 symlinks (followed inside
the tree like the kernel follows them, and out of it onto the local file system),
submodules empty directories (as in a clone without ``--recurse-submodules``, and as
Nix's own git source accessor has them); the repository's ``.git`` is not part of any
revision.  Blob bytes are served as stored (no ``.gitattributes`` filters or line-ending
conversion).  Paths copied to the store get the NAR of that view, hence the store
paths Nix gives the same files checked out.
"""

from __future__ import annotations

import hashlib
import io
import os

from nixlite.errors import NixliteError
from nixlite.eval.io import LocalIO
from nixlite.eval.values import EvalError

_TREE = 0o040000
_REGULAR = 0o100644
_EXECUTABLE = 0o100755
_SYMLINK = 0o120000
_SUBMODULE = 0o160000
_KINDS = {_TREE: "directory", _SUBMODULE: "directory", _REGULAR: "regular",
          _EXECUTABLE: "regular", _SYMLINK: "symlink"}
_MAX_SYMLINKS = 40  # Linux's MAXSYMLINKS, after which the kernel gives ELOOP

_NO_ENTRY = "No such file or directory"
_NOT_DIR = "Not a directory"
_LOOP = "Too many levels of symbolic links"


class GitRevisionError(NixliteError):
    """``--rev`` cannot be served: no repository, or no such revision in it."""


class _Found:
    """Where a path leads: a git entry (``mode``, ``oid``), a path of the local file
    system beyond the work tree (``local``), or nothing (``error``, as strerror says it)."""

    __slots__ = ("path", "mode", "oid", "local", "error")

    def __init__(self, path: str, mode: int = 0, oid=None, local: bool = False,
                 error: str | None = None) -> None:
        self.path = path
        self.mode = mode
        self.oid = oid
        self.local = local
        self.error = error

    @property
    def is_dir(self) -> bool:
        return self.mode == _TREE or self.mode == _SUBMODULE


class GitRevisionIO(LocalIO):
    """The tree of revision ``rev`` of ``repo`` in place of its work tree at ``root``
    (the work tree's path as the recipe names it)."""

    def __init__(self, repo, tree, root: str, rev: str, store_root: str | None = None) -> None:
        super().__init__(store_root)
        self.repo = repo
        self.rev = rev
        self._root = root.rstrip("/") or "/"
        self._prefix = self._root if self._root == "/" else self._root + "/"
        self._root_entry = _Found(self._root, _TREE, tree.id)
        self._entries: dict = {}  # tree oid → {name: (mode, oid)}
        self._walks: dict[tuple[str, bool], _Found] = {}
        self._added: dict[tuple[str, str, bool], str] = {}

    @classmethod
    def open(cls, rev: str, start: str, store_root: str | None = None) -> GitRevisionIO:
        """The revision ``rev`` of the repository that holds ``start`` (a file or directory,
        which need not exist in the working tree)."""
        import pygit2

        start = os.path.abspath(start)
        probe = start
        while not os.path.isdir(probe):
            probe = os.path.dirname(probe)
        found = pygit2.discover_repository(probe)
        if found is None:
            raise GitRevisionError(f"cannot read revision '{rev}': '{start}' is not inside a git repository")
        repo = pygit2.Repository(found)
        if repo.workdir is None:
            raise GitRevisionError(f"cannot read revision '{rev}': the git repository '{found.rstrip('/')}' "
                                   "is bare (it has no work tree for recipe paths to name)")
        workdir = repo.workdir.rstrip("/")
        try:
            obj = repo.revparse_single(rev)
        except (KeyError, ValueError, pygit2.GitError):
            raise GitRevisionError(f"unknown revision '{rev}' in the git repository '{workdir}'") from None
        try:
            tree = obj.peel(pygit2.Tree)
        except (ValueError, pygit2.GitError):
            raise GitRevisionError(f"revision '{rev}' in the git repository '{workdir}' is a "
                                   f"{obj.type_str}, not a commit or a tree") from None
        commit, _, inside = rev.partition(":")
        if isinstance(obj, pygit2.Tree) and inside.strip("/"):
            # refs cannot hold ':', so REV:PATH names a directory of a commit, not its root
            raise GitRevisionError(f"revision '{rev}' names the directory '{inside.strip('/')}' of "
                                   f"'{commit}', not a whole revision: give '{commit}' and the "
                                   "recipe's path in the work tree")
        return cls(repo, tree, _spelled_root(start, workdir), rev, store_root)

    # ------------------------------------------------------------ the tree

    def _inside(self, path: str) -> bool:
        return path == self._root or path.startswith(self._prefix)

    def _children(self, entry: _Found) -> dict:
        """The entries of a directory: name → (mode, oid); a submodule has none."""
        if entry.mode == _SUBMODULE:
            return {}
        children = self._entries.get(entry.oid)
        if children is None:
            children = {os.fsdecode(e.raw_name): (e.filemode, e.id) for e in self.repo[entry.oid]}
            self._entries[entry.oid] = children
        return children

    def _walk(self, path: str, follow: bool) -> _Found:
        """Where ``path`` (inside the work tree, canonical) leads at the revision, its
        symlinks resolved as the kernel resolves them (the last one only if ``follow``)."""
        key = (path, follow)
        found = self._walks.get(key)
        if found is None:
            found = self._walks[key] = self._resolve(path, follow)
        return found

    def _resolve(self, path: str, follow: bool) -> _Found:
        pending = path[len(self._root):].split("/")[::-1]
        dirs = [self._root_entry]  # the directories walked through, innermost last
        here = self._root  # where the walk is, also above the root on its way back in
        links = 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if len(dirs) > 1:
                    dirs.pop()
                else:
                    dirs = []
                here = os.path.dirname(here)
                continue
            step = here.rstrip("/") + "/" + name
            if not dirs:  # above the root: only the way back to it stays in the tree
                if step == self._root:
                    dirs = [self._root_entry]
                elif not self._root.startswith(step + "/"):
                    return _Found("/".join([step, *pending[::-1]]), local=True)
                here = step
                continue
            parent = dirs[-1]
            if not parent.is_dir:
                return _Found(path, error=_NOT_DIR)
            child = self._children(parent).get(name)
            if child is None:
                return _Found(path, error=_NO_ENTRY)
            mode, oid = child
            if mode == _SYMLINK and (pending or follow):
                links += 1
                if links > _MAX_SYMLINKS:
                    return _Found(path, error=_LOOP)
                target = os.fsdecode(self.repo[oid].data)
                pending.extend(target.split("/")[::-1])
                if target.startswith("/"):
                    dirs, here = [], "/"
                continue
            dirs.append(_Found(step, mode, oid))
            here = step
        if not dirs:
            return _Found(here, local=True)
        return dirs[-1]

    def _missing(self, what: str, path: str, reason: str) -> EvalError:
        return EvalError(f"{what} '{path}': {reason} (at git revision '{self.rev}')")

    # ------------------------------------------------------------ EvalIO

    def read_file(self, path: str) -> bytes:
        if not self._inside(path):
            return super().read_file(path)
        found = self._walk(path, True)
        if found.local:
            return super().read_file(found.path)
        if found.error:
            raise self._missing("opening file", path, found.error)
        if found.is_dir:
            raise EvalError(f"reading from file '{path}': Is a directory")
        return self.repo[found.oid].data

    def read_dir(self, path: str) -> dict[str, str]:
        if not self._inside(path):
            return super().read_dir(path)
        found = self._walk(path, True)
        if found.local:
            return super().read_dir(found.path)
        if found.error or not found.is_dir:
            raise self._missing("opening directory", path, found.error or _NOT_DIR)
        return {name: _KINDS.get(mode, "unknown") for name, (mode, _) in self._children(found).items()}

    def file_type(self, path: str) -> str:
        if not self._inside(path):
            return super().file_type(path)
        found = self._walk(path, False)
        if found.local:
            return super().file_type(found.path)
        if found.error:
            raise self._missing("getting status of", path, found.error)
        return _KINDS.get(found.mode, "unknown")

    def path_exists(self, path: str) -> bool:
        if not self._inside(path):
            return super().path_exists(path)
        if path.endswith("/"):
            return self.is_dir(path.rstrip("/") or "/")
        found = self._walk(path, False)
        return super().path_exists(found.path) if found.local else found.error is None

    def is_dir(self, path: str) -> bool:
        if not self._inside(path):
            return super().is_dir(path)
        found = self._walk(path, True)
        return super().is_dir(found.path) if found.local else found.is_dir

    def resolve_symlinks(self, path: str) -> str:
        if not self._inside(path):
            return super().resolve_symlinks(path)
        found = self._walk(path, True)
        return super().resolve_symlinks(found.path) if found.local else found.path

    # ------------------------------------------------------------ the store

    def _copy_to_store(self, path: str, name: str) -> str:
        found = self._walk(path, False) if self._inside(path) else None
        if found is None or found.local:
            return super()._copy_to_store(found.path if found else path, name)
        return self._add(found, path, name, True, None)

    def add_to_store(self, path: str, name: str, recursive: bool = True, path_filter=None) -> str:
        found = self._walk(path, False) if self._inside(path) else None
        if found is None or found.local:
            return super().add_to_store(found.path if found else path, name, recursive, path_filter)
        key = (path, name, recursive)
        if path_filter is None and key in self._added:
            return self._added[key]
        store_path = self._add(found, path, name, recursive, path_filter)
        if path_filter is None:
            self._added[key] = store_path
        return store_path

    def _add(self, found: _Found, path: str, name: str, recursive: bool, path_filter) -> str:
        """Add what ``path`` is at the revision (``found``: its last symlink not followed,
        as in the NAR of a checkout), exactly as ``LocalStore.add_path`` adds a checkout."""
        from nixlite.store import nar
        from nixlite.store.hashes import Hash
        from nixlite.store.local import PathInfo
        from nixlite.store.paths import make_fixed_output_path

        if found.error:
            raise self._missing("getting status of", path, found.error)
        store = self.store
        if recursive:
            chunks = [nar.MAGIC]
            self._dump(found, path, chunks.append, path_filter)
            h = Hash("sha256", _sha256(chunks))
            ca = f"fixed:r:sha256:{h.base32()}"
        else:
            if found.mode not in (_REGULAR, _EXECUTABLE):
                raise EvalError(f"file '{path}' is not a regular file; it cannot be added with recursive = false")
            data = self.repo[found.oid].data
            h = Hash("sha256", hashlib.sha256(data).digest())
            # the bytes make the path; the executable bit is kept, as LocalStore keeps it
            chunks = [nar.dump_bytes(data, found.mode == _EXECUTABLE)]
            ca = f"fixed:sha256:{h.base32()}"
        store_path = make_fixed_output_path(recursive, h, name, sdir=store.store_dir)
        if not store.is_valid(store_path):
            archive = b"".join(chunks)
            nar_hash = h if recursive else Hash("sha256", hashlib.sha256(archive).digest())
            temp, got_hash, got_size = store.local.restore_nar(io.BytesIO(archive))
            store.local.add_restored(temp, (got_hash, got_size),
                                     PathInfo(store_path, nar_hash, len(archive), ca=ca))
        return store_path

    def _dump(self, entry: _Found, path: str, sink, path_filter) -> None:
        """The NAR of ``entry`` (at ``path``, which the filter is shown) into ``sink``."""
        from nixlite.store import nar

        mode = entry.mode
        if mode == _SYMLINK:
            sink(nar.symlink_node(self.repo[entry.oid].data))
        elif mode in (_REGULAR, _EXECUTABLE):
            sink(nar.regular_node(self.repo[entry.oid].data, mode == _EXECUTABLE))
        elif entry.is_dir:
            sink(nar.DIRECTORY_OPEN)
            children = self._children(entry)
            for raw, name in sorted((os.fsencode(n), n) for n in children):
                child_mode, oid = children[name]
                child_path = path + "/" + name
                if path_filter is not None and not path_filter(child_path, _KINDS.get(child_mode, "unknown")):
                    continue
                sink(nar.entry_open(raw))
                self._dump(_Found(child_path, child_mode, oid), child_path, sink, path_filter)
                sink(nar.CLOSE)
            sink(nar.CLOSE)
        else:
            raise EvalError(f"file '{path}' has an unsupported type (git mode {mode:o})")


def _sha256(chunks) -> bytes:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.digest()


def _spelled_root(start: str, workdir: str) -> str:
    """The work tree as ``start`` spells it: its ancestor that is the work tree (through
    symlinks such as a symlinked home), so recipe paths fall inside it as written."""
    real = os.path.realpath(workdir)
    probe = start
    while True:
        if os.path.exists(probe) and os.path.realpath(probe) == real:
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return workdir
        probe = parent
