"""``tar -C DIR -xpf ARCHIVE`` for the docker-archives dockerTools unpacks (a fromImage, the
images mergeImages joins), safely: nothing is written outside ``DIR``.

Members with ``..`` components, symbolic links whose target leaves ``DIR``, members written
through a symbolic link, hard links to outside, devices, and archives that decompress beyond
the configured bound are all errors naming the archive; the caller works in its build
directory, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable, Iterator

from nixlite.errors import NixliteError
from nixlite.image.compression import decompress_chunks, sniff_compression
from nixlite.image.files import read_chunks
from nixlite.image.tarreader import TarStream, safe_relative


def archive_chunks(path: str, limit: int) -> Iterator[bytes]:
    """The plain tar bytes of an archive file that may be gzip- or zstd-compressed."""
    with open(path, "rb") as f:
        kind = sniff_compression(f.read(4))
        f.seek(0)
        yield from decompress_chunks(read_chunks(f, None, path), kind, limit)


def _inside(name: str, target: str) -> bool:
    if target.startswith("/"):
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    return joined != ".." and not joined.startswith("../")


def _check_parents(root: str, rel: str, label: str) -> None:
    path = root
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise NixliteError(f"{label}: member '{rel}' would be written through the symbolic "
                               f"link '{part}'")


def extract_archive(path: str, dest: str, label: str, limit: int) -> list[str]:
    """Extract into ``dest`` (modes kept, owners not); returns the member names extracted.
    At most ``limit`` bytes of content (and of decompressed archive) are accepted."""
    budget = limit
    names = []
    for member, data in TarStream(archive_chunks(path, limit), label):
        rel = safe_relative(member.name, f"{label}: member")
        if not rel:
            continue
        _check_parents(dest, rel, label)
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target) and not (member.is_dir and os.path.isdir(target)):
            if os.path.isdir(target) and not os.path.islink(target):
                raise NixliteError(f"{label}: member '{rel}' would replace a directory")
            os.unlink(target)
        if member.is_dir:
            os.makedirs(target, exist_ok=True)
            os.chmod(target, member.mode | 0o700)
        elif member.is_file:
            budget -= member.size
            if budget < 0:
                raise NixliteError(f"{label}: archive holds more than the {limit} bytes "
                                   "allowed (NIXLITE_MAX_DECOMPRESSED_SIZE)")
            with open(target, "wb") as out:
                for piece in data:
                    out.write(piece)
            os.chmod(target, member.mode)
        elif member.type == b"2":
            if not _inside(rel, member.linkname):
                raise NixliteError(f"{label}: symbolic link '{rel}' points outside the archive "
                                   f"('{member.linkname}')")
            os.symlink(member.linkname, target)
        elif member.type == b"1":
            source = os.path.join(dest, safe_relative(member.linkname, f"{label}: link target"))
            _check_parents(dest, safe_relative(member.linkname, "link target"), label)
            if not os.path.isfile(source) or os.path.islink(source):
                raise NixliteError(f"{label}: hard link '{rel}' to '{member.linkname}', "
                                   "which is not a file extracted before it")
            os.link(source, target)
        else:
            raise NixliteError(f"{label}: member '{rel}' has unsupported type {member.type!r}")
        names.append(rel)
    return names


def make_read_only(root: str) -> None:
    """``chmod -R ug+rw`` then ``chmod -R a-w`` (the seed's two passes over the image dir)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            _strip_write(os.path.join(dirpath, name))
    _strip_write(root)


def _strip_write(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    os.chmod(path, (stat.S_IMODE(st.st_mode) | 0o660) & ~0o222)


def tar_names(chunks: Iterable[bytes], label: str) -> set[str]:
    """The seed's ``ls_tar``: member names made absolute, normalised, without the root."""
    names = set()
    for member, _ in TarStream(chunks, label):
        normal = posixpath.normpath("/" + member.name)
        if normal != "/":
            names.add(normal)
    return names
