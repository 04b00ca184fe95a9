"""gzip byte-identical to ``pigz -nT`` (what the seed's buildLayeredImage pipes its stream into)
and to ``pigz -nTR`` (--rsyncable, today's default).

pigz cuts the input into 128 KiB chunks and deflates each independently (raw deflate, level 6,
window 15, memLevel 8), presetting the dictionary with the last 32 KiB of the previous chunk;
every chunk but the last ends on a byte boundary (Z_BLOCK, then either Z_SYNC_FLUSH when the
pending bit count is odd or empty static blocks primed until aligned).  Because each chunk
depends only on input bytes, the output does not depend on pigz's thread count — and we can
compress chunks in parallel threads too (ctypes releases the GIL during the zlib calls).

With --rsyncable, pigz also cuts blocks where a 12-bit rolling hash of the input hits a
fixed value, and fills each job only up to its last hit; ``_rsync_jobs`` replays its buffer
handling exactly (the cut points are computed for whole buffers at once).

Python's ``zlib`` module lacks ``deflatePending`` and ``deflatePrime``, so this drives the
system ``libz.so.1`` (the zlib pigz links against) through ctypes.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import os
import struct
import zlib
from collections.abc import Iterable, Iterator

from nixlite.errors import NixliteError
from nixlite.image.threads import worker_pool

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

    def job(self, data: bytes, dictionary: bytes | None, blocks: list[int] | None,
            more: bool) -> bytes:
        """Deflate one pigz job exactly as pigz's compress thread does: each block ends on
        a byte boundary (Z_BLOCK, then a sync marker or primed empty static blocks), except
        the very last block of the stream, which finishes it."""
        lib, ref, strm = self.lib, self.ref, self.strm
        lib.deflateReset(ref)
        if dictionary:
            lib.deflateSetDictionary(ref, dictionary, len(dictionary))
        buf = ctypes.c_char_p(data)  # keeps the bytes alive while zlib reads them
        base = ctypes.cast(buf, ctypes.c_void_p).value or 0
        parts: list[bytes] = []
        bits = ctypes.c_int()
        left = len(data)
        for size in blocks or (left,):
            strm.next_in = base + len(data) - left
            strm.avail_in = size
            left -= size
            if left or more:
                self._run(Z_BLOCK, parts)
                lib.deflatePending(ref, None, ctypes.byref(bits))
                if bits.value & 1:
                    self._run(Z_SYNC_FLUSH, parts)
                elif bits.value & 7:
                    while bits.value & 7:
                        lib.deflatePrime(ref, 10, 2)
                        lib.deflatePending(ref, None, ctypes.byref(bits))
                    self._run(Z_BLOCK, parts)
            else:
                self._run(Z_FINISH, parts)
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


Job = tuple  # (data, dictionary or None, block lengths or None, more)


def _plain_jobs(chunks: Iterable[bytes]) -> Iterator[Job]:
    """pigz's jobs without --rsyncable: 128 KiB each, dictionary from the previous one."""
    pieces = _rechunk(chunks)
    current = next(pieces, b"")
    previous: bytes | None = None
    while True:
        following = next(pieces, None)
        yield current, previous[-DICT:] if previous else None, None, following is not None
        if following is None:
            return
        previous, current = current, following


RSYNC_MASK = 0xFFF  # RSYNCBITS = 12
RSYNC_HIT = RSYNC_MASK >> 1
_LANE_MASKS: dict[int, tuple[int, int]] = {}


def _lane_masks(n: int) -> tuple[int, int]:
    """(a 1 in the low bit of each of n byte lanes, all n lanes full) for a length n."""
    masks = _LANE_MASKS.get(n)
    if masks is None:
        masks = (int.from_bytes(b"\x01" * n, "little"), (1 << (8 * n)) - 1)
        if len(_LANE_MASKS) < 8:
            _LANE_MASKS[n] = masks
    return masks


def _rsync_cuts(ext: bytes, start: int) -> Iterator[int]:
    """Indices i >= start (start >= 11) where pigz's rolling hash, after byte ext[i], equals
    RSYNC_HIT.  The hash is h = ((h << 1) ^ byte) & 0xFFF, so bit j+1 at i is bit j at i-1
    xor bit j+1 of byte i: computed for all positions at once on big integers with one
    8-bit lane per byte (12-byte window, so valid from index 11)."""
    n = len(ext)
    ones, full = _lane_masks(n)
    whole = int.from_bytes(ext, "little")
    h = whole & ones  # bit 0 of the hash at every position
    acc = h
    for j in range(1, 12):
        h <<= 8
        if j < 8:
            h ^= (whole >> j) & ones
        if j < 11:
            acc &= h
        else:
            acc &= ~h
    raw = (acc & full).to_bytes(n, "little")
    pos = raw.find(1, start)
    while pos >= 0:
        yield pos
        pos = raw.find(1, pos + 1)


class _RsyncReader:
    """pigz's readn() over a chunk stream, recording the stream offsets just after every
    rolling-hash hit (the rsyncable cut points)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.it = iter(chunks)
        self.pending = bytearray()
        self.offset = 0  # stream offset of the next byte read
        self.tail = b""  # the last (up to) 11 bytes read
        self.hash = RSYNC_HIT
        self.cuts: collections.deque[int] = collections.deque()

    def readn(self, n: int) -> tuple[int, bytes]:
        while len(self.pending) < n:
            piece = next(self.it, None)
            if piece is None:
                break
            self.pending += piece
        data = bytes(self.pending[:n])
        del self.pending[:n]
        start = self.offset
        i = 0
        while start + i < 11 and i < len(data):  # the first bytes also see the initial hash
            self.hash = ((self.hash << 1) ^ data[i]) & RSYNC_MASK
            if self.hash == RSYNC_HIT:
                self.cuts.append(start + i + 1)
            i += 1
        if i < len(data):
            ext = self.tail + data
            shift = start - len(self.tail)
            for index in _rsync_cuts(ext, max(11, len(self.tail) + i)):
                self.cuts.append(shift + index + 1)
        self.tail = (self.tail + data)[-11:]
        self.offset += len(data)
        return start, data

    def cuts_through(self, end: int) -> list[int]:
        """Consume the cut points up to ``end`` (scanning only moves forward)."""
        out = []
        while self.cuts and self.cuts[0] <= end:
            out.append(self.cuts.popleft())
        return out


def _rsync_jobs(chunks: Iterable[bytes]) -> Iterator[Job]:
    """pigz's jobs with --rsyncable, simulating parallel_compress's buffers: each job is
    filled towards 128 KiB and cut at the last hash hit, its blocks split at every hit."""
    reader = _RsyncReader(chunks)
    nxt_start, nxt = reader.readn(CHUNK)
    hold: tuple[int, bytes] | None = None
    scan = 0
    left = 0
    history = b""  # the last 32 KiB before the current job
    while True:
        curr_start, curr = nxt_start, nxt
        if hold is not None:
            (nxt_start, nxt), hold = hold, None
        else:
            nxt_start, nxt = reader.readn(CHUNK)
        lens: list[int] | None = None
        if curr:
            lens = []
            if left == 0:
                last = curr_start
                for cut in reader.cuts_through(curr_start + len(curr)):
                    lens.append(cut - last)
                    last = cut
                left = curr_start + len(curr) - last
                scan = curr_start + len(curr)
            last = nxt_start
            end = nxt_start + min(CHUNK - len(curr), len(nxt))
            for cut in reader.cuts_through(end):
                lens.append(cut - last + left)
                left = 0
                last = cut
            scan = max(scan, end)
            take = (last if lens else scan) - nxt_start
            if take:
                curr += nxt[:take]
                nxt, nxt_start = nxt[take:], nxt_start + take
                left = 0
            elif lens and left and nxt:
                hold = (nxt_start, nxt)
                nxt_start, nxt = curr_start + len(curr) - left, curr[len(curr) - left:]
                curr = curr[:len(curr) - left]
            else:
                left = 0
            blocks = lens + ([len(curr) - sum(lens)] if len(curr) > sum(lens) else [])
            lens = blocks
        more = bool(nxt)
        yield curr, history or None, lens, more
        if not more:
            return
        history = (history + curr)[-DICT:]


def pigz_chunks(chunks: Iterable[bytes], level: int = 6, threads: int | None = None,
                rsyncable: bool = False) -> Iterator[bytes]:
    """Compress a stream of byte pieces into the exact bytes of ``pigz -nT -<level>``
    (``rsyncable``: ``pigz -nTR``, today's buildLayeredImage default).

    ``threads`` > 1 deflates several jobs at once (the result is the same bytes)."""
    if threads is None:
        threads = min(4, os.cpu_count() or 1)
    if not 1 <= level <= 9:
        raise NixliteError(f"gzip level {level} is out of range 1-9")
    xfl = b"\x02" if level == 9 else b"\x04" if level == 1 else b"\x00"  # pigz's XFL choice
    yield HEADER[:8] + xfl + HEADER[9:]
    jobs = _rsync_jobs(chunks) if rsyncable else _plain_jobs(chunks)
    totals = _Totals()
    if threads <= 1:
        deflater = _Deflater(level)
        try:
            for data, dictionary, blocks, more in jobs:
                totals.crc = zlib.crc32(data, totals.crc)
                totals.length += len(data)
                yield deflater.job(data, dictionary, blocks, more)
        finally:
            deflater.close()
    else:
        yield from _parallel(jobs, level, threads, totals)
    yield struct.pack("<II", totals.crc & 0xFFFFFFFF, totals.length & 0xFFFFFFFF)


class _Totals:
    __slots__ = ("crc", "length")

    def __init__(self) -> None:
        self.crc = 0
        self.length = 0


def _parallel(jobs: Iterator[Job], level: int, threads: int, totals: _Totals) -> Iterator[bytes]:
    import queue
    import threading

    local = threading.local()
    deflaters: list[_Deflater] = []
    lock = threading.Lock()

    def work(data: bytes, dictionary: bytes | None, blocks, more: bool) -> bytes:
        d = getattr(local, "deflater", None)
        if d is None:
            d = local.deflater = _Deflater(level)
            with lock:
                deflaters.append(d)
        return d.job(data, dictionary, blocks, more)

    pool = worker_pool(threads, "nixlite-gzip")
    inflight: queue.SimpleQueue = queue.SimpleQueue()
    count = 0
    try:
        for data, dictionary, blocks, more in jobs:
            totals.crc = zlib.crc32(data, totals.crc)
            totals.length += len(data)
            inflight.put(pool.submit(work, data, dictionary, blocks, more))
            count += 1
            if count > threads * 2:
                yield inflight.get().result()
                count -= 1
        while count:
            yield inflight.get().result()
            count -= 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for d in deflaters:
            d.close()


def pigz_bytes(data: bytes, level: int = 6, threads: int | None = None,
               rsyncable: bool = False) -> bytes:
    return b"".join(pigz_chunks((data,), level, threads, rsyncable))
