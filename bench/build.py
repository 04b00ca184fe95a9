"""Benchmark: nixlite build against nix-build (Nix 2.8) on a 200-derivation graph.

Every run uses a fresh salt, so both tools really build all 200 derivations (each
runs /bin/sh and depends on up to two earlier ones).  Prints wall times and the
ratio nixlite / nix-build (target: ≤ 1), then the time of ``nixlite build`` on the
already-built target (target: ≤ 0.5 s).  Wall and CPU time (user + system of the
command and its children) are both shown: on a shared, loaded machine CPU time is
the steadier comparison.

    .venv/bin/python bench/build.py [--count N] [--jobs N] [--repeat N]
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

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
NIX_ENV = {**ENV, "NIX_CONFIG": "substituters =", "NIX_PATH": ""}


def graph(count: int) -> str:
    """A DAG: derivation i depends on i-1 and i/2 (when they exist)."""
    return f"""{{ salt }}:
let
  mk = i: deps: derivation {{
    name = "bench-${{salt}}-${{toString i}}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo ${{toString i}} $deps > $out" ];
    deps = deps;
  }};
  node = i: builtins.elemAt nodes i;
  nodes = builtins.genList (i:
    mk i (if i == 0 then [ ] else [ (node (i - 1)) ] ++ (if i > 1 then [ (node (i / 2)) ] else [ ]))
  ) {count};
in node {count - 1}
"""


def timed(argv: list[str], env: dict, cwd: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall time, CPU time (user + system, the command and all its children) and result.
    The CPU figure is the fairer one on a shared, loaded machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{argv[0]} failed:\n{p.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="nixlite-bench-build-")
    try:
        with open(os.path.join(work, "graph.nix"), "w") as f:
            f.write(graph(args.count))
        store = os.path.join(work, "store")
        nixlite = [sys.executable, "-m", "nixlite", "build", "--store", store, "graph.nix",
                   "-j", str(args.jobs), "--no-out-link", "--quiet"]
        ours, theirs = [], []
        for _ in range(args.repeat):
            salt = uuid.uuid4().hex[:8]
            wall, cpu, p = timed(nixlite + ["--argstr", "salt", salt], ENV, work)
            ours.append((wall, cpu))
            if shutil.which("nix-build"):
                wall2, cpu2, p2 = timed(["nix-build", "graph.nix", "--argstr", "salt", salt, "-j",
                                         str(args.jobs), "--no-out-link", "--quiet"], NIX_ENV, work)
                theirs.append((wall2, cpu2))
                assert p2.stdout == p.stdout, "nixlite and nix-build printed different out paths"
        noop = min(timed(nixlite + ["--argstr", "salt", salt], ENV, work)[:2] for _ in range(3))
        print(f"graph of {args.count} derivations, -j {args.jobs} (best of {args.repeat}):")
        print(f"                  wall      cpu")
        (w, c) = min(ours)
        print(f"  nixlite build   {w:6.2f} s {c:6.2f} s")
        if theirs:
            (w2, c2) = min(theirs)
            print(f"  nix-build       {w2:6.2f} s {c2:6.2f} s")
            print(f"  ratio           {w / w2:6.2f}   {c / c2:6.2f}    (target ≤ 1)")
        print(f"already built:    {noop[0]:6.3f} s {noop[1]:6.3f} s  (target ≤ 0.5 s)")
    finally:
        for dirpath, dirnames, _ in os.walk(work):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
