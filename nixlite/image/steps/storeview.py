"""Store paths under their logical names, read from where nixlite's store really keeps them.

Native steps run in the realiser's process, outside any namespace, so ``/nix/store/…`` (the
names that go into layers, configs and history comments) is not where the files are:
``store.physical`` maps one to the other.  This module is the adapter the image library
needs for that: symlink resolution that maps absolute store targets, and ``find`` pairs.

``StoreView`` is also the ``view`` through which ``tarwriter.store_layer_chunks`` reads
the stream script's store layers.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterator

from nixlite.errors import NixliteError
from nixlite.image.tarwriter import HostStoreView

MAX_LINKS = 40

Physical = Callable[[str], str]


class StoreView(HostStoreView):
    """Logical ↔ physical paths of one store (``physical`` maps a logical store path)."""

    def __init__(self, store_dir: str, physical: Physical) -> None:
        super().__init__(store_dir)
        self._physical = physical

    @classmethod
    def of(cls, store) -> StoreView:
        return cls(store.store_dir, store.physical)

    def physical(self, path: str) -> str:
        """Where ``path`` is read: store paths mapped, anything else as it is on the host."""
        return self._physical(path) if self.in_store(path) else path

    def resolve(self, path: str) -> str:
        """The logical path with every symlink resolved (targets in the store mapped)."""
        parts = [p for p in path.split("/") if p]
        done = "/"
        links = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                done = posixpath.dirname(done)
                continue
            candidate = posixpath.join(done, part)
            try:
                st = os.lstat(self.physical(candidate))
            except OSError:
                return posixpath.join(candidate, *parts)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise NixliteError(f"too many levels of symbolic links resolving '{path}'")
                target = os.readlink(self.physical(candidate))
                parts = [p for p in target.split("/") if p] + parts
                if target.startswith("/"):
                    done = "/"
                continue
            done = candidate
        return done

    def is_dir(self, path: str) -> bool:
        """``os.path.isdir`` of a logical path (following symlinks through the store)."""
        return os.path.isdir(self.physical(self.resolve(path)))

    def resolved_dir(self, path: str) -> str | None:
        """The physical directory a symlink ``path`` leads to (None if it leads to none)."""
        real = self.physical(self.resolve(path))
        return real if os.path.isdir(real) else None

    def find(self, path: str) -> Iterator[tuple[str, str]]:
        """``find PATH`` as (logical, physical) pairs: the path, then everything below it,
        not following symlinks."""
        real = self.physical(path)
        yield path, real
        if os.path.isdir(real) and not os.path.islink(real):
            for dirpath, dirnames, filenames in os.walk(real):
                logical_dir = path + dirpath[len(real):]
                for name in dirnames + filenames:
                    yield logical_dir + "/" + name, os.path.join(dirpath, name)
