"""File helpers every image writer and reader shares: atomic writes, chunked reads, removal
of read-only trees.

Writers never leave a half-written file under its final name: ``atomic_file`` writes under a
hidden temporary name in the destination's directory and renames it into place only when the
content is complete (a failure removes the temporary file)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from nixlite.errors import NixliteError

READ_SIZE = 1 << 20


def atomic_file(dest: str, write: Callable[[IO[bytes]], Any], *, mode: int = 0o644,
                final_name: Callable[[], str] | None = None) -> Any:
    """Create ``dest`` through ``write(fileobj)``; returns what ``write`` returns.
    ``final_name``, if given, names the file once written (e.g. by the digest learnt while
    writing it); ``dest`` then only gives the directory and the temporary name."""
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise NixliteError(f"cannot write '{dest}': directory '{directory}' does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            result = write(out)
        os.chmod(tmp, mode)
        os.replace(tmp, final_name() if final_name else dest)
        return result
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes_atomically(dest: str, data: bytes, *, mode: int = 0o644) -> None:
    atomic_file(dest, lambda out: out.write(data), mode=mode)


def read_chunks(f: IO[bytes], length: int | None = None, name: str = "input") -> Iterator[bytes]:
    """``length`` bytes (everything if None) of an open binary file in blocks of
    ``READ_SIZE``; a file ending early is an error naming ``name``."""
    left = length
    while left is None or left > 0:
        block = f.read(READ_SIZE if left is None else min(READ_SIZE, left))
        if not block:
            if left:
                raise NixliteError(f"'{name}' is truncated: {left} bytes missing")
            return
        if left is not None:
            left -= len(block)
        yield block


def exact_length(chunks: Iterable[bytes], size: int, what: str) -> Iterator[bytes]:
    """Pass ``chunks`` through, refusing more or fewer than ``size`` bytes in all: a length
    announced before the data (a tar header, Content-Length) must be the truth."""
    n = 0
    for chunk in chunks:
        n += len(chunk)
        if n > size:
            raise NixliteError(f"{what} is longer than its declared {size} bytes")
        yield chunk
    if n != size:
        raise NixliteError(f"{what} has {n} bytes, declared {size}")


def remove_tree(path: str) -> None:
    """Remove a file or a directory tree, even one with read-only directories (image roots
    and store-like trees have 0555 directories); a missing path is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if not os.path.islink(full):
                os.chmod(full, 0o755)
    os.chmod(path, 0o755)
    shutil.rmtree(path)
