"""What evaluation asks of the store, behind ``state.io.store``.

``StoreBackend`` translates between the logical store directory (what Nix
expressions see, ``/nix/store``) and the local store's physical location,
keeps the per-evaluation caches Nix keeps (sources already copied, parsed
derivations and their modulo hashes) and offers exactly the operations the
store builtins need.  Errors are ``StoreError``/``NixliteError``; the
builtins turn them into evaluation errors.
"""

from __future__ import annotations


from nixlite.store.derivation import Derivation, DrvHasher
from nixlite.store.hashes import Hash
from nixlite.store.local import LocalStore, PathInfo
from nixlite.store.nar import PathFilter
from nixlite.store.paths import BadStorePath, to_store_path


class StoreBackend:
    __slots__ = ("local", "store_dir", "_sources", "hasher", "_drvs")

    def __init__(self, local: LocalStore) -> None:
        self.local = local
        # an evaluation may write thousands of .drv files: register them by group commit
        self.local.defer_registration()
        self.store_dir = self.local.store_dir
        self._sources: dict[tuple, tuple[str, Hash]] = {}
        self._drvs: dict[str, Derivation] = {}
        self.hasher = DrvHasher(self.read_derivation)

    # ------------------------------------------------------------- locations

    def in_store(self, path: str) -> bool:
        return path.startswith(self.store_dir + "/")

    def real_path(self, path: str) -> str:
        """Where to read a logical path: inside the store, its physical location.

        Never the real ``/nix/store`` of an installed Nix, even when it has the
        path: evaluation sees nixlite's store only, so results do not depend on
        what another tool happened to put there.
        """
        if path.startswith(self.store_dir + "/"):
            return self.local.physical(path)
        return path

    def _logical_filter(self, path_filter: PathFilter | None, real_root: str, logical_root: str):
        if path_filter is None or real_root == logical_root:
            return path_filter
        n = len(real_root)
        return lambda p, kind: path_filter(logical_root + p[n:], kind)

    # ----------------------------------------------------------------- adding

    def add_path(self, path: str, name: str, recursive: bool = True,
                 path_filter: PathFilter | None = None, keep_refs: bool = False) -> tuple[str, Hash]:
        """Copy ``path`` (logical; may be inside the store) into the store.

        ``keep_refs``: when ``path`` lies in a valid store path, the copy keeps
        that path's references (``builtins.path`` in Nix 2.8 read-write mode).
        """
        key = (path, name, recursive) if path_filter is None else None
        if key is not None:
            hit = self._sources.get(key)
            if hit is not None:
                return hit
        refs: set[str] = set()
        real = path
        if self.in_store(path):
            try:
                sp = to_store_path(path, self.store_dir)
            except BadStorePath:
                sp = None
            if sp is not None and self.local.is_valid(sp):
                if keep_refs and recursive:
                    refs = self.local.references(sp)
                real = self.local.physical(path)
        result = self.local.add_path(real, name, recursive,
                                     self._logical_filter(path_filter, real, path), refs)
        if key is not None:
            self._sources[key] = result
        return result

    def add_text(self, name: str, contents: bytes, refs=()) -> str:
        return self.local.add_text(name, contents, refs)

    def write_derivation(self, drv: Derivation) -> str:
        path = self.local.add_derivation(drv)
        self._drvs[path] = drv
        return path

    def add_prepared(self, temp_tree: str, path: str, refs=(), ca: str | None = None) -> str:
        return self.local.add_prepared(temp_tree, path, refs, ca)

    def make_temp_dir(self) -> str:
        return self.local.make_temp_dir()

    # ---------------------------------------------------------------- queries

    def is_valid(self, path: str) -> bool:
        return self.local.is_valid(path)

    def path_info(self, path: str) -> PathInfo | None:
        return self.local.query_path_info(path)

    def closure(self, paths) -> set[str]:
        return self.local.closure(paths)

    def read_derivation(self, drv_path: str) -> Derivation:
        drv = self._drvs.get(drv_path)
        if drv is None:
            drv = self.local.read_derivation(drv_path)
            self._drvs[drv_path] = drv
        return drv
