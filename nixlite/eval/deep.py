"""Run evaluation on a thread with a big C stack and a high recursion limit.

Nix programs recurse deeply (``foldl'`` chains, 100k nested calls) and each
Nix-level call costs a few Python frames.  The main thread's 8 MiB stack
would overflow long before Nix's does, so evaluation runs on a worker thread
whose stack is large (virtual memory: only touched pages count), with the
recursion limit raised to match.  Exceeding it becomes Nix's stack overflow
error instead of a crash.

Where address space is limited (``ulimit -v``), the stack is the largest that
can be had while leaving most of the limit to the heap, and the recursion
limit shrinks in proportion, so running out is still Nix's error.
"""

from __future__ import annotations

import gc
import resource
import sys
import threading

from nixlite.eval.values import EvalError

STACK_BYTES = 4 << 30  # reserved address space, not resident memory
RECURSION_LIMIT = 1_200_000
# C stack allowed per unit of recursion limit: evaluation recursing through builtins
# (the most C frames per Python frame) ran 1.2M deep on 64 MiB; this is 16× that.
STACK_PER_FRAME = 896
MIN_STACK_BYTES = 16 << 20
STACK_SHARE = 2  # under an address-space limit, the stack takes at most this fraction (the heap the rest)
# Evaluation allocates millions of small tracked objects (thunks, frames, sets);
# with the default thresholds the cyclic collector ran often enough to take ~40%
# of the time.  A middle-generation pass visits nearly everything the evaluation
# made and keeps alive (2 s of the NixOS system's 10, for 234k of its objects): one
# per 100 M allocations, which the benchmarks never reach.  Young passes cost least
# when the young generation stays small (cache-sized): on the NixOS system 0.36 s
# at 10k against 1.05 s at 100k and 1.6 s at 500k+, the same peak memory at each.
GC_THRESHOLDS = (10_000, 10_000, 1000)


def _in_wide_frame(fn, args):
    return fn(*args)


# CPython (3.11+) keeps Python frames in chunks of a "data stack" and frees a chunk
# as soon as the stack drops below it, so evaluation going back and forth across a
# chunk boundary paid an mmap and a munmap per call: 54k pairs, a third of the CPU
# time of nixpkgs' hello.drvPath.  A frame with this much value stack makes its
# chunk 16 MiB, with 8 MiB free after it for the frames of the evaluation it runs
# (address space, touched only as used), so depths below ~50k never cross one.
_in_wide_frame.__code__ = _in_wide_frame.__code__.replace(co_stacksize=1 << 20)


class StackOverflow(EvalError):
    def __init__(self) -> None:
        super().__init__("stack overflow (possible infinite recursion)")


def stack_sizes() -> list[int]:
    """Stack sizes to try, largest first: ``STACK_BYTES``, or under an address-space
    limit at most ``1/STACK_SHARE`` of it, halving down to ``MIN_STACK_BYTES``."""
    size = STACK_BYTES
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        while size > MIN_STACK_BYTES and size > limit // STACK_SHARE:
            size //= 2
    sizes = []
    while size >= MIN_STACK_BYTES:
        sizes.append(size)
        size //= 2
    return sizes


def _start_thread(target) -> tuple[threading.Thread, int]:
    """A started thread running ``target`` on the largest stack available, and its size."""
    old_size = threading.stack_size()
    try:
        for size in stack_sizes():
            try:
                threading.stack_size(size)
                t = threading.Thread(target=target, name="nixlite-eval", daemon=True)
                t.start()
                return t, size
            except (ValueError, RuntimeError, MemoryError):
                continue  # not this much address space (or not this size): try half
    finally:
        threading.stack_size(old_size)
    raise StackOverflow()


def run_deep(fn, *args):
    """``fn(*args)`` on a big-stack thread; returns its result or raises its exception."""
    result: list = []
    error: list = []
    started = threading.Event()

    def target():
        started.wait()  # until the recursion limit fits the stack this thread got
        try:
            result.append(_in_wide_frame(fn, args))
        except RecursionError:
            error.append(StackOverflow())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    old_limit = sys.getrecursionlimit()
    old_gc = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        t, size = _start_thread(target)
        sys.setrecursionlimit(max(old_limit, min(RECURSION_LIMIT, size // STACK_PER_FRAME)))
        started.set()
        t.join()
    finally:
        sys.setrecursionlimit(old_limit)
        # What survived the evaluation's young collections (millions of objects on a
        # large one) joins the oldest generation, so the default thresholds restored
        # here do not start a middle-generation pass over all of it (2 s of the NixOS
        # system's 10): freezing and unfreezing moves it there without a pass.
        gc.freeze()
        gc.unfreeze()
        gc.set_threshold(*old_gc)
    if error:
        raise error[0]
    return result[0]
