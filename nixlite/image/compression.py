"""Layer (de)compression over chunk streams: gzip (pigz -nT bytes), zstd, none.

``gzip-rsyncable`` (pigz -nTR bytes, today's buildLayeredImage ``compressor = "gz"``) is
accepted for compressing whole archives; it decompresses as plain gzip.

Decompression is defensive: truncated or corrupt input and trailing garbage are
``NixliteError``s, and output is produced in bounded pieces so a compression bomb cannot
exhaust memory (callers that write to disk impose their own size limits).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from nixlite.errors import NixliteError

OUT_PIECE = 1 << 20


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
    raise NixliteError(f"unknown compression '{kind}'")


def _zstd_compress(chunks: Iterable[bytes], level: int) -> Iterator[bytes]:
    import zstandard

    # with a content checksum, as the zstd command line (upstream's compressor) writes it
    cobj = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    for chunk in chunks:
        out = cobj.compress(chunk)
        if out:
            yield out
    yield cobj.flush()


def decompress_chunks(chunks: Iterable[bytes], kind: str) -> Iterator[bytes]:
    if kind == "gzip-rsyncable":
        kind = "gzip"
    if kind == "none":
        return iter(chunks)
    if kind == "gzip":
        return _gunzip(chunks)
    if kind == "zstd":
        return _unzstd(chunks)
    raise NixliteError(f"unknown compression '{kind}'")


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
        raise NixliteError(f"corrupt gzip data: {e}") from None
    if not seen_any:
        raise NixliteError("gzip data is empty")
    if not d.eof:
        raise NixliteError("gzip data is truncated (unexpected end of stream)")


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    d = dctx.decompressobj()
    seen_any = False
    try:
        for chunk in chunks:
            while chunk:
                seen_any = True
                out = d.decompress(chunk)
                if out:
                    yield out
                chunk = d.unused_data if d.eof else b""
                if chunk:
                    d = dctx.decompressobj()
    except zstandard.ZstdError as e:
        raise NixliteError(f"corrupt zstd data: {e}") from None
    if not seen_any:
        raise NixliteError("zstd data is empty")
    if not d.eof:
        raise NixliteError("zstd data is truncated (unexpected end of frame)")
