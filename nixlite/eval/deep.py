"""Run evaluation on a thread with a big C stack and a high recursion limit.

Nix programs recurse deeply (``foldl'`` chains, 100k nested calls) and each
Nix-level call costs a few Python frames.  The main thread's 8 MiB stack
would overflow long before Nix's does, so evaluation runs on a worker thread
whose stack is large (virtual memory: only touched pages count), with the
recursion limit raised to match.  Exceeding it becomes Nix's stack overflow
error instead of a crash.
"""

from __future__ import annotations

import gc
import sys
import threading

from nixlite.eval.values import EvalError

STACK_BYTES = 4 << 30  # reserved address space, not resident memory
RECURSION_LIMIT = 1_200_000
# Evaluation allocates millions of small tracked objects (thunks, frames, sets);
# with the default thresholds the cyclic collector ran often enough to take ~40%
# of the time.  Rarer collections keep memory the same on the benchmarks.
GC_THRESHOLDS = (100_000, 50, 1000)


class StackOverflow(EvalError):
    def __init__(self) -> None:
        super().__init__("stack overflow (possible infinite recursion)")


def run_deep(fn, *args):
    """``fn(*args)`` on a big-stack thread; returns its result or raises its exception."""
    result: list = []
    error: list = []

    def target():
        try:
            result.append(fn(*args))
        except RecursionError:
            error.append(StackOverflow())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    old_size = threading.stack_size()
    old_limit = sys.getrecursionlimit()
    old_gc = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        threading.stack_size(STACK_BYTES)
    except (ValueError, RuntimeError):
        threading.stack_size(256 << 20)
    sys.setrecursionlimit(RECURSION_LIMIT)
    try:
        t = threading.Thread(target=target, name="nixlite-eval", daemon=True)
        t.start()
        t.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
        gc.set_threshold(*old_gc)
    if error:
        raise error[0]
    return result[0]
