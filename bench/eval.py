"""Benchmark: nixlite eval against nix-instantiate --eval (Nix 2.8) on fixed workloads.

For each workload prints wall time and peak RSS of both, and the ratios
(nixlite / Nix).  Targets (issue 3): time ratio ≤ 10× (goal 5×), RSS ≤ 3×,
``nixlite eval -E 1`` ≤ 150 ms.  Each command runs ``--repeat`` times; the
best wall time and the largest RSS are kept.

Corpus workloads (issue 11: ≤ 5× Nix's time, memory ≤ 2×) evaluate drvPaths of
the real nixpkgs 17.09 tree in ``../shared/corpora`` (hello, redis, the minimal
NixOS system) and a ``lib.evalModules`` workload on its lib, extracted once into
the temporary directory, with a warm parse cache and a private store.  ``-I`` entries given
here are passed to both tools (e.g. ``-I nix=DIR`` for a ``fetchurl.nix``).

    .venv/bin/python bench/eval.py [--repeat N] [--only NAME] [-I ENTRY]…
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seed" / "dockertools-default.nix"
STUBS = ROOT / "tests" / "eval" / "data" / "seed-stubs.nix"
CORPUS = ROOT.parent / "shared" / "corpora" / "nixpkgs-17.09.tar.gz"

CORPUS_WORKLOADS = {
    "hello.drvPath": "(import <nixpkgs> { }).hello.drvPath",
    "dockerTools.examples.redis": "(import <nixpkgs> { }).dockerTools.examples.redis.drvPath",
    # The smallest NixOS system that evaluates (the one tests/nixpkgs compares with Nix).
    "nixos.system": """(import <nixpkgs/nixos> {
        configuration = { boot.loader.grub.enable = false; fileSystems."/".device = "/dev/sda1"; };
      }).system.drvPath""",
    # lib.evalModules alone: typed options, submodules, merges of many definitions.
    "lib.evalModules": """
      let
        lib = import <nixpkgs/lib>;
        inherit (lib) mkOption types;
        user = { name, ... }: {
          options.uid = mkOption { type = types.int; };
          options.home = mkOption { type = types.str; default = "/home/${name}"; };
          options.groups = mkOption { type = types.listOf types.str; default = [ ]; };
        };
        declarations = {
          options.users = mkOption { type = types.attrsOf (types.submodule user); default = { }; };
          options.env = mkOption { type = types.attrsOf types.str; default = { }; };
        };
        definition = i: {
          users."u${toString i}" = { uid = i; groups = [ "g${toString (lib.mod i 7)}" ]; };
          env."V${toString i}" = lib.mkDefault "v${toString i}";
        };
        eval = lib.evalModules { modules = [ declarations ] ++ map definition (lib.range 1 3000); };
      in builtins.length (lib.attrValues (lib.mapAttrs (n: u: u.home + toString u.uid)
           eval.config.users)) + builtins.length (lib.attrNames eval.config.env)""",
}

WORKLOADS = {
    "fib25": "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in fib 25",
    "foldl-1e6": "builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 1000000)",
    "attrs-2e4": """
        let
          s = builtins.listToAttrs (builtins.genList (i: { name = "k${toString i}"; value = i; }) 20000);
          m = builtins.mapAttrs (n: v: v * 2) s;
        in builtins.length (builtins.sort builtins.lessThan (builtins.attrValues m))""",
    "json-1e5": """
        let xs = builtins.genList (i: { a = i; b = "s${toString i}"; c = [ i true null ]; }) 100000;
        in builtins.length (builtins.fromJSON (builtins.toJSON xs))""",
    "seed": f"builtins.attrNames (builtins.mapAttrs (n: v: builtins.typeOf v) (import {STUBS} {SEED}))",
    "lib-1e4": """
        let
          inherit (builtins) length elemAt genList filter attrNames;
          foldr = op: nul: list:
            let len = length list; go = n: if n == len then nul else op (elemAt list n) (go (n + 1));
            in go 0;
          items = genList (i: { name = "n${toString i}"; v = i; }) 10000;
          extended = map (x: x // { w = x.v * 3; }) items;
          even = filter (x: x.v / 2 * 2 == x.v) extended;
          merged = foldr (x: acc: acc // { ${x.name} = x.w; }) { } even;
        in length (attrNames merged)""",
    "startup": "1",
}


# Users run nixlite with bytecode caches; an environment that disables them
# (PYTHONDONTWRITEBYTECODE) would make every start recompile every module.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str], repeat: int) -> tuple[float, float, int, str]:
    """Best wall time (s), best CPU time (s), max peak RSS (KiB) and stdout of ``argv``.

    CPU time is reported too because wall time is noisy on a shared machine."""
    best = float("inf")
    best_cpu = float("inf")
    rss = 0
    out = ""
    for _ in range(repeat):
        with tempfile.TemporaryFile() as f:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            err = proc.stderr.read().decode()
            proc.stderr.close()
            f.seek(0)
            out = f.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv[0]} failed: {err}")
        best = min(best, wall)
        best_cpu = min(best_cpu, usage.ru_utime + usage.ru_stime)
        rss = max(rss, usage.ru_maxrss)
    return best, best_cpu, rss, out


def corpus_tree() -> Path | None:
    """The extracted nixpkgs tree (extracted on first use), or None without the corpus."""
    if not CORPUS.exists():
        return None
    base = Path(tempfile.gettempdir()) / "nixlite-bench-corpus"
    tree = base / "nixpkgs-17.09"
    if not (base / ".complete").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        with tarfile.open(CORPUS) as tar:
            tar.extractall(base, filter="tar")
        (base / ".complete").touch()
    return tree


def row(name: str, nixlite: tuple, nix: tuple | None) -> str:
    t1, c1, r1, o1 = nixlite
    if nix is None:
        return f"{name:12} {t1:10.3f} {'-':>8} {'-':>6} {'-':>6} {r1 / 1024:12.1f}"
    t2, c2, r2, o2 = nix
    same = "" if o1 == o2 else "  (OUTPUT DIFFERS)"
    return (f"{name:12} {t1:10.3f} {t2:8.3f} {t1 / t2:6.1f} {c1 / max(c2, 0.01):6.1f} "
            f"{r1 / 1024:12.1f} {r2 / 1024:8.1f} {r1 / r2:6.1f}{same}")


def run_corpus(args, nixlite: list[str], nix: str | None) -> None:
    wanted = [n for n in CORPUS_WORKLOADS if not args.only or n in args.only]
    if not wanted:
        return
    tree = corpus_tree()
    if tree is None:
        print(f"corpus workloads skipped: {CORPUS} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        overlays = Path(tmp, "overlays")  # an empty <nixpkgs-overlays>: no user overlays
        overlays.mkdir()
        includes = ["-I", f"nixpkgs={tree}", "-I", f"nixpkgs-overlays={overlays}"]
        for entry in args.include:
            includes += ["-I", entry]
        ours = nixlite[:-1] + ["--store", str(Path(tmp, "store")), *includes, "-E"]
        theirs = [nix, "--eval", "--strict", "--readonly-mode", *includes, "-E"] if nix else None
        for name in wanted:
            expr = CORPUS_WORKLOADS[name]
            measure(ours + [expr], 1)  # fill the parse cache
            print(row(name, measure(ours + [expr], args.repeat),
                      measure(theirs + [expr], args.repeat) if theirs else None))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", action="append")
    ap.add_argument("-I", dest="include", action="append", default=[],
                    help="search-path entry for the corpus workloads (both tools)")
    args = ap.parse_args()
    nixlite = [sys.executable, "-m", "nixlite", "eval", "--strict", "-E"]
    nix = shutil.which("nix-instantiate")
    measure(nixlite + ["1"], 1)  # warm the bytecode caches
    print(f"{'workload':12} {'nixlite s':>10} {'nix s':>8} {'×time':>6} {'×cpu':>6} "
          f"{'nixlite MiB':>12} {'nix MiB':>8} {'×rss':>6}")
    for name, expr in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        if name == "seed" and not SEED.exists():
            print(f"{name:12} skipped: {SEED} is absent (test input beside the repository)")
            continue
        print(row(name, measure(nixlite + [expr], args.repeat),
                  measure([nix, "--eval", "--strict", "-E", expr], args.repeat) if nix else None))
    run_corpus(args, nixlite, nix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
