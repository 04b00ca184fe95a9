"""Layer (de)compression over chunk streams: gzip (pigz -nT bytes), zstd, none.

``gzip-rsyncable`` (pigz -nTR bytes, today's buildLayeredImage ``compressor = "gz"``) is
accepted for compressing whole archives; it decompresses as plain gzip.

Decompression is defensive: truncated or corrupt input and trailing garbage are
``NixliteError``s, output is produced in bounded pieces so a compression bomb cannot exhaust
memory, and one stream may not decompress to more than ``limit`` bytes, so a bomb cannot fill
the disk either: a few kilobytes of gzip can stand for terabytes of zeros.  The limit is a
parameter of every reader (``max_decompressed=``), 16 GiB unless the caller says otherwise;
``limit_from_environment`` gives the one ``NIXLITE_MAX_DECOMPRESSED_SIZE`` asks for.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Iterator

from nixlite.errors import NixliteError

OUT_PIECE = 1 << 20
ZSTD_SLICE = 4096  # at most 128 MiB of output per decompress call
DEFAULT_MAX_DECOMPRESSED = 16 << 30
LIMIT_VARIABLE = "NIXLITE_MAX_DECOMPRESSED_SIZE"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, what: str = "size") -> int:
    """``123``, ``64M``, ``16G``, ``1T`` (binary units, optional ``iB``/``B``) as bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text, re.I)
    if not m:
        raise NixliteError(f"invalid {what} '{text}' (expected a number of bytes, e.g. 512M or 16G)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def limit_from_environment(environ=os.environ) -> int:
    """The decompression limit ``$NIXLITE_MAX_DECOMPRESSED_SIZE`` sets, else the default."""
    text = environ.get(LIMIT_VARIABLE)
    return parse_size(text, LIMIT_VARIABLE) if text else DEFAULT_MAX_DECOMPRESSED


def _format_size(n: int) -> str:
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def _bounded(pieces: Iterator[bytes], kind: str, limit: int) -> Iterator[bytes]:
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > limit:
            raise CompressionError(
                f"{kind} data decompresses to more than {_format_size(limit)}, the limit for one "
                f"layer or archive (a compression bomb?); raise it with "
                f"--max-decompressed-size or {LIMIT_VARIABLE}")
        yield piece


class CompressionError(NixliteError):
    """Corrupt, truncated or oversized compressed data; readers add where it came from."""


GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def sniff_compression(head: bytes) -> str:
    """'gzip', 'zstd' or 'none' from the first bytes of a blob or archive."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:4] == ZSTD_MAGIC:
        return "zstd"
    return "none"


def compress_chunks(chunks: Iterable[bytes], kind: str, level: int | None = None) -> Iterator[bytes]:
    if kind == "none":
        return iter(chunks)
    if kind in ("gzip", "gzip-rsyncable"):
        from nixlite.image.gzip import pigz_chunks

        return pigz_chunks(chunks, 6 if level is None else level,
                           rsyncable=kind == "gzip-rsyncable")
    if kind == "zstd":
        return _zstd_compress(chunks, 3 if level is None else level)
    raise CompressionError(f"unknown compression '{kind}'")


def _zstd_compress(chunks: Iterable[bytes], level: int) -> Iterator[bytes]:
    import zstandard

    # with a content checksum, as the zstd command line (upstream's compressor) writes it
    cobj = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    for chunk in chunks:
        out = cobj.compress(chunk)
        if out:
            yield out
    yield cobj.flush()


def decompress_chunks(chunks: Iterable[bytes], kind: str,
                      limit: int = DEFAULT_MAX_DECOMPRESSED) -> Iterator[bytes]:
    """Decompress a stream; more than ``limit`` bytes of output is an error raised before
    they are yielded."""
    if kind == "gzip-rsyncable":
        kind = "gzip"
    if kind == "none":
        return iter(chunks)
    if kind == "gzip":
        pieces = _gunzip(chunks)
    elif kind == "zstd":
        pieces = _unzstd(chunks)
    else:
        raise CompressionError(f"unknown compression '{kind}'")
    return _bounded(pieces, kind, limit)


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress one or more concatenated gzip members."""
    d = zlib.decompressobj(wbits=31)
    seen_any = False
    try:
        for chunk in chunks:
            while chunk:
                seen_any = True
                out = d.decompress(chunk, OUT_PIECE)
                if out:
                    yield out
                while d.unconsumed_tail:
                    out = d.decompress(d.unconsumed_tail, OUT_PIECE)
                    if out:
                        yield out
                if d.eof:
                    chunk = d.unused_data
                    if chunk and chunk.strip(b"\0") == b"":
                        chunk = b""  # zero padding after the member (tape-style), ignored as gzip does
                    elif chunk:
                        d = zlib.decompressobj(wbits=31)
                else:
                    chunk = b""
    except zlib.error as e:
        raise CompressionError(f"corrupt gzip data: {e}") from None
    if not seen_any:
        raise CompressionError("gzip data is empty")
    if not d.eof:
        raise CompressionError("gzip data is truncated (unexpected end of stream)")


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    d = dctx.decompressobj()
    seen_any = False
    pending: list[bytes] = []
    size = 0
    try:
        for chunk in chunks:
            # ZstdDecompressionObj has no output bound and zstd reaches ratios of 32768:1,
            # so input goes in small slices; the output is regrouped into ~1 MiB pieces
            view = memoryview(chunk)
            while view:
                seen_any = True
                out = d.decompress(view[:ZSTD_SLICE])
                view = view[ZSTD_SLICE:]
                if out:
                    pending.append(out)
                    size += len(out)
                    if size >= OUT_PIECE:
                        yield b"".join(pending)
                        pending, size = [], 0
                if d.eof:
                    view = memoryview(d.unused_data + bytes(view))
                    if view:
                        d = dctx.decompressobj()
        if pending:
            yield b"".join(pending)
    except zstandard.ZstdError as e:
        raise CompressionError(f"corrupt zstd data: {e}") from None
    if not seen_any:
        raise CompressionError("zstd data is empty")
    if not d.eof:
        raise CompressionError("zstd data is truncated (unexpected end of frame)")
