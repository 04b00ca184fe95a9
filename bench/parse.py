"""Parser and loader figures against `nix-instantiate --parse` / `--eval` (Nix 2.8):

* cold: lex + parse + resolve, in process, on >= 1 MB of generated nixpkgs-like Nix
  plus the seed (target >= 1.5 MB/s), and the cache write that follows a cold parse;
* cached load (issue 11's figure, target >= 30 MB/s): `builtins.seq (import F) 1` with a
  warm parse cache, as whole processes, net of `nixlite eval -E 1`, on one file of a few
  MB (nixpkgs 17.09's lib, concatenated, from ../shared/corpora when present; else the
  generated code); and the same load split in process: cache read (key + top level),
  every deferred body, and the compile to closures (nixlite.eval's, for the split);
* start-up: `nixlite eval -E 1` and `nixlite parse -E 1` as whole processes (target
  <= 150 ms), with and without a bytecode cache.

Times are CPU seconds (user + sys, this process or its children): on a shared machine
they stay meaningful where wall time does not.  Prints figures; asserts nothing.

    .venv/bin/python bench/parse.py [--mb 1.5] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seed" / "dockertools-default.nix"
CORPUS = REPO.parent / "shared" / "corpora" / "nixpkgs-17.09.tar.gz"
NIXLITE = [str(REPO / ".venv" / "bin" / "nixlite")]
WORDS = ("python3 openssl zlib curl pkg-config cmake meson ninja glib "
         "gtk3 libxml2 perl ncurses readline sqlite boost rustPlatform buildGoModule").split()
LICENSES = "mit bsd3 gpl2Plus gpl3Only asl20 lgpl21Plus mpl20".split()


def _package(rng: random.Random, i: int) -> str:
    name = f"{rng.choice(WORDS)}-{i}"
    deps = " ".join(rng.sample(WORDS, rng.randint(2, 7)))
    version = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    sha = "".join(rng.choice("0123456789abcdfghijklmnpqrsvwxyz") for _ in range(52))
    flags = " ".join(f'"--enable-{rng.choice(WORDS)}"' for _ in range(rng.randint(0, 4)))
    script = "\n".join(
        f"    {rng.choice(['mkdir -p', 'cp -r', 'substituteInPlace', 'install -Dm755'])} "
        f"$out/{rng.choice(WORDS)} ${{{rng.choice(WORDS)}}}/bin"
        for _ in range(rng.randint(1, 6))
    )
    return f"""
  # {name}: generated package {i}
  {name.replace('-', '_')} = callPackage
    ({{ lib, stdenv, fetchurl, {deps.replace(' ', ', ')}, enableFoo ? false, ... }}:
    stdenv.mkDerivation rec {{
      pname = "{name}";
      version = "{version}";
      src = fetchurl {{
        url = "https://example.org/releases/${{pname}}-${{version}}.tar.gz";
        sha256 = "{sha}";
      }};
      nativeBuildInputs = [ {deps} ];
      buildInputs = lib.optionals enableFoo [ {rng.choice(WORDS)} ] ++ [ {rng.choice(WORDS)} ];
      configureFlags = [ {flags} ] ++ lib.optional (!enableFoo) "--disable-foo";
      doCheck = stdenv.hostPlatform == stdenv.buildPlatform && {str(rng.random() < 0.5).lower()};
      postInstall = ''
{script}
      '';
      passthru.tests = {{ inherit (self) {rng.choice(WORDS)}; version = version; }};
      meta = with lib; {{
        description = "Generated package number {i} for benchmarking";
        homepage = "https://example.org/{name}";
        license = licenses.{rng.choice(LICENSES)};
        maintainers = with maintainers; [ ];
        platforms = platforms.unix;
        broken = versionOlder version "{version}" || (x: x.a.b or null) {{ a.b = {i}; }} == null;
      }};
    }}) {{ }};
"""


def generate(directory: Path, total_bytes: int, rng: random.Random) -> list[Path]:
    files: list[Path] = []
    size = 0
    n = 0
    while size < total_bytes:
        body = "".join(_package(rng, n * 100 + k) for k in range(60))
        text = f"{{ callPackage, self, pkgs }}:\n\nwith pkgs;\nrec {{{body}}}\n"
        path = directory / f"packages-{n}.nix"
        path.write_text(text)
        files.append(path)
        size += len(text.encode())
        n += 1
    return files


def timed(fn, repeat: int) -> float:
    """Best CPU seconds of ``fn()`` over ``repeat`` runs (this process and children)."""
    best = float("inf")
    for _ in range(repeat):
        best = min(best, _cpu(fn))
    return best


def _cpu(fn) -> float:
    before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    fn()
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(before, after))


def process_cpu(argv: list[str], repeat: int, env: dict) -> float:
    """Median CPU seconds of the whole process ``argv`` (after one unmeasured run)."""
    def run():
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       check=True)
    run()
    return statistics.median(_cpu(run) for _ in range(max(repeat, 3)))


def lib_file(directory: Path, target_bytes: int) -> Path | None:
    """One file of about ``target_bytes``: nixpkgs 17.09's lib/*.nix, each an attribute
    of one set, repeated; None when the corpus is absent."""
    if not CORPUS.is_file():
        return None
    texts = []
    with tarfile.open(CORPUS) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            if member.isfile() and len(parts) > 2 and parts[1] == "lib" and member.name.endswith(".nix"):
                texts.append(tar.extractfile(member).read().decode())
    out, size, i = ["{\n"], 0, 0
    while size < target_bytes:
        for text in texts:
            part = f"  f{i} = (\n{text}\n);\n"
            out.append(part)
            size += len(part.encode())
            i += 1
            if size >= target_bytes:
                break
    path = directory / "lib-big.nix"
    path.write_text("".join(out) + "}\n")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.5, help="generated Nix to parse, in MB")
    ap.add_argument("--import-mb", type=float, default=4.4, help="size of the imported file")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    ap.add_argument("--profile", action="store_true", help="profile one cold parse instead")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    import gc

    from nixlite.resolve import resolve
    from nixlite.syntax import cache, treefile
    from nixlite.syntax.parser import parse

    nix = shutil.which("nix-instantiate")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, NIXLITE_CACHE_DIR=str(tmp / "cache"))
        os.environ["NIXLITE_CACHE_DIR"] = env["NIXLITE_CACHE_DIR"]
        files = generate(tmp, int(args.mb * 1_000_000), random.Random(42))
        if SEED.is_file():
            files.append(SEED)
        texts = [(str(p), p.read_text()) for p in files]
        mb = sum(len(t.encode()) for _, t in texts) / 1e6

        if args.profile:
            import cProfile
            import pstats

            cProfile.runctx("for n, t in texts: resolve(parse(t, n))", globals(), locals(),
                            str(tmp / "prof"))
            pstats.Stats(str(tmp / "prof")).sort_stats("tottime").print_stats(15)
            return 0

        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              "CPU seconds (user + sys)")
        trees = []

        def cold():
            trees.clear()
            gc.disable()  # as parse_cached does
            try:
                trees.extend(resolve(parse(t, n)) for n, t in texts)
            finally:
                gc.enable()

        t_cold = timed(cold, args.repeat)
        t_write = timed(lambda: [treefile.dumps(t) for t in trees], args.repeat)
        print(f"\ncold, {len(files)} files, {mb:.2f} MB"
              f" ({'generated + seed' if SEED.is_file() else 'generated; no seed'})")
        print(f"  lex+parse+resolve  {t_cold:7.3f} s  {mb / t_cold:7.2f} MB/s  (target >= 1.5)")
        print(f"  + cache write      {t_cold + t_write:7.3f} s  {mb / (t_cold + t_write):7.2f} MB/s")
        if nix:
            t_nix = timed(lambda: [subprocess.run([nix, "--parse", str(p)], check=True,
                                                  stdout=subprocess.DEVNULL) for p in files], 1)
            print(f"  nix-instantiate    {t_nix:7.3f} s  {mb / t_nix:7.2f} MB/s  "
                  f"(one process per file; nixlite/nix CPU {t_cold / t_nix:.2f}x)")

        big = lib_file(tmp, int(args.import_mb * 1e6))
        if big is None:
            (tmp / "g").mkdir()
            parts = generate(tmp / "g", int(args.import_mb * 1e6), random.Random(7))
            big = tmp / "generated-big.nix"
            big.write_text("{\n" + "".join(f"  f{i} = (\n{p.read_text()});\n"
                                           for i, p in enumerate(parts)) + "}\n")
            print("\n(../shared/corpora absent: the import figures use generated code)")
        data = big.read_bytes()
        big_mb = len(data) / 1e6
        name, base = str(big), str(big.parent)
        cache.parse_cached(data, name, base, finish=resolve)  # warm the cache

        def cached_top():
            cache.parse_cached(big.read_bytes(), name, base, finish=resolve)

        def bodies():
            """CPU seconds to read every deferred body of a freshly loaded tree (a walk
            that reads them, less the same walk once they are read)."""
            from nixlite.syntax.ast import walk

            tree = cache.parse_cached(big.read_bytes(), name, base, finish=resolve)
            first = _cpu(lambda: sum(1 for _ in walk(tree)))
            return first - _cpu(lambda: sum(1 for _ in walk(tree)))

        t_top = timed(cached_top, args.repeat * 3)
        t_all = t_top + min(bodies() for _ in range(args.repeat))
        t_compile = None
        try:
            from nixlite.eval.deep import run_deep
            from nixlite.eval.state import EvalState

            def compile_all():
                state = EvalState()
                run_deep(state.compiler.compile,
                         cache.parse_cached(big.read_bytes(), name, base, finish=resolve))
            t_compile = timed(compile_all, args.repeat) - t_top
        except Exception as exc:  # the evaluator is another stage: report, go on
            print(f"  (compile not measured: {type(exc).__name__}: {exc})")
        print(f"\ncached load of {big.name}, {big_mb:.2f} MB, in process")
        print(f"  read + key + top level   {t_top:7.3f} s  {big_mb / t_top:7.1f} MB/s")
        print(f"  + every deferred body    {t_all:7.3f} s  {big_mb / t_all:7.1f} MB/s")
        if t_compile is not None:
            print(f"  compile to closures      {t_compile:7.3f} s  (nixlite.eval, after the"
                  " top-level load)")

        expr = f"builtins.seq (import {big}) 1"
        no_pyc = dict(env, PYTHONDONTWRITEBYTECODE="1")
        with_pyc = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for pycache in (REPO / "nixlite").rglob("__pycache__"):  # a first run, or read-only
            shutil.rmtree(pycache, ignore_errors=True)
        start_no_pyc = process_cpu(NIXLITE + ["eval", "-E", "1"], args.repeat, no_pyc)
        start = process_cpu(NIXLITE + ["eval", "-E", "1"], args.repeat, with_pyc)
        start_parse = process_cpu(NIXLITE + ["parse", "-E", "1"], args.repeat, with_pyc)
        load = process_cpu(NIXLITE + ["eval", "-E", expr], args.repeat, with_pyc)
        print(f"\nwhole processes (median CPU; bytecode cache allowed unless said)")
        print(f"  nixlite eval -E 1             {start * 1000:6.0f} ms  (target <= 150)")
        print(f"  ... without a bytecode cache  {start_no_pyc * 1000:6.0f} ms")
        print(f"  nixlite parse -E 1            {start_parse * 1000:6.0f} ms")
        net = load - start
        print(f"  import, warm cache            {load:6.2f} s; net of start-up {net:6.2f} s = "
              f"{big_mb / net:6.1f} MB/s  (target >= 30)")
        if nix:
            n_start = process_cpu([nix, "--eval", "-E", "1"], args.repeat, env)
            n_load = process_cpu([nix, "--eval", "-E", expr], args.repeat, env)
            print(f"  nix-instantiate --eval -E 1   {n_start * 1000:6.0f} ms"
                  f"  (nixlite/nix {start / n_start:.1f}x)")
            print(f"  nix-instantiate import        {n_load:6.2f} s; net {n_load - n_start:6.2f} s"
                  f"  (nixlite/nix net {net / max(n_load - n_start, 1e-3):.1f}x)")
        else:
            print("  nix-instantiate: not installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
