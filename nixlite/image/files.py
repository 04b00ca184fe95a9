"""File helpers every image writer and reader shares: atomic writes, locked temporaries,
chunked reads, removal of read-only trees.

Writers never leave a half-written file under its final name: ``atomic_file`` and
``atomic_directory`` write under a hidden temporary name in the destination's directory and
rename it into place only when the content is complete (a failure removes the temporary).

A process killed outright (``kill -9``, a power cut) cannot remove its temporaries, so each
one is named ``.<what>.<random>.nixlite-tmp`` and holds an exclusive ``flock`` for as long as
its owner works on it; ``clear_stale_temporaries`` removes those nobody holds any more (the
lock dies with its process, whatever became of the process id), as Nix clears its stale
temporary roots and build directories.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from nixlite.errors import NixliteError

READ_SIZE = 1 << 20
TEMP_SUFFIX = ".nixlite-tmp"
_NEW_SUFFIX = ".nixlite-new"  # made but not locked yet: never taken for stale


def printable(data: bytes | str, limit: int | None = 200) -> str:
    """Text from outside (a server's answer, a header field, a member name), safe to put
    in a message: cut to ``limit`` characters (marked with …), control and other
    non-printable characters shown as escapes, so no terminal escape reaches the screen."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    limit = len(text) if limit is None else limit
    cut = len(text) > limit
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text[:limit])
    return text + ("…" if cut else "")


def _lock_and_mark(fd: int, path: str) -> str:
    """Lock a new temporary, then give it the name ``clear_stale_temporaries`` looks for:
    under that name it is locked from the first moment, so no other process can take it
    for the leftover of a dead one."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    marked = path[:-len(_NEW_SUFFIX)] + TEMP_SUFFIX
    os.rename(path, marked)
    return marked


def _check_directory(dest: str) -> str:
    directory = os.path.dirname(os.path.abspath(dest.rstrip("/"))) or "/"
    if not os.path.isdir(directory):
        raise NixliteError(f"cannot write '{dest}': directory '{directory}' does not exist")
    return directory


def atomic_file(dest: str, write: Callable[[IO[bytes]], Any], *, mode: int = 0o644,
                final_name: Callable[[], str] | None = None) -> Any:
    """Create ``dest`` through ``write(fileobj)``; returns what ``write`` returns.
    ``final_name``, if given, names the file once written (e.g. by the digest learnt while
    writing it); ``dest`` then only gives the directory and the temporary name."""
    directory = _check_directory(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=_NEW_SUFFIX,
                               dir=directory)
    try:
        tmp = _lock_and_mark(fd, tmp)
        with os.fdopen(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.replace(tmp, final_name() if final_name else dest)  # still locked: not stale
        return result
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def temporary_directory(parent: str | None, what: str) -> Iterator[str]:
    """A locked private directory ``.<what>.<random>.nixlite-tmp`` in ``parent`` (default:
    the system's temporary directory), removed with everything in it on leaving."""
    path = tempfile.mkdtemp(prefix=f".{what}.", suffix=_NEW_SUFFIX, dir=parent)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        path = _lock_and_mark(fd, path)
        yield path
    finally:
        try:
            remove_tree(path)
        finally:
            os.close(fd)


def atomic_directory(dest: str, write: Callable[[str], Any]) -> Any:
    """Create the directory ``dest`` through ``write(path)`` under a temporary name, then
    rename it into place; an existing empty directory is replaced, anything else at
    ``dest`` is refused (the caller decides whether to add to it instead)."""
    if os.path.lexists(dest) and not (os.path.isdir(dest) and not os.listdir(dest)):
        raise NixliteError(f"cannot write '{dest}': it exists and is not an empty directory")
    parent = _check_directory(dest)
    with temporary_directory(parent, os.path.basename(dest.rstrip("/"))) as tmp:
        result = write(tmp)
        os.chmod(tmp, 0o755)
        if os.path.isdir(dest):
            os.rmdir(dest)
        os.rename(tmp, dest)
    return result


def is_temporary(path: str) -> bool:
    """Whether ``path`` names one of our temporaries (or something inside one)."""
    return any(part.startswith(".") and part.endswith((TEMP_SUFFIX, _NEW_SUFFIX))
               for part in path.split(os.sep))


def clear_stale_temporaries(directory: str) -> list[str]:
    """Remove the temporaries in ``directory`` whose owner is gone (no lock held on them);
    returns their paths.  Quietly does nothing where the directory cannot be read."""
    removed = []
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and n.endswith(TEMP_SUFFIX)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its owner is alive and working on it
        try:
            remove_tree(path)
            removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


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
