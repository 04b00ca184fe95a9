"""Parsed trees as bytes: the format of the parse cache's entries.

Loading a file that is cached must cost little more than reading it, and most of what a
large Nix file defines is never called: so the body of every function whose pickle is
large is stored as a *segment* of its own, and is unpickled only when something first
reads ``Lambda.body`` (see ``ast.DeferredBody``).  An entry is::

    MAGIC, segment count (u32), end offset of each segment (u64 each), the segments

each segment a pickle (protocol 5), the whole tree's the last one, and before it the
source's ``first_offsets()`` (a scan of the whole text the evaluator needs as soon as
it builds a set, which would otherwise cost more than reading the entry).  Nodes pickle as
``cls(*fields)`` through reducers made from ``_fields``; the ``Source`` is not stored
(the text is in hand when the entry is read, it is how entries are found) but made by
``_source()`` from the loader's context, once per segment.  Loading a segment is one
``pickle.loads`` over a slice of the entry, with the cyclic GC paused (it only
allocates).
"""

from __future__ import annotations

import gc
import io
import pickle
import struct
import threading
from operator import attrgetter

from nixlite.errors import NixliteError
from nixlite.syntax import ast as A

MAGIC = b"nixlite-tree-2\n"
# Function bodies whose pickle is smaller than this stay inline: a segment costs an
# unpickler call, and tiny bodies are cheaper to load with their parent.
DEFER_BYTES = 1024
_COUNT = struct.Struct("<I")


class _Context(threading.local):
    """What the segment being unpickled refers to (set around each ``pickle.loads``)."""

    src: A.Source | None = None
    segments: _Segments | None = None


_context = _Context()


def _source() -> A.Source:
    return _context.src


def _deferred_lambda(src, off, arg, formals, ellipsis, index, name, slots) -> A.Lambda:
    body = A.DeferredBody(_context.segments.load, index)
    return A.Lambda(src, off, arg, formals, ellipsis, body, name, slots)


class _Segments:
    """An entry's bytes and where each segment ends."""

    __slots__ = ("data", "ends", "name")

    def __init__(self, data: bytes, ends: tuple, name: str) -> None:
        self.data = data
        self.ends = ends
        self.name = name

    def unpickle(self, index: int, src: A.Source):
        start = self.ends[index - 1] if index else _header_size(len(self.ends))
        view = memoryview(self.data)[start:self.ends[index]]
        saved = _context.src, _context.segments
        _context.src, _context.segments = src, self
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return pickle.loads(view)
        finally:
            _context.src, _context.segments = saved
            if gc_was_enabled:
                gc.enable()

    def load(self, index: int, src: A.Source) -> A.Expr:
        """A deferred body (its entry was read and checked before: failing now means
        the file changed on disk under us)."""
        try:
            return self.unpickle(index, src)
        except Exception as exc:
            raise NixliteError(
                f"the parse cache's entry for '{self.name}' is damaged ({exc}); "
                "delete it, or the whole cache, and run again") from None


def _header_size(count: int) -> int:
    return len(MAGIC) + _COUNT.size + 8 * count


def _node_reducers() -> dict:
    table = {}
    for name in A.__all__:
        cls = getattr(A, name)
        fields = getattr(cls, "_fields", None)
        if isinstance(cls, type) and fields:
            table[cls] = (lambda c, g: lambda node: (c, g(node)))(cls, attrgetter(*fields))
    table[A.Source] = lambda src: (_source, ())
    return table


_REDUCERS = _node_reducers()


def dumps(tree: A.Expr) -> bytes:
    """The entry for ``tree`` (a tree of one ``Source``)."""
    segments: list[bytes] = []
    lambdas: dict[int, tuple] = {}  # id(Lambda) -> its reduction, made once
    table = dict(_REDUCERS)

    def reduce_lambda(node: A.Lambda) -> tuple:
        done = lambdas.get(id(node))
        if done is not None:
            return done
        body = node.body
        data = _pickled(body, table)
        if len(data) < DEFER_BYTES:
            done = (A.Lambda, (node.src, node.off, node.arg, node.formals, node.ellipsis,
                               body, node.name, node.slots))
        else:
            segments.append(data)
            done = (_deferred_lambda, (node.src, node.off, node.arg, node.formals,
                                       node.ellipsis, len(segments) - 1, node.name,
                                       node.slots))
        lambdas[id(node)] = done
        return done

    table[A.Lambda] = reduce_lambda
    segments.append(_pickled(tree, table))  # first: it appends the deferred bodies
    segments.insert(-1, _pickled(tree.src.first_offsets(), table))
    ends = []
    end = _header_size(len(segments))
    for data in segments:
        end += len(data)
        ends.append(end)
    return b"".join([MAGIC, _COUNT.pack(len(segments)), struct.pack(f"<{len(ends)}Q", *ends),
                     *segments])


def _pickled(obj, reducers: dict) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.dispatch_table = reducers
    pickler.dump(obj)
    return buffer.getvalue()


def loads(data: bytes, src: A.Source) -> A.Expr:
    """The tree of an entry made by ``dumps``, its nodes pointing to ``src``; raises
    ``ValueError`` for bytes that are not such an entry."""
    if not data.startswith(MAGIC):
        raise ValueError("not a tree entry")
    (count,) = _COUNT.unpack_from(data, len(MAGIC))
    if count < 2 or len(data) < _header_size(count):
        raise ValueError("truncated tree entry")
    ends = struct.unpack_from(f"<{count}Q", data, len(MAGIC) + _COUNT.size)
    if ends[-1] != len(data):
        raise ValueError("truncated tree entry")
    segments = _Segments(data, ends, src.name)
    offsets = segments.unpickle(count - 2, src)
    tree = segments.unpickle(count - 1, src)
    if not isinstance(tree, A.Expr) or type(offsets) is not dict:
        raise ValueError("not a tree entry")
    src._first_offsets = offsets
    return tree
