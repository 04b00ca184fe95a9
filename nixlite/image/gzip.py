"""gzip byte-identical to ``pigz -nT`` (what the seed's buildLayeredImage pipes its stream into)
and to ``pigz -nTR`` (--rsyncable, today's default).

pigz cuts the input into 128 KiB chunks and deflates each independently (raw deflate, level 6,
window 15, memLevel 8), presetting the dictionary with the last 32 KiB of the previous chunk;
every chunk but the last ends on a byte boundary (Z_BLOCK, then either Z_SYNC_FLUSH when the
pending bit count is odd or empty static blocks primed until aligned).  Because each chunk
depends only on input bytes, the output does not depend on pigz's thread count — and we can
compress chunks in parallel threads too (ctypes releases the GIL during the zlib calls).

With --rsyncable, pigz also cuts blocks where a 12-bit rolling hash of the input hits a
fixed value, and fills each job only up to its last hit; ``_rsync_plan`` replays its buffer
handling exactly, on offsets (the cut points are computed for whole buffers at once).

So a job's deflated bytes depend only on (level, its dictionary, its bytes and block cuts,
whether more follows): ``JobCache`` keeps them, and a rebuild recompresses only the jobs
whose input changed.  The input may name big pieces by content instead of giving their
bytes (``Span``: a layer by its diff_id), and a job is first looked up by the spans and
offsets under it, so a job over unchanged spans at unchanged offsets is never read.  The
jobs' places come from a fixed 128 KiB grid, or with --rsyncable from each span's cut
points, also kept (after a change the cuts fall back into step, and so do the jobs).

Python's ``zlib`` module lacks ``deflatePending``, ``deflatePrime`` and ``crc32_combine``, so
this drives the system ``libz.so.1`` (the zlib pigz links against) through ctypes.
"""

from __future__ import annotations

import array
import collections
import ctypes
import ctypes.util
import hashlib
import os
import struct
import zlib
from collections.abc import Iterable, Iterator

from nixlite.errors import NixliteError
from nixlite.image.threads import worker_pool

CHUNK = 131072
DICT = 32768
TAIL = CHUNK + DICT  # what a job reaching past a span's end may need of it
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
        lib.crc32_combine.argtypes = [ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long]
        lib.crc32_combine.restype = ctypes.c_ulong
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
    rolling-hash hit (the rsyncable cut points) and keeping the bytes a job may still need."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.it = iter(chunks)
        self.pending = bytearray()  # read from the chunks, not yet by readn
        self.offset = 0  # stream offset of the next byte readn returns
        self.kept = bytearray()  # bytes from kept_start up to offset
        self.kept_start = 0
        self.tail = b""  # the last (up to) 11 bytes read
        self.hash = RSYNC_HIT
        self.cuts: collections.deque[int] = collections.deque()

    def readn(self, n: int) -> tuple[int, int]:
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
        self.kept += data
        return start, len(data)

    def take(self, start: int, end: int) -> bytes:
        """The bytes in [start, end); those before ``start`` are not kept any longer."""
        del self.kept[:start - self.kept_start]
        self.kept_start = start
        return bytes(self.kept[:end - start])

    def cuts_through(self, end: int) -> list[int]:
        """Consume the cut points up to ``end`` (scanning only moves forward)."""
        out = []
        while self.cuts and self.cuts[0] <= end:
            out.append(self.cuts.popleft())
        return out


def _rsync_plan(source) -> Iterator[tuple[int, int, list[int] | None, bool]]:
    """pigz's jobs with --rsyncable as (start, length, block lengths, more), simulating
    parallel_compress's buffers over ``source`` (``readn(n)`` → (start, length) and
    ``cuts_through(end)``): each job is filled towards 128 KiB and cut at the last hash
    hit, its blocks split at every hit."""
    nxt_start, nxt_len = source.readn(CHUNK)
    hold: tuple[int, int] | None = None
    scan = 0
    left = 0
    while True:
        curr_start, curr_len = nxt_start, nxt_len
        if hold is not None:
            (nxt_start, nxt_len), hold = hold, None
        else:
            nxt_start, nxt_len = source.readn(CHUNK)
        blocks: list[int] | None = None
        if curr_len:
            lens: list[int] = []
            if left == 0:
                last = curr_start
                for cut in source.cuts_through(curr_start + curr_len):
                    lens.append(cut - last)
                    last = cut
                left = curr_start + curr_len - last
                scan = curr_start + curr_len
            last = nxt_start
            end = nxt_start + min(CHUNK - curr_len, nxt_len)
            for cut in source.cuts_through(end):
                lens.append(cut - last + left)
                left = 0
                last = cut
            scan = max(scan, end)
            take = (last if lens else scan) - nxt_start
            if take:
                curr_len += take
                nxt_start, nxt_len = nxt_start + take, nxt_len - take
                left = 0
            elif lens and left and nxt_len:
                hold = (nxt_start, nxt_len)
                nxt_start, nxt_len = curr_start + curr_len - left, left
                curr_len -= left
            else:
                left = 0
            total = sum(lens)
            blocks = lens + ([curr_len - total] if curr_len > total else [])
        more = nxt_len > 0
        yield curr_start, curr_len, blocks, more
        if not more:
            return


def _rsync_jobs(chunks: Iterable[bytes]) -> Iterator[Job]:
    """pigz -R's jobs over a chunk stream, with their bytes."""
    reader = _RsyncReader(chunks)
    for start, length, blocks, more in _rsync_plan(reader):
        low = max(0, start - DICT)
        data = reader.take(low, start + length)
        yield data[start - low:], data[:start - low] or None, blocks, more


class Span:
    """Input bytes named by what they are: ``key`` identifies the content (equal keys, equal
    bytes: a layer's diff_id), ``size`` is its length and ``chunks()`` produces it.  With
    a ``JobCache`` and no --rsyncable, a span is read only for jobs not in the cache."""

    __slots__ = ("key", "size", "chunks")

    def __init__(self, key: str, size: int, chunks) -> None:
        self.key, self.size, self.chunks = key, size, chunks


class _Job:
    """A pigz job to deflate (``data``…), or already deflated (``done``, from the cache);
    ``key`` is the cache key of its bytes (None: no cache), ``alias`` a second key to file
    it under (its place among the spans)."""

    __slots__ = ("data", "dictionary", "blocks", "more", "key", "alias", "done", "crc", "length")

    def __init__(self, data: bytes | None, dictionary: bytes | None, blocks, more: bool,
                 key: str | None = None, done: bytes | None = None, crc: int = 0,
                 length: int = 0) -> None:
        self.data, self.dictionary, self.blocks, self.more = data, dictionary, blocks, more
        self.key, self.done, self.alias = key, done, None
        self.crc, self.length = (zlib.crc32(data), len(data)) if data is not None else (crc, length)


def _expand(pieces: Iterable) -> Iterator[bytes]:
    for piece in pieces:
        if isinstance(piece, Span):
            yield from piece.chunks()
        else:
            yield piece


def pigz_chunks(chunks: Iterable, level: int = 6, threads: int | None = None,
                rsyncable: bool = False, cache: JobCache | None = None) -> Iterator[bytes]:
    """Compress a stream of byte pieces (or ``Span``s) into the exact bytes of
    ``pigz -nT -<level>`` (``rsyncable``: ``pigz -nTR``, today's buildLayeredImage default).

    ``threads`` > 1 deflates several jobs at once (the result is the same bytes); ``cache``
    reuses the jobs deflated before."""
    if threads is None:
        threads = min(4, os.cpu_count() or 1)
    if not 1 <= level <= 9:
        raise NixliteError(f"gzip level {level} is out of range 1-9")
    xfl = b"\x02" if level == 9 else b"\x04" if level == 1 else b"\x00"  # pigz's XFL choice
    yield HEADER[:8] + xfl + HEADER[9:]
    if cache is not None:
        jobs: Iterator[_Job] = _keyed_jobs(chunks, level, cache, rsyncable)
    else:
        plain = _rsync_jobs(_expand(chunks)) if rsyncable else _plain_jobs(_expand(chunks))
        jobs = (_Job(*job) for job in plain)
    crc, length = 0, 0
    combine = _zlib().crc32_combine
    for job in _deflated(jobs, level, threads):
        crc = combine(crc, job.crc, job.length) if length else job.crc
        length += job.length
        if job.key is not None:
            cache.put(job.key, job.crc, job.length, job.done, job.alias)
        yield job.done
    if cache is not None:
        cache.close()
    yield struct.pack("<II", crc & 0xFFFFFFFF, length & 0xFFFFFFFF)


def _deflated(jobs: Iterator[_Job], level: int, threads: int) -> Iterator[_Job]:
    """The jobs in order, each with ``done`` filled in (``threads`` deflating at once)."""
    if threads <= 1:
        deflater = _Deflater(level)
        try:
            for job in jobs:
                if job.done is None:
                    job.done = deflater.job(job.data, job.dictionary, job.blocks, job.more)
                yield job
        finally:
            deflater.close()
        return
    import queue
    import threading

    local = threading.local()
    deflaters: list[_Deflater] = []
    lock = threading.Lock()

    def work(job: _Job) -> _Job:
        d = getattr(local, "deflater", None)
        if d is None:
            d = local.deflater = _Deflater(level)
            with lock:
                deflaters.append(d)
        job.done = d.job(job.data, job.dictionary, job.blocks, job.more)
        return job

    pool = worker_pool(threads, "nixlite-gzip")
    inflight: queue.SimpleQueue = queue.SimpleQueue()
    count = 0
    try:
        for job in jobs:
            inflight.put(pool.submit(work, job) if job.done is None else job)
            count += 1
            if count > threads * 2:
                yield _result(inflight.get())
                count -= 1
        while count:
            yield _result(inflight.get())
            count -= 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for d in deflaters:
            d.close()


def _result(item) -> _Job:
    return item if isinstance(item, _Job) else item.result()


def _content_key(job: _Job, level: int) -> str:
    h = hashlib.sha256(f"pigz {level} {int(job.more)} {job.blocks} "
                       f"{len(job.dictionary or b'')}\n".encode())
    h.update(job.dictionary or b"")
    h.update(job.data)
    return h.hexdigest()


def _look_up(job: _Job, level: int, cache: JobCache, alias: str | None = None) -> _Job:
    """Key a job by its bytes and take its deflated bytes from the cache if there (filing
    them under ``alias`` too); if not, they are kept under both once deflated."""
    key = _content_key(job, level)
    hit = cache.get(key)
    if hit is None:
        job.key, job.alias = key, alias
    else:
        job.done = hit[2]
        if alias is not None:
            cache.put(key, job.crc, job.length, None, alias)
    return job


def _spans_of(pieces: Iterable) -> tuple[list[tuple[int, Span]], int]:
    """The pieces as (offset, Span), byte pieces as spans named by their hash; the total."""
    spans: list[tuple[int, Span]] = []
    total = 0
    for piece in pieces:
        if not isinstance(piece, Span):
            if not piece:
                continue
            piece = Span(hashlib.sha256(piece).hexdigest(), len(piece), lambda p=piece: (p,))
        spans.append((total, piece))
        total += piece.size
    return spans, total


def _keyed_jobs(pieces: Iterable, level: int, cache: JobCache, rsyncable: bool) -> Iterator[_Job]:
    """pigz's jobs, each keyed by where it lies: the content keys and offsets of the spans
    under it and its dictionary, its block cuts, whether more follows.  A job found so is
    never read; the others are read and looked up by their bytes (a changed layer's bytes
    before the change), then kept under both keys.  Without --rsyncable the jobs are a
    fixed 128 KiB grid; with it their cuts come from ``_SpanCuts``.  Byte pieces are held
    until the end: give big content as spans."""
    spans, total = _spans_of(pieces)
    if rsyncable:
        plan: Iterator = _rsync_plan(_SpanCuts(spans, total, cache))
    else:
        plan = ((start, min(CHUNK, total - start), None, start + CHUNK < total)
                for start in range(0, total or 1, CHUNK))
    reader = _SpanReader(spans, cache)
    index = 0  # the first span that may overlap the current job's dictionary
    for start, length, blocks, more in plan:
        end = start + length
        low = max(0, start - DICT)
        while index < len(spans) and spans[index][0] + spans[index][1].size <= low:
            index += 1
        described = [f"pigz {level} {int(more)} {start - low} {blocks}"]
        i = index
        while i < len(spans) and spans[i][0] < end:
            offset, span = spans[i]
            described.append(f"{span.key} {max(low, offset) - offset} {min(end, offset + span.size) - offset}")
            i += 1
        where = hashlib.sha256("\n".join(described).encode()).hexdigest()
        hit = cache.get(where)
        if hit is not None:
            yield _Job(None, None, None, more, None, hit[2], hit[0], hit[1])
            continue
        data = reader.read(low, end)
        yield _look_up(_Job(data[start - low:], data[:start - low] or None, blocks, more),
                       level, cache, where)


class _SpanCuts:
    """``_rsync_plan``'s source over spans without reading them: each span's hash hits
    (but those in its first 11 bytes, which depend on what precedes it) are computed once
    and kept in the cache by its key."""

    def __init__(self, spans: list[tuple[int, Span]], total: int, cache: JobCache) -> None:
        self.spans = iter(spans)
        self.total = total
        self.cache = cache
        self.offset = 0
        self.covered = 0  # the cuts of every byte before this are known
        self.context = b""  # the (up to) 11 bytes before ``covered``
        self.cuts: collections.deque[int] = collections.deque()

    def readn(self, n: int) -> tuple[int, int]:
        start = self.offset
        self.offset += min(n, self.total - start)
        while self.covered < self.offset:
            self._add_span(*next(self.spans))
        return start, self.offset - start

    def cuts_through(self, end: int) -> list[int]:
        out = []
        while self.cuts and self.cuts[0] <= end:
            out.append(self.cuts.popleft())
        return out

    def _add_span(self, offset: int, span: Span) -> None:
        head, tail, inner = self._analysis(span)
        h = RSYNC_HIT  # the initial hash: only seen when offset < 11, as at a stream's start
        for byte in self.context:
            h = ((h << 1) ^ byte) & RSYNC_MASK
        for j, byte in enumerate(head):
            h = ((h << 1) ^ byte) & RSYNC_MASK
            if h == RSYNC_HIT:
                self.cuts.append(offset + j + 1)
        self.cuts.extend(offset + cut for cut in inner)
        self.context = (self.context + tail)[-11:]
        self.covered = offset + span.size

    def _analysis(self, span: Span) -> tuple[bytes, bytes, array.array]:
        """(first 11 bytes, last 11 bytes, cuts after bytes 11 on) of a span; spans longer
        than TAIL are analysed once and kept."""
        key = _derived_key("rsync-cuts", span.key)
        inner = array.array("Q")
        kept = self.cache.get(key) if span.size > TAIL else None
        if kept is not None:
            inner.frombytes(kept[2][22:])
            return kept[2][:11], kept[2][11:22], inner
        head, prefix, pos = b"", b"", 0
        for chunk in span.chunks():
            for i in range(0, len(chunk), CHUNK):
                piece = chunk[i:i + CHUNK]
                if len(head) < 11:
                    head = (head + piece)[:11]
                ext = prefix + piece
                base = pos - len(prefix)
                inner.extend(base + index + 1 for index in _rsync_cuts(ext, 11))
                prefix = ext[-11:]
                pos += len(piece)
        if span.size > TAIL:
            self.cache.put(key, 0, span.size, head + prefix + inner.tobytes())
        return head, prefix, inner


def _derived_key(kind: str, span_key: str) -> str:
    return hashlib.sha256(f"{kind} {span_key}".encode()).hexdigest()


class _SpanReader:
    """Reads byte ranges of a span sequence, moving only forward; spans wholly skipped are
    never read.  A range that starts inside a span reads that span from its start, unless
    it starts in its last ``TAIL`` bytes, remembered in ``cache`` from an earlier full read
    (all a job that reaches past the span's end can need of it)."""

    def __init__(self, spans: list[tuple[int, Span]], cache: JobCache) -> None:
        self.spans = spans
        self.cache = cache
        self.tail = bytearray()  # the last TAIL bytes read of the current span
        self.index = 0  # the span ``it`` reads
        self.it: Iterator[bytes] | None = None
        self.pos = 0  # stream offset just after what was taken from ``it``
        self.buf = bytearray()
        self.buf_start = 0

    def read(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        buf_end = self.buf_start + len(self.buf)
        if start >= buf_end:
            self.buf.clear()
            self._seek(start)
        else:
            del self.buf[:start - self.buf_start]
        self.buf_start = start
        while self.buf_start + len(self.buf) < end:
            self.buf += self._next()
        return bytes(self.buf[:end - start])

    def _seek(self, target: int) -> None:
        """Position the source so its next bytes start at ``target`` (spans that end
        before it are passed over unread)."""
        while self._span_end() <= target:
            self.index += 1
            self.it = None
        if self.it is None:
            offset, span = self.spans[self.index]
            end = offset + span.size
            if end - target <= TAIL:
                tail = self.cache.get_tail(span.key)
                if tail is not None and len(tail) == min(TAIL, span.size):
                    self.buf += tail[len(tail) - (end - target):]
                    self.index += 1
                    self.pos = end
                    return
            self.pos = offset
        while self.pos < target:
            chunk = self._next()
            if self.pos > target:
                self.buf += chunk[len(chunk) - (self.pos - target):]

    def _span_end(self) -> int:
        offset, span = self.spans[self.index]
        return offset + span.size

    def _next(self) -> bytes:
        while True:
            offset, span = self.spans[self.index]
            if self.it is None:
                self.it = iter(span.chunks())
                self.pos = offset
                self.tail.clear()
            chunk = next(self.it, None)
            if chunk is None:
                if self.pos != offset + span.size:
                    raise NixliteError(f"content {span.key} is {self.pos - offset} bytes, "
                                       f"expected {span.size}")
                self.cache.put_tail(span.key, bytes(self.tail))
                self.index += 1
                self.it = None
                continue
            self.pos += len(chunk)
            if self.pos > offset + span.size:
                raise NixliteError(f"content {span.key} is longer than its {span.size} bytes")
            self.tail += chunk[-TAIL:]
            if len(self.tail) > TAIL:
                del self.tail[:len(self.tail) - TAIL]
            return chunk


class JobCache:
    """Deflated pigz jobs by key, one file each under ``directory`` (written to a temporary
    name, then renamed), at most about ``limit`` bytes in all: when a compression adds
    more, the least recently used go first."""

    USAGE = "usage"

    def __init__(self, directory: str, limit: int) -> None:
        self.directory = directory
        self.limit = limit
        self.added = 0

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key[2:])

    def get(self, key: str) -> tuple[int, int, bytes] | None:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
            os.utime(path)
        except OSError:
            return None
        if len(data) < 12:
            return None
        crc, length = struct.unpack_from("<IQ", data)
        return crc, length, data[12:]

    def get_tail(self, span_key: str) -> bytes | None:
        """The last ``TAIL`` bytes of the content ``span_key`` names, if kept."""
        got = self.get(_derived_key("tail", span_key))
        return None if got is None else got[2]

    def put_tail(self, span_key: str, tail: bytes) -> None:
        self.put(_derived_key("tail", span_key), 0, len(tail), tail)

    def put(self, key: str, crc: int, length: int, deflated: bytes | None,
            alias: str | None = None) -> None:
        """Keep a job under ``key`` (``deflated`` None: it is there already), and under
        ``alias`` too (a hard link: one copy, one age)."""
        path = self._path(key)
        temp = f"{path}.tmp-{os.getpid()}-{id(self)}"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if deflated is not None:
                with open(temp, "wb") as f:
                    f.write(struct.pack("<IQ", crc & 0xFFFFFFFF, length) + deflated)
                os.replace(temp, path)
                self.added += len(deflated) + 12
            if alias is not None:
                other = self._path(alias)
                os.makedirs(os.path.dirname(other), exist_ok=True)
                os.link(path, temp)
                os.replace(temp, other)
        except OSError:
            # a cache that cannot be written only costs speed
            with _quiet():
                os.unlink(temp)

    def close(self) -> None:
        """Account for what was added; past the limit, drop the least recently used."""
        if not self.added:
            return
        usage = os.path.join(self.directory, self.USAGE)
        try:
            with open(usage) as f:
                total = int(f.read() or 0)
        except (OSError, ValueError):
            total = self.limit + 1  # unknown: count for real
        total += self.added
        self.added = 0
        if total > self.limit:
            total = self._evict(self.limit * 3 // 4)
        temp = f"{usage}.tmp-{os.getpid()}-{id(self)}"
        with _quiet():
            with open(temp, "w") as f:
                f.write(str(total))
            os.replace(temp, usage)

    def _evict(self, target: int) -> int:
        """Drop the least recently used jobs (every name of each) down to ``target`` bytes."""
        files: dict[tuple[int, int], list] = {}  # inode → [last use, size, names]
        with os.scandir(self.directory) as top:
            for sub in top:
                if sub.is_dir(follow_symlinks=False):
                    with os.scandir(sub.path) as entries:
                        for entry in entries:
                            with _quiet():
                                st = entry.stat(follow_symlinks=False)
                                found = files.setdefault((st.st_dev, st.st_ino), [0, st.st_size, []])
                                found[0] = max(found[0], st.st_mtime)
                                found[2].append(entry.path)
        total = sum(size for _, size, _ in files.values())
        for _, size, names in sorted(files.values(), key=lambda f: f[0]):
            if total <= target:
                break
            with _quiet():
                for name in names:
                    os.unlink(name)
                total -= size
        return total


def _quiet():
    import contextlib

    return contextlib.suppress(OSError)


def pigz_bytes(data: bytes, level: int = 6, threads: int | None = None,
               rsyncable: bool = False) -> bytes:
    return b"".join(pigz_chunks((data,), level, threads, rsyncable))
