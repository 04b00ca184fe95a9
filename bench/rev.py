"""Benchmark: ``nixlite eval --rev HEAD`` (files read from git with pygit2) against the
same evaluation of the working tree, on a recipe with many imports.

The real nixpkgs 17.09 tree of ``../shared/corpora`` is committed once into a git
repository in the temporary directory; each workload then evaluates a drvPath from it
with a warm parse cache and a private store, with and without ``--rev HEAD``, and
prints the best wall and CPU times and the ratio (``--rev`` / working tree).

    .venv/bin/python bench/rev.py [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval import CORPUS, corpus_tree, measure  # noqa: E402 - the corpus and timer of bench/eval.py

WORKLOADS = {"hello.drvPath": "hello.drvPath",
             "dockerTools.examples.redis": "dockerTools.examples.redis.drvPath"}


def committed_tree(tree: Path) -> Path:
    """A copy of ``tree`` as the one commit of a git repository (made on first use)."""
    import pygit2

    work = Path(tempfile.gettempdir()) / "nixlite-bench-rev" / tree.name
    if not (work.parent / ".complete").exists():
        shutil.rmtree(work.parent, ignore_errors=True)
        shutil.copytree(tree, work, symlinks=True)
        repo = pygit2.init_repository(str(work))
        repo.index.add_all()
        repo.index.write()
        sig = pygit2.Signature("bench", "bench@nixlite.invalid", 0, 0)
        repo.create_commit("HEAD", sig, sig, "nixpkgs 17.09", repo.index.write_tree(), [])
        (work.parent / ".complete").touch()
    return work


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tree = corpus_tree()
    if tree is None:
        print(f"skipped: {CORPUS} is absent")
        return 0
    work = committed_tree(tree)
    print(f"{'workload':28} {'tree s':>8} {'--rev s':>8} {'×time':>6} {'tree cpu':>9} {'--rev cpu':>9} {'×cpu':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        overlays = Path(tmp, "overlays")  # an empty <nixpkgs-overlays>: no user overlays
        overlays.mkdir()
        base = [sys.executable, "-m", "nixlite", "eval", "--strict", "--store", str(Path(tmp, "store")),
                "-I", f"nixpkgs={work}", "-I", f"nixpkgs-overlays={overlays}", str(work / "default.nix")]
        for name, attr in WORKLOADS.items():
            plain = base + ["-A", attr]
            rev = base + ["--rev", "HEAD", "-A", attr]
            measure(plain, 1)  # fill the parse cache (the same contents serve both)
            t1, c1, _, o1 = measure(plain, args.repeat)
            t2, c2, _, o2 = measure(rev, args.repeat)
            same = "" if o1 == o2 else "  (OUTPUT DIFFERS)"
            print(f"{name:28} {t1:8.3f} {t2:8.3f} {t2 / t1:6.2f} {c1:9.3f} {c2:9.3f} {c2 / c1:6.2f}{same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
