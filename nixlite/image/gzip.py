"""gzip byte-identical to ``pigz -nT`` (what the seed's buildLayeredImage pipes its stream into).

pigz cuts the input into 128 KiB chunks and deflates each independently (raw deflate, level 6,
window 15, memLevel 8), presetting the dictionary with the last 32 KiB of the previous chunk;
every chunk but the last ends on a byte boundary (Z_BLOCK, then either Z_SYNC_FLUSH when the
pending bit count is odd or empty static blocks primed until aligned).  Because each chunk
depends only on input bytes, the output does not depend on pigz's thread count — and we can
compress chunks in parallel threads too (ctypes releases the GIL during the zlib calls).

Python's ``zlib`` module lacks ``deflatePending`` and ``deflatePrime``, so this drives the
system ``libz.so.1`` (the zlib pigz links against) through ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from nixlite.errors import NixliteError

CHUNK = 131072
DICT = 32768
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"

Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FINISH, Z_BLOCK = 0, 2, 4, 5
Z_OK, Z_STREAM_END, Z_BUF_ERROR = 0, 1, -5


class _ZStream(ctypes.Structure):
    _fields_ = [
        ("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_uint), ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_uint), ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p), ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int), ("adler", ctypes.c_ulong), ("reserved", ctypes.c_ulong),
    ]


_lib = None


def _zlib():
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("z") or "libz.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise NixliteError(f"gzip compression needs the system zlib (libz.so.1): {e}") from None
        p = ctypes.POINTER(_ZStream)
        lib.zlibVersion.restype = ctypes.c_char_p
        lib.deflateInit2_.argtypes = [p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.deflate.argtypes = [p, ctypes.c_int]
        lib.deflateEnd.argtypes = [p]
        lib.deflateReset.argtypes = [p]
        lib.deflateSetDictionary.argtypes = [p, ctypes.c_char_p, ctypes.c_uint]
        lib.deflatePending.argtypes = [p, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_int)]
        lib.deflatePrime.argtypes = [p, ctypes.c_int, ctypes.c_int]
        lib.deflateBound.argtypes = [p, ctypes.c_ulong]
        lib.deflateBound.restype = ctypes.c_ulong
        _lib = lib
    return _lib


class _Deflater:
    """One raw deflate stream, reused (deflateReset) for chunk after chunk."""

    __slots__ = ("lib", "strm", "ref", "out", "out_size")

    def __init__(self, level: int) -> None:
        self.lib = _zlib()
        self.strm = _ZStream()
        self.ref = ctypes.byref(self.strm)
        rc = self.lib.deflateInit2_(self.ref, level, 8, -15, 8, 0, self.lib.zlibVersion(),
                                    ctypes.sizeof(_ZStream))
        if rc != Z_OK:
            raise NixliteError(f"zlib deflateInit2 failed ({rc})")
        # Room for a whole chunk's worst case plus flush markers: one deflate call per step.
        self.out_size = self.lib.deflateBound(self.ref, CHUNK) + 64
        self.out = ctypes.create_string_buffer(self.out_size)

    def close(self) -> None:
        self.lib.deflateEnd(self.ref)

    def _run(self, flush: int, parts: list[bytes]) -> None:
        strm, lib, out = self.strm, self.lib, self.out
        while True:
            strm.next_out = ctypes.addressof(out)
            strm.avail_out = self.out_size
            rc = lib.deflate(self.ref, flush)
            if rc not in (Z_OK, Z_STREAM_END, Z_BUF_ERROR):
                raise NixliteError(f"zlib deflate failed ({rc})")
            parts.append(ctypes.string_at(out, self.out_size - strm.avail_out))
            if strm.avail_out != 0:
                return

    def chunk(self, data: bytes, dictionary: bytes | None, last: bool) -> bytes:
        """Deflate one pigz chunk exactly as pigz's compress thread does."""
        lib, ref, strm = self.lib, self.ref, self.strm
        lib.deflateReset(ref)
        if dictionary:
            lib.deflateSetDictionary(ref, dictionary, len(dictionary))
        buf = ctypes.c_char_p(data)  # keeps the bytes alive while zlib reads them
        strm.next_in = ctypes.cast(buf, ctypes.c_void_p)
        strm.avail_in = len(data)
        parts: list[bytes] = []
        self._run(Z_NO_FLUSH, parts)
        if last:
            self._run(Z_FINISH, parts)
        else:
            self._run(Z_BLOCK, parts)
            bits = ctypes.c_int()
            lib.deflatePending(ref, None, ctypes.byref(bits))
            if bits.value & 1:
                self._run(Z_SYNC_FLUSH, parts)
            elif bits.value & 7:
                while bits.value & 7:
                    lib.deflatePrime(ref, 10, 2)
                    lib.deflatePending(ref, None, ctypes.byref(bits))
                self._run(Z_BLOCK, parts)
        del buf
        return b"".join(parts)


def _rechunk(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Regroup arbitrary input pieces into exact CHUNK-sized pieces (the last may be short)."""
    pending = bytearray()
    for piece in chunks:
        if not pending and len(piece) == CHUNK:
            yield bytes(piece)
            continue
        pending += piece
        if len(pending) >= CHUNK:
            view = memoryview(pending)
            whole = len(pending) - len(pending) % CHUNK
            for i in range(0, whole, CHUNK):
                yield bytes(view[i: i + CHUNK])
            view.release()
            del pending[:whole]
    if pending:
        yield bytes(pending)


def pigz_chunks(chunks: Iterable[bytes], level: int = 6, threads: int | None = None) -> Iterator[bytes]:
    """Compress a stream of byte pieces into the exact bytes of ``pigz -nT -<level>``.

    ``threads`` > 1 deflates several chunks at once (the result is the same bytes)."""
    if threads is None:
        threads = min(4, os.cpu_count() or 1)
    if not 1 <= level <= 9:
        raise NixliteError(f"gzip level {level} is out of range 1-9")
    xfl = b"\x02" if level == 9 else b"\x04" if level == 1 else b"\x00"  # pigz's XFL choice
    yield HEADER[:8] + xfl + HEADER[9:]
    crc = 0
    length = 0
    previous: bytes | None = None
    pieces = _rechunk(chunks)
    current = next(pieces, b"")
    if threads <= 1:
        deflater = _Deflater(level)
        try:
            while True:
                following = next(pieces, None)
                crc = zlib.crc32(current, crc)
                length += len(current)
                yield deflater.chunk(current, previous[-DICT:] if previous else None, following is None)
                if following is None:
                    break
                previous, current = current, following
        finally:
            deflater.close()
    else:
        yield from _parallel(pieces, current, level, threads, _Totals())
        return
    yield struct.pack("<II", crc & 0xFFFFFFFF, length & 0xFFFFFFFF)


class _Totals:
    __slots__ = ("crc", "length")

    def __init__(self) -> None:
        self.crc = 0
        self.length = 0


def _parallel(pieces: Iterator[bytes], first: bytes, level: int, threads: int,
              totals: _Totals) -> Iterator[bytes]:
    import queue
    import threading

    local = threading.local()
    deflaters: list[_Deflater] = []
    lock = threading.Lock()

    def work(data: bytes, dictionary: bytes | None, last: bool) -> bytes:
        d = getattr(local, "deflater", None)
        if d is None:
            d = local.deflater = _Deflater(level)
            with lock:
                deflaters.append(d)
        return d.chunk(data, dictionary, last)

    pool = ThreadPoolExecutor(max_workers=threads)
    inflight: queue.SimpleQueue = queue.SimpleQueue()
    count = 0
    try:
        current: bytes = first
        previous: bytes | None = None
        while True:
            following = next(pieces, None)
            totals.crc = zlib.crc32(current, totals.crc)
            totals.length += len(current)
            inflight.put(pool.submit(work, current, previous[-DICT:] if previous else None,
                                     following is None))
            count += 1
            if count > threads * 2:
                yield inflight.get().result()
                count -= 1
            if following is None:
                break
            previous, current = current, following
        while count:
            yield inflight.get().result()
            count -= 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for d in deflaters:
            d.close()
    yield struct.pack("<II", totals.crc & 0xFFFFFFFF, totals.length & 0xFFFFFFFF)


def pigz_bytes(data: bytes, level: int = 6, threads: int | None = None) -> bytes:
    return b"".join(pigz_chunks((data,), level, threads))
