"""Layer tar writers that reproduce upstream's bytes, as streams of ``bytes`` chunks.

Two dialects (spec §1.1–1.3):

* ``gnu_tree_chunks`` — GNU tar 1.34 as dockerTools runs it on a directory
  (``tar -C DIR --sort=name --mtime=@M [--owner=U --group=G] [--numeric-owner]
  --hard-dereference -cf - .``): GNU format (magic ``ustar  ``), names ``./…``, long names
  and link targets in ``././@LongLink`` entries, hard links stored as files, sockets skipped.
* ``store_layer_chunks`` — upstream's stream script (Python ``tarfile``, pax format): ``/nix/``
  and ``/nix/store/`` directories, then each store path and its sorted descendants, every entry
  with fixed owner and mtime, pax extended headers only where ustar fields cannot hold a value.
  ``PaxTarWriter`` is the same dialect for the outer docker-archive.

Both end with two zero blocks padded to a 10240-byte record.  They are written for throughput:
large reads, headers packed with ``%`` formatting, small entries coalesced into ~1 MiB chunks.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator

from nixlite.errors import NixliteError
from nixlite.image.files import exact_length
from nixlite.image.gzip import Span

BLOCK = 512
RECORD = 10240
OUT_TARGET = 1 << 20
BIG_READ = 1 << 20
ZERO_BLOCK = b"\0" * BLOCK

GNU_MAGIC = b"ustar  \0"
POSIX_MAGIC = b"ustar\x0000"

REGTYPE, LNKTYPE, SYMTYPE, CHRTYPE, BLKTYPE, DIRTYPE, FIFOTYPE = b"0", b"1", b"2", b"3", b"4", b"5", b"6"
GNU_LONGNAME, GNU_LONGLINK, PAX_HEADER = b"L", b"K", b"x"


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def octal_field(value: int, width: int) -> bytes:
    """``width-1`` zero-padded octal digits and a NUL (ustar numeric field)."""
    return b"%0*o\0" % (width - 1, value)


def _gnu_number(value: int, width: int) -> bytes:
    """GNU tar's numeric field: octal if it fits, else base-256 (high bit set)."""
    if 0 <= value < 8 ** (width - 1):
        return octal_field(value, width)
    if value < 0 or value >= 256 ** (width - 1):
        raise NixliteError(f"value {value} does not fit a tar header field")
    return b"\x80" + value.to_bytes(width - 1, "big")


def _field(data: bytes, width: int) -> bytes:
    return data[:width] + b"\0" * (width - len(data[:width]))


def _finish_header(head: bytes) -> bytes:
    """Pad to 512 bytes and fill the checksum as ``%06o\\0 `` (GNU tar and tarfile agree)."""
    head = head + b"\0" * (BLOCK - len(head))
    checksum = sum(head[:148]) + 256 + sum(head[156:])
    return head[:148] + b"%06o\0 " % checksum + head[156:]


def header_block(name: bytes, mode: bytes, uid: bytes, gid: bytes, size: bytes, mtime: bytes,
            typeflag: bytes, linkname: bytes, magic: bytes, uname: bytes, gname: bytes,
            devmajor: bytes, devminor: bytes) -> bytes:
    return _finish_header(b"".join((
        _field(name, 100), mode, uid, gid, size, mtime, b"        ", typeflag,
        _field(linkname, 100), magic, _field(uname, 32), _field(gname, 32), devmajor, devminor,
    )))


NO_DEV = b"\0" * 8


class _Output:
    """Coalesces small pieces into ~1 MiB chunks; big pieces pass straight through."""

    __slots__ = ("parts", "size", "total")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.total = 0

    def add(self, piece: bytes) -> bytes | None:
        self.parts.append(piece)
        self.size += len(piece)
        self.total += len(piece)
        if self.size >= OUT_TARGET:
            return self.take()
        return None

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts = []
        self.size = 0
        return out

    def end(self) -> bytes:
        """Two zero blocks, then zeros to the next 10240-byte record boundary."""
        total = self.total + 2 * BLOCK
        self.add(b"\0" * (2 * BLOCK + (-total % RECORD)))
        return self.take()


def _file_pieces(path: bytes | str, size: int, out: _Output) -> Iterator[bytes]:
    """The content of a regular file padded to 512, through ``out``; checks the size."""
    with open(path, "rb") as f:
        if size <= BIG_READ:
            data = f.read(size + 1) if size else b""
            if len(data) != size:
                raise NixliteError(f"file '{os.fsdecode(path)}' changed size while being archived")
            ready = out.add(data + padding(size))
            if ready is not None:
                yield ready
            return
        if out.size:
            yield out.take()
        left = size
        while left:
            block = f.read(min(BIG_READ * 4, left))
            if not block:
                raise NixliteError(f"file '{os.fsdecode(path)}' shrank while being archived")
            left -= len(block)
            out.total += len(block)
            yield block
        pad = padding(size)
        if pad:
            out.add(pad)


# GNU tar ---------------------------------------------------------------------------------

def _lookup_user(uid: int) -> bytes:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name.encode()
    except KeyError:
        return b""


def _lookup_group(gid: int) -> bytes:
    import grp

    try:
        return grp.getgrgid(gid).gr_name.encode()
    except KeyError:
        return b""


class _GnuWriter:
    """GNU tar's per-entry output with fixed options (owner overrides, names, mtime)."""

    def __init__(self, *, mtime: int, uid: int | None, gid: int | None, uname: str | None,
                 gname: str | None, numeric_owner: bool) -> None:
        self.mtime_f = _gnu_number(mtime, 12)
        self.uid, self.gid = uid, gid
        self.uid_f = None if uid is None else _gnu_number(uid, 8)
        self.gid_f = None if gid is None else _gnu_number(gid, 8)
        self.fixed_uname = None if uname is None else uname.encode()
        self.fixed_gname = None if gname is None else gname.encode()
        if numeric_owner:
            self.fixed_uname = self.fixed_gname = b""
            self.long_uname = self.long_gname = b""
        else:
            self.long_uname, self.long_gname = _lookup_user(0), _lookup_group(0)
        self.user_cache: dict[int, bytes] = {}
        self.group_cache: dict[int, bytes] = {}
        self.out = _Output()

    def long_entry(self, kind: bytes, value: bytes) -> bytes:
        size = len(value) + 1
        head = header_block(b"././@LongLink", b"0000644\0", b"0000000\0", b"0000000\0",
                       _gnu_number(size, 12), b"00000000000\0", kind, b"", GNU_MAGIC,
                       self.long_uname, self.long_gname, NO_DEV, NO_DEV)
        return head + value + b"\0" + padding(size)

    def names(self, uid: int, gid: int) -> tuple[bytes, bytes]:
        un = self.fixed_uname
        if un is None:
            un = self.user_cache.get(uid)
            if un is None:
                un = self.user_cache[uid] = _lookup_user(uid)
        gn = self.fixed_gname
        if gn is None:
            gn = self.group_cache.get(gid)
            if gn is None:
                gn = self.group_cache[gid] = _lookup_group(gid)
        return un, gn

    def entry(self, arcname: bytes, full: bytes | str, st: os.stat_result) -> Iterator[bytes]:
        mode = st.st_mode
        linkname = b""
        size = 0
        devmajor = devminor = NO_DEV
        if stat.S_ISREG(mode):
            typeflag = REGTYPE
            size = st.st_size
        elif stat.S_ISDIR(mode):
            typeflag = DIRTYPE
            arcname += b"/"
        elif stat.S_ISLNK(mode):
            typeflag = SYMTYPE
            linkname = os.readlink(os.fsencode(full))
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            typeflag = CHRTYPE if stat.S_ISCHR(mode) else BLKTYPE
            devmajor = _gnu_number(os.major(st.st_rdev), 8)
            devminor = _gnu_number(os.minor(st.st_rdev), 8)
        elif stat.S_ISFIFO(mode):
            typeflag = FIFOTYPE
        else:
            return  # sockets: GNU tar warns "socket ignored" and skips them
        pieces = []
        if len(linkname) > 100:
            pieces.append(self.long_entry(GNU_LONGLINK, linkname))
        if len(arcname) > 100:
            pieces.append(self.long_entry(GNU_LONGNAME, arcname))
        e_uid = st.st_uid if self.uid is None else self.uid
        e_gid = st.st_gid if self.gid is None else self.gid
        un, gn = self.names(e_uid, e_gid)
        pieces.append(header_block(
            arcname, octal_field(mode & 0o7777, 8), self.uid_f or _gnu_number(e_uid, 8),
            self.gid_f or _gnu_number(e_gid, 8), _gnu_number(size, 12), self.mtime_f, typeflag,
            linkname, GNU_MAGIC, un, gn, devmajor, devminor))
        ready = self.out.add(b"".join(pieces))
        if ready is not None:
            yield ready
        if size:
            yield from _file_pieces(full, size, self.out)


def gnu_tree_chunks(root: str | bytes, *, mtime: int, uid: int | None = None, gid: int | None = None,
                    uname: str | None = None, gname: str | None = None,
                    numeric_owner: bool = False, exclude: Iterable[str] = (),
                    strip_dot_slash: bool = False) -> Iterator[bytes]:
    """Stream what ``tar -C root --sort=name --mtime=@mtime --hard-dereference -cf - .`` writes.

    ``uid``/``gid`` override the owner of every entry (``--owner``/``--group``; None keeps
    the files' own).  Names: ``numeric_owner`` leaves them empty; otherwise ``uname``/``gname``
    if given (as names resolved where the upstream build ran, e.g. ``root``), else looked up
    here.  ``exclude`` lists ``./``-relative paths to leave out (enableFakechroot's
    ``./dev`` etc.).  ``strip_dot_slash`` is ``--xform 's:^./::'`` (the root stays ``./``).
    GNU tar's long-name entries carry the names of uid/gid 0."""
    root_b = os.fsencode(root)
    excluded = {os.fsencode(e).rstrip(b"/") for e in exclude}
    writer = _GnuWriter(mtime=mtime, uid=uid, gid=gid, uname=uname, gname=gname,
                        numeric_owner=numeric_owner)

    def walk(directory: bytes, prefix: bytes) -> Iterator[bytes]:
        try:
            names = sorted(os.listdir(directory))
        except OSError as e:
            raise NixliteError(f"cannot read directory '{os.fsdecode(directory)}': {e.strerror}") from None
        for name in names:
            arcname = prefix + name
            if arcname in excluded:
                continue
            full = directory + b"/" + name
            st = os.lstat(full)
            yield from writer.entry(arcname[2:] if strip_dot_slash else arcname, full, st)
            if stat.S_ISDIR(st.st_mode):
                yield from walk(full, arcname + b"/")

    try:
        root_st = os.lstat(root_b)
    except OSError as e:
        raise NixliteError(f"cannot archive '{os.fsdecode(root_b)}': {e.strerror}") from None
    if not stat.S_ISDIR(root_st.st_mode):
        raise NixliteError(f"cannot archive '{os.fsdecode(root_b)}': not a directory")
    yield from writer.entry(b".", root_b, root_st)
    yield from walk(root_b, b"./")
    yield writer.out.end()


def gnu_entries_chunks(entries: Iterable[tuple[bytes, str]], *, mtime: int,
                       uid: int | None = None, gid: int | None = None, uname: str | None = None,
                       gname: str | None = None, numeric_owner: bool = False) -> Iterator[bytes]:
    """GNU tar entries for an explicit list of (archive name, host path), without recursion
    and without the end-of-archive trailer (``tar --no-recursion --files-from``, e.g. for
    ``tar -r``)."""
    writer = _GnuWriter(mtime=mtime, uid=uid, gid=gid, uname=uname, gname=gname,
                        numeric_owner=numeric_owner)
    for arcname, path in entries:
        try:
            st = os.lstat(path)
        except OSError as e:
            raise NixliteError(f"cannot archive '{path}': {e.strerror}") from None
        yield from writer.entry(arcname, path, st)
    if writer.out.size:
        yield writer.out.take()


# Python tarfile's pax dialect ---------------------------------------------------------------

def pax_record(keyword: str, value: bytes) -> bytes:
    body = len(keyword) + len(value) + 3
    n = p = 0
    while True:
        n = body + len(str(p))
        if n == p:
            break
        p = n
    return b"%d %s=%s\n" % (p, keyword.encode(), value)


def pax_header(name: str, *, mode: int, uid: int, gid: int, size: int, mtime: int,
               typeflag: bytes, linkname: str = "", uname: str = "", gname: str = "",
               devmajor: int = 0, devminor: int = 0) -> bytes:
    """The header block(s) Python's ``tarfile`` (PAX_FORMAT) writes for one member.

    ``name`` is final (directories already end in ``/``); strings are ``os.fsdecode``-style
    (surrogate escapes for undecodable bytes, which force ``hdrcharset=BINARY`` as tarfile does)."""
    pax: dict[str, str] = {}
    strings = {"name": name, "linkname": linkname, "uname": uname, "gname": gname}
    for field, keyword, limit in (("name", "path", 100), ("linkname", "linkpath", 100),
                                  ("uname", "uname", 32), ("gname", "gname", 32)):
        value = strings[field]
        if not value.isascii() or len(value) > limit:
            pax[keyword] = value
    numbers = {"uid": uid, "gid": gid, "size": size, "mtime": mtime}
    for field, digits in (("uid", 8), ("gid", 8), ("size", 12), ("mtime", 12)):
        value = numbers[field]
        if not 0 <= value < 8 ** (digits - 1):
            pax[field] = str(value)
            numbers[field] = 0
    if typeflag in (CHRTYPE, BLKTYPE):
        devmajor_f, devminor_f = octal_field(devmajor, 8), octal_field(devminor, 8)
    else:
        devmajor_f = devminor_f = NO_DEV
    main = header_block(
        name.encode("ascii", "replace"), octal_field(mode & 0o7777, 8), octal_field(numbers["uid"], 8),
        octal_field(numbers["gid"], 8), octal_field(numbers["size"], 12), octal_field(numbers["mtime"], 12),
        typeflag, linkname.encode("ascii", "replace"), POSIX_MAGIC,
        uname.encode("ascii", "replace"), gname.encode("ascii", "replace"), devmajor_f, devminor_f)
    if not pax:
        return main
    binary = False
    for value in pax.values():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            binary = True
            break
    records = [b"21 hdrcharset=BINARY\n"] if binary else []
    for keyword, value in pax.items():
        raw = value.encode("utf-8", "surrogateescape") if binary else value.encode("utf-8")
        records.append(pax_record(keyword, raw))
    payload = b"".join(records)
    head = header_block(b"././@PaxHeader", b"0000000\0", b"0000000\0", b"0000000\0",
                   octal_field(len(payload), 12), b"00000000000\0", PAX_HEADER, b"", POSIX_MAGIC,
                   b"", b"", NO_DEV, NO_DEV)
    return head + payload + padding(len(payload)) + main


class PaxTarWriter:
    """An outer archive in the stream script's dialect, built as a stream of chunks.

    Use ``add(...)`` for each member (it returns the chunks to emit, content included; a
    ``Span`` as content is emitted as it is) and
    ``end()`` for the trailer; the caller writes the chunks to a file or pipe."""

    __slots__ = ("out",)

    def __init__(self) -> None:
        self.out = _Output()

    def add(self, name: str, size: int, content: Iterable[bytes], *, mode: int = 0o644,
            uid: int = 0, gid: int = 0, uname: str = "", gname: str = "", mtime: int = 0,
            typeflag: bytes = REGTYPE, linkname: str = "") -> Iterator[bytes]:
        if typeflag == DIRTYPE and not name.endswith("/"):
            name += "/"
        ready = self.out.add(pax_header(name, mode=mode, uid=uid, gid=gid, size=size, mtime=mtime,
                                        typeflag=typeflag, linkname=linkname, uname=uname,
                                        gname=gname))
        if ready is not None:
            yield ready
        if self.out.size:
            yield self.out.take()
        if isinstance(content, Span):  # passed on whole, for a job cache (see ``gzip``)
            if content.size != size:
                raise NixliteError(f"member '{name}' is {content.size} bytes, not {size}")
            yield content
        else:
            yield from exact_length(content, size, f"member '{name}'")
        self.out.total += size
        pad = padding(size)
        if pad:
            self.out.add(pad)

    def end(self) -> bytes:
        return self.out.end()


class HostStoreView:
    """Store paths read where they are named: the host's own ``store_dir``."""

    def __init__(self, store_dir: str = "/nix/store") -> None:
        self.store_dir = store_dir.rstrip("/")

    def in_store(self, path: str) -> bool:
        return path.startswith(self.store_dir + "/")

    def physical(self, path: str) -> str:
        return path

    def resolved_dir(self, path: str) -> str | None:
        """The physical directory a symlink ``path`` leads to (None if it leads to none)."""
        return path if os.path.isdir(path) else None


def store_layer_chunks(paths: Iterable[str], *, mtime: int, uid: int = 0, gid: int = 0,
                       uname: str = "root", gname: str = "root", nix_dir_mode: int = 0o555,
                       store_dir: str = "/nix/store", walk_symlinked_roots: bool = True,
                       view=None) -> Iterator[bytes]:
    """Stream a store-path layer tar exactly as upstream's stream script writes it (spec §1.2).

    Defaults are the seed's (``/nix`` dirs 0555, root/root); today's upstream uses
    ``nix_dir_mode=0o755``, configurable owner and ``walk_symlinked_roots=False`` (the seed
    walks through a store path that is a symlink to a directory).  Members are named by
    the logical store paths; ``view`` (``in_store``, ``physical``, ``resolved_dir``) says
    where their files are read from (default: the host, at ``store_dir``)."""
    view = view or HostStoreView(store_dir)
    paths = list(paths)
    for p in paths:
        if not view.in_store(p):
            raise NixliteError(f"'{p}' is not in the Nix store ({view.store_dir})")
    out = _Output()
    mtime_i = int(mtime)

    def emit(arcname: str, full: str, st: os.stat_result) -> Iterator[bytes]:
        mode = st.st_mode
        size = 0
        linkname = ""
        devmajor = devminor = 0
        if stat.S_ISREG(mode):
            typeflag = REGTYPE  # hard links are stored as regular files with content
            size = st.st_size
        elif stat.S_ISDIR(mode):
            typeflag = DIRTYPE
            arcname += "/"
        elif stat.S_ISLNK(mode):
            typeflag = SYMTYPE
            linkname = os.readlink(full)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            typeflag = CHRTYPE if stat.S_ISCHR(mode) else BLKTYPE
            devmajor, devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            typeflag = FIFOTYPE
        else:
            raise NixliteError(f"cannot put '{arcname}' in a layer: sockets cannot be archived")
        ready = out.add(pax_header(arcname, mode=mode, uid=uid, gid=gid, size=size, mtime=mtime_i,
                                   typeflag=typeflag, linkname=linkname, uname=uname, gname=gname,
                                   devmajor=devmajor, devminor=devminor))
        if ready is not None:
            yield ready
        if size:
            yield from _file_pieces(full, size, out)

    def walk(logical: str, real: str) -> Iterator[bytes]:
        try:
            names = sorted(os.listdir(real))
        except OSError as e:
            raise NixliteError(f"cannot read directory '{logical}': {e.strerror}") from None
        for name in names:
            full = real + "/" + name
            st = os.lstat(full)
            yield from emit(logical + "/" + name, full, st)
            if stat.S_ISDIR(st.st_mode):
                yield from walk(logical + "/" + name, full)

    for directory in ("/nix", "/nix/store"):
        ready = out.add(pax_header(directory + "/", mode=nix_dir_mode, uid=uid, gid=gid, size=0,
                                   mtime=mtime_i, typeflag=DIRTYPE, uname=uname, gname=gname))
        if ready is not None:
            yield ready
    for p in paths:
        real = view.physical(p)
        try:
            st = os.lstat(real)
        except OSError as e:
            raise NixliteError(f"cannot archive store path '{p}': {e.strerror}") from None
        yield from emit(p, real, st)
        if stat.S_ISDIR(st.st_mode):
            yield from walk(p, real)
        elif walk_symlinked_roots and stat.S_ISLNK(st.st_mode):
            target = view.resolved_dir(p)
            if target is not None:
                yield from walk(p, target)
    yield out.end()
