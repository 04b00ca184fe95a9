"""A defensive tar reader for image archives and layers (ustar, GNU and pax dialects).

It reads from a chunk stream (``TarStream``) or indexes a seekable file (``index_tar_file``).
Bad input never raises anything but ``NixliteError``: wrong checksums, truncated data,
absurd sizes, malformed pax records.  Names are returned as stored (bytes decoded with
surrogateescape); callers decide what a safe name is (see ``safe_relative``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from nixlite.errors import NixliteError
from nixlite.image.files import printable

BLOCK = 512
MAX_MEMBER = 1 << 46  # 64 TiB: anything larger is not a real layer member
MAX_META = 1 << 20  # long names and pax headers


class TarError(NixliteError):
    """Malformed tar data; readers add the name of the archive or layer it came from."""


def _in(name: str | None, error: TarError) -> TarError:
    return TarError(f"{name}: {error.message}" if name else error.message)


@dataclass(slots=True)
class Member:
    """One tar member: metadata after pax / GNU long-name processing."""

    name: str
    type: bytes
    size: int
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    linkname: str = ""
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    offset: int = 0  # of the data, in the archive
    xattrs: dict[str, bytes] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return self.type == b"5"

    @property
    def is_file(self) -> bool:
        return self.type in (b"0", b"\0", b"7")


def _number(field_: bytes, what: str) -> int:
    if field_[:1] in (b"\x80", b"\xff"):  # GNU base-256
        value = int.from_bytes(field_[1:], "big")
        if field_[:1] == b"\xff":
            value -= 1 << (8 * (len(field_) - 1))
        return value
    text = field_.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarError(f"corrupt tar header: the {what} field is not an octal number "
                       f"('{printable(text, 40)}')") from None


def _string(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def parse_header(block: bytes, offset: int) -> Member | None:
    """Decode a 512-byte header; None for an all-zero (end) block."""
    if block == b"\0" * BLOCK:
        return None
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if stored != unsigned:
        signed = sum((b - 256 if b > 127 else b) for b in block[:148] + block[156:]) + 256
        if stored != signed:
            raise TarError(f"corrupt tar header: checksum mismatch at byte {offset}")
    name = _string(block[:100])
    magic = block[257:263]
    if magic == b"ustar\0" and block[345:500].strip(b"\0"):
        name = _string(block[345:500]) + "/" + name
    typeflag = block[156:157]
    if typeflag == b"\0":
        typeflag = b"0"
    member = Member(
        name=name, type=typeflag, size=_number(block[124:136], "size"),
        mode=_number(block[100:108], "mode") & 0o7777, uid=_number(block[108:116], "uid"),
        gid=_number(block[116:124], "gid"), mtime=_number(block[136:148], "mtime"),
        linkname=_string(block[157:257]),
        uname=_string(block[265:297]), gname=_string(block[297:329]),
    )
    if typeflag in (b"3", b"4"):
        member.devmajor = _number(block[329:337], "devmajor")
        member.devminor = _number(block[337:345], "devminor")
    if not 0 <= member.size <= MAX_MEMBER:
        raise TarError(f"tar member '{name}' has an absurd size {member.size}")
    return member


def _parse_pax(data: bytes) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise TarError("corrupt pax header: record without length")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarError("corrupt pax header: bad record length") from None
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise TarError("corrupt pax header: bad record length")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise TarError("corrupt pax header: record without '='")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos = end
    return records


def _apply_pax(member: Member, pax: dict[str, bytes]) -> None:
    for key, value in pax.items():
        text = value.decode("utf-8", "surrogateescape")
        if key == "path":
            member.name = text
        elif key == "linkpath":
            member.linkname = text
        elif key in ("uname", "gname"):
            setattr(member, key, text)
        elif key in ("uid", "gid", "size", "mtime"):
            try:
                number = int(float(text)) if key == "mtime" else int(text)
            except (ValueError, OverflowError):
                raise TarError(f"corrupt pax header: bad {key} '{text}'") from None
            if key == "size" and not 0 <= number <= MAX_MEMBER:
                raise TarError(f"tar member '{member.name}' has an absurd size {number}")
            setattr(member, key, number)
        elif key.startswith("SCHILY.xattr."):
            member.xattrs[key[len("SCHILY.xattr."):]] = value


class _Reader:
    """Buffered exact reads over a chunk iterator."""

    __slots__ = ("chunks", "buf", "pos", "offset", "name")

    def __init__(self, chunks: Iterable[bytes], name: str | None = None) -> None:
        self.name = name
        self.chunks = iter(chunks)
        self.buf = b""
        self.pos = 0
        self.offset = 0

    def read(self, n: int) -> bytes:
        """Exactly n bytes, or fewer only at the end of the stream."""
        if self.pos + n <= len(self.buf):
            out = self.buf[self.pos:self.pos + n]
            self.pos += n
            self.offset += n
            return out
        parts = [self.buf[self.pos:]]
        have = len(parts[0])
        while have < n:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out = data[:n]
        self.buf = data
        self.pos = len(out)
        self.offset += len(out)
        return out

    def pieces(self, n: int) -> Iterator[bytes]:
        """n bytes as a sequence of pieces (no large joins); truncation is an error."""
        while n:
            if self.pos >= len(self.buf):
                chunk = next(self.chunks, None)
                if chunk is None:
                    raise _in(self.name, TarError("tar archive is truncated (member data missing)"))
                self.buf, self.pos = chunk, 0
            piece = self.buf[self.pos:self.pos + n] if self.pos or len(self.buf) > n else self.buf
            self.pos += len(piece)
            self.offset += len(piece)
            n -= len(piece)
            yield piece


def _next_member(read, offset_of) -> Member | None:
    """Shared header loop: handles GNU long names and pax headers; None at the end."""
    long_name = long_link = None
    pax: dict[str, bytes] = {}
    global_pax: dict[str, bytes] = {}
    while True:
        start = offset_of()
        block = read(BLOCK)
        if len(block) < BLOCK:
            if not block:
                return None  # archives without end blocks (skopeo's) are accepted
            raise TarError("tar archive is truncated (partial header)")
        member = parse_header(block, start)
        if member is None:
            return None
        if member.type in (b"L", b"K", b"x", b"g"):
            if member.size > MAX_META:
                raise TarError("tar archive has an oversized long-name or pax header")
            data = read(member.size + (-member.size % BLOCK))
            if len(data) < member.size:
                raise TarError("tar archive is truncated (inside a header)")
            data = data[:member.size]
            if member.type == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif member.type == b"K":
                long_link = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif member.type == b"x":
                pax.update(_parse_pax(data))
            else:
                global_pax.update(_parse_pax(data))
            continue
        if long_name is not None:
            member.name = long_name
        if long_link is not None:
            member.linkname = long_link
        if pax:
            _apply_pax(member, pax)
        member.offset = offset_of()
        return member


class TarStream:
    """Iterate a tar given as chunks: ``for member, data in TarStream(chunks, name)`` where
    ``data`` is an iterator of the member's bytes; unread data is skipped automatically.
    ``name`` (the layer or archive) prefixes every error about malformed tar data."""

    def __init__(self, chunks: Iterable[bytes], name: str | None = None) -> None:
        self._r = _Reader(chunks, name)

    def __iter__(self) -> Iterator[tuple[Member, Iterator[bytes]]]:
        r = self._r
        while True:
            try:
                member = _next_member(r.read, lambda: r.offset)
            except TarError as e:
                raise _in(r.name, e) from None
            if member is None:
                # read the rest (record padding): a verifying source checks its digest at the end
                for _ in r.chunks:
                    pass
                return
            size = member.size if member.type not in (b"1", b"2", b"3", b"4", b"5", b"6") else 0
            data = r.pieces(size)
            yield member, data
            for _ in data:  # drain what the consumer left
                pass
            pad = -size % BLOCK
            if pad and len(r.read(pad)) < pad:
                raise _in(r.name, TarError("tar archive is truncated (member padding missing)"))


def index_tar_file(path: str, name: str | None = None) -> list[Member]:
    """Members of an uncompressed tar file with their data offsets (seeking past data);
    errors name the file as ``name`` (default: ``path``)."""
    import os

    label = f"'{name or path}'"
    members: list[Member] = []
    total = os.path.getsize(path)
    with open(path, "rb") as f:
        while True:
            try:
                member = _next_member(f.read, f.tell)
            except TarError as e:
                raise _in(label, e) from None
            if member is None:
                return members
            size = member.size if member.type not in (b"1", b"2", b"3", b"4", b"5", b"6") else 0
            if member.offset + size > total:
                raise TarError(f"{label}: tar archive is truncated: member '{member.name}' "
                               f"needs {size} bytes, the file ends first")
            f.seek(size + (-size % BLOCK), 1)
            members.append(member)


def safe_relative(name: str, what: str = "tar member") -> str:
    """Normalise an archive name to a relative path ('' for the root); names with ``..``
    components are errors; a leading ``/`` is dropped (upstream layers use absolute names,
    which every runtime extracts relative to the root)."""
    if "\0" in name:
        raise NixliteError(f"{what} name contains a NUL byte")
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise NixliteError(f"{what} '{name}' has a '..' component")
        parts.append(part)
    return posixpath.join(*parts) if parts else ""
