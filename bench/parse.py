"""Parser throughput: nixlite cold (lex + parse + resolve), nixlite from the parse cache,
and `nix-instantiate --parse` (the reference), on ≥ 1 MB of generated nixpkgs-like Nix
plus the seed (../shared/seed/dockertools-default.nix).  Prints figures; asserts nothing.

    .venv/bin/python bench/parse.py [--mb 1.5] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seed" / "dockertools-default.nix"

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


def timed(fn, repeat: int) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds) over ``repeat`` runs.  CPU time counts this
    process and its children, so it stays meaningful on a shared, loaded machine."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(c0, c1))
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.5, help="generated Nix to parse, in MB")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best taken)")
    ap.add_argument("--profile", action="store_true", help="profile one cold parse instead")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    from nixlite.resolve import parse_file, resolve
    from nixlite.syntax.parser import parse

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["NIXLITE_CACHE_DIR"] = str(tmp / "cache")
        files = generate(tmp, int(args.mb * 1_000_000), random.Random(42))
        if SEED.is_file():
            files.append(SEED)
        texts = [(str(p), p.read_text()) for p in files]
        total = sum(len(t.encode()) for _, t in texts)
        mb = total / 1_000_000

        if args.profile:
            import cProfile
            import pstats

            cProfile.runctx("for n, t in texts: resolve(parse(t, n))", globals(), locals(),
                            str(tmp / "prof"))
            pstats.Stats(str(tmp / "prof")).sort_stats("tottime").print_stats(15)
            return 0

        def cold():
            for name, text in texts:
                resolve(parse(text, name))

        def cached():
            for path in files:
                parse_file(str(path))

        t_cold = timed(cold, args.repeat)
        cached()  # fill the cache
        t_cached = timed(cached, args.repeat)

        nix = shutil.which("nix-instantiate")
        t_nix = None
        if nix:
            def reference():
                for path in files:
                    subprocess.run([nix, "--parse", str(path)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, check=True)
            t_nix = timed(reference, args.repeat)

    print(f"input: {len(files)} files, {mb:.2f} MB"
          f" ({'generated + seed' if SEED.is_file() else 'generated; seed not found'})")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores;"
          " MB/s by wall clock and by CPU time")

    def line(label, times, target=""):
        wall, cpu = times
        print(f"{label:16}: {wall:7.3f} s wall {mb / wall:7.2f} MB/s | {cpu:7.3f} s CPU"
              f" {mb / cpu:7.2f} MB/s {target}")

    line("nixlite cold", t_cold, "(target >= 1.5)")
    line("nixlite cached", t_cached, "(target >= 30)")
    if t_nix is not None:
        line("nix-instantiate", t_nix, "(one process per file)")
        print(f"ratio nixlite/nix (CPU time, > 1 = nixlite faster): cold "
              f"{t_nix[1] / t_cold[1]:.2f}x, cached {t_nix[1] / t_cached[1]:.2f}x")
    else:
        print("nix-instantiate : not installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
