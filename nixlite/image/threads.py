"""Worker threads that leave Ctrl-C to the main thread.

Linux delivers a process's SIGINT or SIGTERM to any thread that does not block it.  Python
runs the handler in the main thread, but only once that thread wakes up: if the kernel picked
a worker blocked in ``recv``, a main thread waiting on a lock sleeps on and Ctrl-C seems
ignored.  So every thread the image code starts blocks both signals first.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def leave_signals_to_the_main_thread() -> None:
    """Block SIGINT and SIGTERM in the calling thread (never call it in the main thread)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


def worker_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads leave signals to the main thread."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name,
                              initializer=leave_signals_to_the_main_thread)


def start_worker(target: Callable[..., Any], *args: Any, name: str) -> threading.Thread:
    """Start a daemon thread running ``target(*args)`` with signals left to the main thread."""

    def run() -> None:
        leave_signals_to_the_main_thread()
        target(*args)

    thread = threading.Thread(target=run, daemon=True, name=name)
    thread.start()
    return thread
