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

So a job's deflated bytes depend only on (level, its dictionary, its bytes and block cuts,
whether more follows): ``JobCache`` keeps them by that, and a rebuild recompresses only the
jobs whose input changed.  Without --rsyncable the jobs sit on a fixed 128 KiB grid, so the
input may name big pieces by content instead of giving their bytes (``Span``: a layer by its
diff_id): a job over unchanged spans at unchanged offsets is found without reading them.
With --rsyncable the cuts come from the bytes, so every byte is read and jobs are keyed by
their content (after a change the cuts fall back into step, and so do the keys).

Python's ``zlib`` module lacks ``deflatePending``, ``deflatePrime`` and ``crc32_combine``, so
this drives the system ``libz.so.1`` (the zlib pigz links against) through ctypes.
"""

from __future__ import annotations

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
    if cache is not None and not rsyncable:
        jobs: Iterator[_Job] = _grid_jobs(chunks, level, cache)
    else:
        plain = _rsync_jobs(_expand(chunks)) if rsyncable else _plain_jobs(_expand(chunks))
        jobs = (_Job(*job) for job in plain)
        if cache is not None:
            jobs = _content_keyed(jobs, level, cache)
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


def _content_keyed(jobs: Iterator[_Job], level: int, cache: JobCache) -> Iterator[_Job]:
    """Jobs keyed by their bytes (--rsyncable: the cuts are only known from the bytes)."""
    for job in jobs:
        yield _look_up(job, level, cache)


def _grid_jobs(pieces: Iterable, level: int, cache: JobCache) -> Iterator[_Job]:
    """pigz -nT's jobs (a fixed 128 KiB grid), each keyed by the content keys and offsets of
    the pieces under it and its dictionary: a cached job's bytes are never read."""
    spans: list[tuple[int, Span]] = []
    total = 0
    for piece in pieces:
        if not isinstance(piece, Span):
            if not piece:
                continue
            piece = Span(hashlib.sha256(piece).hexdigest(), len(piece), lambda p=piece: (p,))
        spans.append((total, piece))
        total += piece.size
    reader = _SpanReader(spans, cache)
    index = 0  # the first span that may overlap the current job's dictionary
    for start in range(0, total or 1, CHUNK):
        end = min(start + CHUNK, total)
        low = max(0, start - DICT)
        while index < len(spans) and spans[index][0] + spans[index][1].size <= low:
            index += 1
        described = [f"pigz {level} {int(end < total)} {start - low}"]
        i = index
        while i < len(spans) and spans[i][0] < end:
            offset, span = spans[i]
            described.append(f"{span.key} {max(low, offset) - offset} {min(end, offset + span.size) - offset}")
            i += 1
        where = hashlib.sha256("\n".join(described).encode()).hexdigest()
        hit = cache.get(where)
        if hit is not None:
            yield _Job(None, None, None, end < total, None, hit[2], hit[0], hit[1])
            continue
        # unseen here, maybe seen elsewhere: a changed layer's bytes before the change
        data = reader.read(low, end)
        yield _look_up(_Job(data[start - low:], data[:start - low] or None, None, end < total),
                       level, cache, where)


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
        got = self.get(_tail_key(span_key))
        return None if got is None else got[2]

    def put_tail(self, span_key: str, tail: bytes) -> None:
        self.put(_tail_key(span_key), 0, len(tail), tail)

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
        entries = []
        with os.scandir(self.directory) as top:
            for sub in top:
                if sub.is_dir(follow_symlinks=False):
                    with os.scandir(sub.path) as files:
                        for entry in files:
                            with _quiet():
                                st = entry.stat(follow_symlinks=False)
                                entries.append((st.st_mtime, st.st_ino, st.st_nlink,
                                                st.st_size, entry.path))
        total = sum(size // links for _, _, links, size, _ in entries)
        for _, _, links, size, path in sorted(entries):
            if total <= target:
                break
            with _quiet():
                os.unlink(path)
                total -= size // links
        return total


def _tail_key(span_key: str) -> str:
    return hashlib.sha256(f"tail {span_key}".encode()).hexdigest()


def _quiet():
    import contextlib

    return contextlib.suppress(OSError)


def pigz_bytes(data: bytes, level: int = 6, threads: int | None = None,
               rsyncable: bool = False) -> bytes:
    return b"".join(pigz_chunks((data,), level, threads, rsyncable))
