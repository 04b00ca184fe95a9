"""Benchmark: substituting a closure from a loopback binary cache, nixlite against ``nix copy --from``.

Nix builds a closure of ``--paths`` small store paths (each ``--kib`` KiB, half random bytes,
half text, in groups that reference a shared path, all referenced by one top path) and writes
it as a signed xz cache with ``nix copy --to file://…``.  The cache is served over HTTP on
127.0.0.1 (a keep-alive stdlib server, the same for both tools).  Then, into fresh stores:

* nixlite: ``Substituter.substitute([top], store)`` (parallel downloads, xz, hash and
  signature checks, registration);
* Nix 2.8: ``nix copy --from http://… --to local?root=DIR --option require-sigs true``.

The same again from the cache directory as ``file://`` (no server in the way).  Prints wall
time, NAR MB/s, paths/s and CPU time of each and the ratios nixlite / Nix (target: ≤ 1, "no
slower"; on a busy machine the CPU ratio is the steadier figure), and checks both stores got
the same NAR hashes.

    .venv/bin/python bench/substitute.py [--paths N] [--kib K] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nixlite.store.binary_cache import Substituter
from nixlite.store.local import LocalStore, remove_tree
from nixlite.store.settings import Settings

SERVER = Path(__file__).resolve().parents[1] / "tests" / "store" / "cache_server.py"
NIX_ENV = {k: v for k, v in os.environ.items() if k != "NIX_CONFIG"}  # Nix as configured on this machine


def closure_expr(paths: int, kib: int) -> str:
    groups = max(1, paths // 10)
    half = kib * 512
    return f"""
let
  mk = name: ref: derivation {{
    inherit name; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir $out; /usr/bin/head -c {half} /dev/urandom > $out/random; /usr/bin/seq 1 {half // 6} | /usr/bin/head -c {half} > $out/text; echo ${{ref}} > $out/ref" ];
  }};
  groups = builtins.genList (g: mk "bench-subst-g${{toString g}}" "") {groups};
  leaves = builtins.genList (i: mk "bench-subst-l${{toString i}}" (builtins.elemAt groups (i - i / {groups} * {groups}))) {paths - groups - 1};
in derivation {{
  name = "bench-subst-top"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "echo ${{toString leaves}} > $out" ];
}}
"""


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=NIX_ENV).stdout


def nix(*argv: str) -> str:
    return run("nix", "--experimental-features", "nix-command", "--option", "substituters", "", *argv)


def time_nixlite(url: str, root: Path, top: str, pk: str, infos: dict) -> float:
    store = LocalStore(str(root))
    settings = Settings.load()
    settings.set("substituters", url)
    settings.set("trusted-public-keys", pk)
    t, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    done = Substituter(settings, store.store_dir, log=lambda line: None).substitute([top], store)
    secs, cpu = time.perf_counter() - t, _cpu(resource.RUSAGE_SELF) - cpu
    assert done == {top}, "nixlite did not substitute the closure"
    assert {p: store.query_path_info(p).nar_hash.sri() for p in infos} == {p: i["narHash"] for p, i in infos.items()}
    store.close()
    return secs, cpu


def time_nix(url: str, root: Path, top: str, pk: str, infos: dict) -> float:
    t, cpu = time.perf_counter(), _cpu(resource.RUSAGE_CHILDREN)
    subprocess.run(["nix", "--experimental-features", "nix-command", "copy", "--from", url,
                    "--to", f"local?root={root}", "--option", "substituters", "",
                    "--option", "require-sigs", "true", "--option", "trusted-public-keys", pk,
                    top], check=True, capture_output=True, env=NIX_ENV)
    secs, cpu = time.perf_counter() - t, _cpu(resource.RUSAGE_CHILDREN) - cpu
    got = json.loads(nix("path-info", "--store", f"local?root={root}", "--json", "-r", top))
    assert {i["path"]: i["narHash"] for i in got} == {p: i["narHash"] for p, i in infos.items()}
    return secs, cpu


def _cpu(who: int) -> float:
    """User + system CPU seconds (all threads of this process, or all waited-for children)."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", type=int, default=300, help="store paths in the closure (default 300)")
    ap.add_argument("--kib", type=int, default=96, help="size of each path in KiB (default 96)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each tool; the best is kept (default 2)")
    args = ap.parse_args()
    if shutil.which("nix") is None:
        sys.exit("bench/substitute.py needs the reference Nix (nix, nix-build) on PATH")

    work = Path(tempfile.mkdtemp(prefix="bench-substitute-"))
    try:
        t0 = time.perf_counter()
        top = run("nix-build", "-j2", "--no-out-link", "-E", closure_expr(args.paths, args.kib)).strip()
        run("nix-store", "--generate-binary-cache-key", "bench-1", str(work / "sk"), str(work / "pk"))
        pk = (work / "pk").read_text()
        cache = work / "cache"
        nix("copy", "--to", f"file://{cache}?secret-key={work / 'sk'}", top)
        infos = {i["path"]: i for i in json.loads(nix("path-info", "--json", "-r", top))}
        nar_mb = sum(i["narSize"] for i in infos.values()) / 1e6
        file_mb = sum(f.stat().st_size for f in (cache / "nar").iterdir()) / 1e6
        print(f"closure: {len(infos)} paths, {nar_mb:.1f} MB NAR, {file_mb:.1f} MB xz "
              f"(set up in {time.perf_counter() - t0:.1f} s)")

        # nixlite: no nix.conf but the settings time_nixlite makes
        os.environ.pop("NIX_CONFIG", None)
        os.environ["NIX_CONF_DIR"] = str(work)
        os.environ["XDG_CONFIG_HOME"] = str(work)
        # the server runs in its own process, so it does not share nixlite's interpreter
        server_proc = subprocess.Popen([sys.executable, str(SERVER), str(cache)], stdout=subprocess.PIPE, text=True)
        try:
            http_url = server_proc.stdout.readline().strip()
            rows = {}
            for label, url in (("http (loopback)", http_url), ("file://", f"file://{cache}")):
                best = {"nixlite": (float("inf"), 0.0), "nix": (float("inf"), 0.0)}
                for n in range(args.repeat):
                    run_dir = work / f"{len(rows)}-{n}"
                    best["nixlite"] = min(best["nixlite"], time_nixlite(url, run_dir / "nixlite", top, pk, infos))
                    best["nix"] = min(best["nix"], time_nix(url, run_dir / "nix", top, pk, infos))
                    remove_tree(str(run_dir))
                rows[label] = best
        finally:
            server_proc.kill()
            server_proc.wait()

        for label, best in rows.items():
            print(f"{label}:")
            for tool, (secs, cpu) in best.items():
                print(f"  {tool:8s} {secs:7.2f} s  {nar_mb / secs:7.1f} MB/s  {len(infos) / secs:7.1f} paths/s"
                      f"  (CPU {cpu:.2f} s)")
            print(f"  ratio nixlite / nix: {best['nixlite'][0] / best['nix'][0]:.2f} wall (target <= 1.0), "
                  f"{best['nixlite'][1] / best['nix'][1]:.2f} CPU")
        # the size (500 MB in 1,000 paths: larger paths than here, so the MB rate governs)
        best = rows["http (loopback)"]
        print("the issue's 500 MB / 1,000-path closure over http at these MB rates: "
              + ", ".join(f"{tool} ~{500 / (nar_mb / secs):.0f} s" for tool, (secs, _) in best.items())
              + " (run: bench/substitute.py --paths 1000 --kib 512; its set-up takes minutes)")
        return 0
    finally:
        remove_tree(str(work))


if __name__ == "__main__":
    sys.exit(main())
