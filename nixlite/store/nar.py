"""NAR (Nix ARchive) serialisation and hashing of files, directories and symlinks.

The NAR of a path depends only on file contents, the owner-execute bit,
symlink targets and entry names, so it is what store paths of imported
sources hash.  ``dump`` writes the archive into a ``sink`` callable (e.g.
``hasher.update`` or a file's ``write``) in large blocks; it can mirror the
walk into a destination directory at the same time, so what is stored is
exactly what was hashed.  A ``path_filter(path, kind) -> bool`` (kind is
``regular | directory | symlink | unknown``) drops entries below the root.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Callable

from nixlite.errors import NixliteError
from nixlite.store.hashes import Hash

Sink = Callable[[bytes], object]
PathFilter = Callable[[str, str], bool]

BLOCK = 1 << 20


class NarError(NixliteError):
    """A path that cannot be archived (unsupported file type, unreadable)."""


def _s(data: bytes) -> bytes:
    """One NAR string: 8-byte little-endian length, bytes, zero padding to 8."""
    n = len(data)
    return n.to_bytes(8, "little") + data + b"\0" * (-n % 8)


MAGIC = _s(b"nix-archive-1")
_OPEN = _s(b"(")
_CLOSE = _s(b")")
_TYPE_REGULAR = _OPEN + _s(b"type") + _s(b"regular")
_EXECUTABLE = _s(b"executable") + _s(b"")
_CONTENTS = _s(b"contents")
_TYPE_SYMLINK = _OPEN + _s(b"type") + _s(b"symlink") + _s(b"target")
_TYPE_DIRECTORY = _OPEN + _s(b"type") + _s(b"directory")
_ENTRY = _s(b"entry") + _OPEN + _s(b"name")
_NODE = _s(b"node")


def kind_of_mode(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "unknown"


def dump(path: str, sink: Sink, path_filter: PathFilter | None = None,
         mirror_to: str | None = None) -> None:
    """Write the NAR of ``path`` (symlinks not followed) to ``sink``.

    With ``mirror_to``, also recreate the archived tree there (which must not
    exist yet): regular files, directories and symlinks, with contents and
    executable bits exactly as archived.
    """
    sink(MAGIC)
    _dump_node(path, os.lstat(path), sink, path_filter, mirror_to)


def _dump_node(path: str, st: os.stat_result, sink: Sink, path_filter, mirror_to) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        executable = bool(mode & stat.S_IXUSR)
        head = _TYPE_REGULAR + (_EXECUTABLE if executable else b"") + _CONTENTS
        try:
            f = open(path, "rb")
        except OSError as exc:
            raise NarError(f"opening file '{path}': {exc.strerror}") from None
        with f:
            out = None
            if mirror_to is not None:
                out = open(mirror_to, "xb")
            try:
                size = os.fstat(f.fileno()).st_size
                sink(head + size.to_bytes(8, "little"))
                written = 0
                while True:
                    block = f.read(BLOCK)
                    if not block:
                        break
                    written += len(block)
                    sink(block)
                    if out is not None:
                        out.write(block)
                if written != size:
                    raise NarError(f"file '{path}' changed while it was being archived")
            finally:
                if out is not None:
                    out.close()
        if mirror_to is not None and executable:
            os.chmod(mirror_to, 0o755)
        sink(b"\0" * (-size % 8) + _CLOSE)
    elif stat.S_ISDIR(mode):
        sink(_TYPE_DIRECTORY)
        if mirror_to is not None:
            os.mkdir(mirror_to)
        try:
            names = os.listdir(path)
        except OSError as exc:
            raise NarError(f"opening directory '{path}': {exc.strerror}") from None
        entries = sorted((os.fsencode(n), n) for n in names)
        for raw, name in entries:
            child = os.path.join(path, name)
            cst = os.lstat(child)
            if path_filter is not None and not path_filter(child, kind_of_mode(cst.st_mode)):
                continue
            sink(_ENTRY + _s(raw) + _NODE)
            _dump_node(child, cst, sink, path_filter,
                       None if mirror_to is None else os.path.join(mirror_to, name))
            sink(_CLOSE)
        sink(_CLOSE)
    elif stat.S_ISLNK(mode):
        target = os.readlink(path)
        sink(_TYPE_SYMLINK + _s(os.fsencode(target)) + _CLOSE)
        if mirror_to is not None:
            os.symlink(target, mirror_to)
    else:
        raise NarError(f"file '{path}' has an unsupported type")


def dump_bytes(contents: bytes, executable: bool = False) -> bytes:
    """The NAR of a single regular file with these contents."""
    return MAGIC + regular_node(contents, executable)


# The pieces of a NAR, for writers that walk something other than the local file
# system (a git tree): a directory is DIRECTORY_OPEN, then for each entry in byte
# order ``entry_open(name)``, the entry's node and CLOSE, then CLOSE.
DIRECTORY_OPEN = _TYPE_DIRECTORY
CLOSE = _CLOSE


def regular_node(contents: bytes, executable: bool = False) -> bytes:
    return _TYPE_REGULAR + (_EXECUTABLE if executable else b"") + _CONTENTS + _s(contents) + _CLOSE


def symlink_node(target: bytes) -> bytes:
    return _TYPE_SYMLINK + _s(target) + _CLOSE


def entry_open(name: bytes) -> bytes:
    return _ENTRY + _s(name) + _NODE


class _HashSink:
    __slots__ = ("h", "size")

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.size = 0

    def __call__(self, data: bytes) -> None:
        self.h.update(data)
        self.size += len(data)


def nar_hash(path: str, path_filter: PathFilter | None = None,
             mirror_to: str | None = None) -> tuple[Hash, int]:
    """sha256 of the NAR of ``path`` and the NAR's size (optionally mirroring it)."""
    sink = _HashSink()
    dump(path, sink, path_filter, mirror_to)
    return Hash("sha256", sink.h.digest()), sink.size


def nar_hash_bytes(contents: bytes, executable: bool = False) -> tuple[Hash, int]:
    nar = dump_bytes(contents, executable)
    return Hash("sha256", hashlib.sha256(nar).digest()), len(nar)


# --------------------------------------------------------------------------
# restoring


class _NarInput:
    """Buffered reads from ``source`` that hash and count every NAR byte consumed."""

    __slots__ = ("source", "buf", "pos", "h", "size", "limit")

    def __init__(self, source, limit: int | None) -> None:
        self.source = source
        self.buf = b""
        self.pos = 0
        self.h = hashlib.sha256()
        self.size = 0
        self.limit = limit

    def _fill(self) -> bool:
        block = self.source.read(BLOCK)
        if not block:
            return False
        self.size += len(block)
        if self.limit is not None and self.size > self.limit:
            raise NarError(f"bad archive: longer than the expected {self.limit} bytes")
        self.h.update(block)
        rest = self.buf[self.pos:]
        self.buf = rest + block if rest else block
        self.pos = 0
        return True

    def take(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n:
            if not self._fill():
                raise NarError("bad archive: unexpected end-of-file")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def length(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def padding(self, n: int) -> None:
        if -n % 8 and self.take(-n % 8).strip(b"\0"):
            raise NarError("bad archive: non-zero padding")

    def string(self, max_len: int = 4096) -> bytes:
        n = self.length()
        if n > max_len:
            raise NarError("bad archive: string too long")
        s = self.take(n)
        self.padding(n)
        return s

    def expect(self, token: bytes, what: str) -> None:
        if self.string() != token:
            raise NarError(f"bad archive: expected {what}")

    def copy_to(self, n: int, out) -> None:
        """Move ``n`` content bytes to the file ``out`` without holding them all."""
        while n:
            if self.pos == len(self.buf) and not self._fill():
                raise NarError("bad archive: unexpected end-of-file")
            chunk = self.buf[self.pos:self.pos + n]
            out.write(chunk)
            self.pos += len(chunk)
            n -= len(chunk)

    def at_end(self) -> bool:
        return self.pos == len(self.buf) and not self._fill()


def restore(source, dest: str, limit: int | None = None, canonical: bool = False,
            trailing_ok: bool = False) -> tuple[Hash, int]:
    """Unpack the NAR read from ``source`` (``.read(n)``) into the new path ``dest``.

    Returns the NAR's sha256 and size, computed over exactly the bytes read,
    so a caller can check them before trusting the tree.  Entry names are
    checked (no ``/``, ``.``, ``..``, strictly sorted) so an archive cannot
    write outside ``dest``; more than ``limit`` bytes, trailing data or a
    truncated archive are errors (``trailing_ok``: what follows the archive is left
    unread, as Nix's ``restorePath`` leaves it).  ``canonical``: give every object the
    store's read-only modes and mtime 1 while writing it (saves a second walk).
    """
    nar = _NarInput(source, limit)
    if nar.string() != b"nix-archive-1":
        raise NarError("bad archive: input doesn't look like a Nix archive")
    _restore_node(nar, dest, canonical)
    if not trailing_ok and not nar.at_end():
        raise NarError("bad archive: trailing data after the archive")
    return Hash("sha256", nar.h.digest()), nar.size


def _restore_node(nar: _NarInput, dest: str, canonical: bool) -> None:
    nar.expect(b"(", "open tag")
    nar.expect(b"type", "tag 'type'")
    kind = nar.string()
    if kind == b"regular":
        tag = nar.string()
        executable = tag == b"executable"
        if executable:
            if nar.string() != b"":
                raise NarError("bad archive: executable marker has non-empty value")
            tag = nar.string()
        if tag != b"contents":
            raise NarError("bad archive: expected tag 'contents'")
        n = nar.length()
        with open(dest, "xb") as out:
            nar.copy_to(n, out)
            out.flush()
            if canonical:
                os.chmod(out.fileno(), 0o555 if executable else 0o444)
                os.utime(out.fileno(), (1, 1))
            elif executable:
                os.chmod(out.fileno(), 0o755)
        nar.padding(n)
        nar.expect(b")", "close tag")
    elif kind == b"symlink":
        nar.expect(b"target", "tag 'target'")
        os.symlink(nar.string(), dest)
        if canonical:
            os.utime(dest, (1, 1), follow_symlinks=False)
        nar.expect(b")", "close tag")
    elif kind == b"directory":
        os.mkdir(dest)
        previous = None
        while True:
            tag = nar.string()
            if tag == b")":
                break
            if tag != b"entry":
                raise NarError("bad archive: expected tag 'entry' or ')'")
            nar.expect(b"(", "open tag")
            nar.expect(b"name", "tag 'name'")
            name = nar.string()
            if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
                raise NarError(f"bad archive: NAR contains invalid file name '{name.decode(errors='replace')}'")
            if previous is not None and name <= previous:
                raise NarError("bad archive: NAR directory is not sorted")
            previous = name
            nar.expect(b"node", "tag 'node'")
            _restore_node(nar, os.path.join(dest, os.fsdecode(name)), canonical)
            nar.expect(b")", "close tag")
        if canonical:
            os.chmod(dest, 0o555)
            os.utime(dest, (1, 1))
    else:
        raise NarError(f"bad archive: unknown file type '{kind.decode(errors='replace')}'")
