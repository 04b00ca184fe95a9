"""Benchmark: what drawing progress costs a build.

Builds the graph of ``bench/build.py`` (fresh salt each time, so everything is built) with
standard error on a pseudo-terminal, once per output format: ``raw`` (nix-build's lines),
``bar`` (the lines and the status bar), ``bar-with-logs`` and ``internal-json``.  Prints
wall and CPU time (the command and its children) and each format's ratio to ``raw``
(target: ≤ 1.05: drawing must not slow builds).

    .venv/bin/python bench/progress.py [--count N] [--jobs N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build import ENV, graph  # noqa: E402

FORMATS = ("raw", "bar", "bar-with-logs", "internal-json")


def on_terminal(argv: list[str], cwd: str) -> tuple[float, float, int]:
    """Wall time, CPU time and bytes the terminal got, with stderr on a pty that is read
    as fast as it is written."""
    master, slave = os.openpty()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env={**ENV, "TERM": "xterm"}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = 0
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        seen += len(data)
    os.close(master)
    if proc.wait() != 0:
        sys.exit(f"{argv} failed")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), seen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="nixlite-bench-progress-")
    try:
        with open(os.path.join(work, "graph.nix"), "w") as f:
            f.write(graph(args.count))
        best: dict[str, tuple[float, float, int]] = {}
        for _ in range(args.repeat):
            for fmt in FORMATS:
                argv = [sys.executable, "-m", "nixlite", "build", "--store", os.path.join(work, fmt),
                        "graph.nix", "--argstr", "salt", uuid.uuid4().hex[:8], "-j", str(args.jobs),
                        "--no-out-link", "--log-format", fmt]
                result = on_terminal(argv, work)
                best[fmt] = min(best.get(fmt, result), result)
        print(f"graph of {args.count} derivations, -j {args.jobs}, stderr on a terminal "
              f"(best of {args.repeat}):")
        print("                   wall      cpu   terminal got   ratio to raw (wall, cpu)")
        raw = best["raw"]
        for fmt in FORMATS:
            wall, cpu, seen = best[fmt]
            print(f"  {fmt:14} {wall:6.2f} s {cpu:6.2f} s {seen:10d} B   "
                  f"{wall / raw[0]:5.2f} {cpu / raw[1]:5.2f}")
    finally:
        for dirpath, _, _ in os.walk(work):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
