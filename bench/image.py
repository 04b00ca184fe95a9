"""Benchmark image layer creation and gzip against the reference tools on this machine.

    .venv/bin/python bench/image.py [--mb 520] [--gzip-mb 128] [--keep]

1. Layer creation: nixlite's GNU-tar writer + sha256 (what building a layer costs: the
   bytes and their digest) against ``tar -cf - DIR | sha256sum`` on the same generated tree
   (target: ≥ 0.7× tar's throughput); also the stream script's pax dialect.
2. gzip: nixlite's pigz-identical compressor against ``pigz -nT`` and ``pigz -nTR`` on the
   same layer bytes.

The tree (about 10,000 files: 1% of 1-8 MiB, the rest 100 B-10 KB, symlinks and directories, partly
compressible) is created under /tmp and deleted afterwards.  Each measurement runs after
a warm-up pass so both sides read from the page cache; best of three runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from nixlite.image.gzip import pigz_chunks  # noqa: E402
from nixlite.image.tarwriter import gnu_tree_chunks, store_layer_chunks  # noqa: E402


def make_tree(root: str, total_mb: int) -> int:
    rng = random.Random(1)
    noise = os.urandom(8 << 20)
    text = (b"the quick brown fox jumps over the lazy dog " * 200_000)[: 8 << 20]
    total = 0
    target = total_mb << 20
    n = 0
    while total < target:
        d = os.path.join(root, f"pkg{n // 200:03d}", "lib" if n % 3 else "share/doc")
        os.makedirs(d, exist_ok=True)
        if n % 100 == 0:
            size = rng.randint(1 << 20, 8 << 20)
        else:
            size = rng.randint(100, 10_000)
        source = noise if n % 2 else text
        start = rng.randint(0, len(source) - size)
        path = os.path.join(d, f"file{n:06d}")
        with open(path, "wb") as f:
            f.write(source[start:start + size])
        if n % 7 == 0:
            os.symlink(f"file{n:06d}", path + ".link")
        total += size
        n += 1
    return total


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def tar_sha256(root: str) -> str:
    out = subprocess.run(f"tar -C '{root}' -cf - . | sha256sum", shell=True, check=True,
                         capture_output=True, text=True).stdout
    return out.split()[0]


def ours_sha256(chunks) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=520, help="tree size in MiB (≥ 500 for the target)")
    parser.add_argument("--gzip-mb", type=int, default=128, help="bytes of layer tar to gzip")
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="nixlite-bench-", dir="/tmp")
    root = os.path.join(base, "tree")
    try:
        print(f"generating a {args.mb} MiB tree in {root} ...", flush=True)
        content = make_tree(root, args.mb)
        mtime = 315532800
        # warm the page cache and check that the GNU dialect gives tar's exact bytes
        expected = subprocess.run(
            f"tar -C '{root}' --sort=name --mtime=@{mtime} --numeric-owner --hard-dereference "
            "-cf - . | sha256sum", shell=True, check=True, capture_output=True, text=True).stdout.split()[0]
        assert ours_sha256(gnu_tree_chunks(root, mtime=mtime, numeric_owner=True)) == expected
        tar_size = sum(len(c) for c in gnu_tree_chunks(root, mtime=mtime, numeric_owner=True))
        mib = tar_size / (1 << 20)

        t_tar = best_of(3, lambda: tar_sha256(root))
        t_gnu = best_of(3, lambda: ours_sha256(gnu_tree_chunks(root, mtime=mtime, numeric_owner=True)))
        store_dir = os.path.dirname(root)
        t_pax = best_of(3, lambda: ours_sha256(store_layer_chunks([root], mtime=mtime,
                                                                  store_dir=store_dir)))
        print(f"\nlayer creation ({mib:.0f} MiB tar, {content / (1 << 20):.0f} MiB content)")
        print(f"  tar -cf - DIR | sha256sum      {t_tar:6.2f} s  {mib / t_tar:7.0f} MiB/s")
        print(f"  nixlite GNU dialect + sha256   {t_gnu:6.2f} s  {mib / t_gnu:7.0f} MiB/s"
              f"  ratio {t_tar / t_gnu:.2f}x")
        print(f"  nixlite pax dialect + sha256   {t_pax:6.2f} s  {mib / t_pax:7.0f} MiB/s"
              f"  ratio {t_tar / t_pax:.2f}x")

        sample_path = os.path.join(base, "sample.tar")
        limit = args.gzip_mb << 20
        with open(sample_path, "wb") as out:
            written = 0
            for chunk in gnu_tree_chunks(root, mtime=mtime, numeric_owner=True):
                out.write(chunk[: limit - written])
                written += min(len(chunk), limit - written)
                if written >= limit:
                    break
        with open(sample_path, "rb") as f:
            sample = f.read()
        ref = subprocess.run(["pigz", "-nT"], input=sample, check=True, capture_output=True).stdout
        assert b"".join(pigz_chunks([sample])) == ref, "gzip bytes differ from pigz -nT"

        ref_r = subprocess.run(["pigz", "-nTR"], input=sample, check=True, capture_output=True).stdout
        assert b"".join(pigz_chunks([sample], rsyncable=True)) == ref_r, "differs from pigz -nTR"

        def run_pigz(threads: int, *flags: str) -> None:
            with open(sample_path, "rb") as f:
                subprocess.run(["pigz", "-nT", *flags, "-p", str(threads)], stdin=f,
                               stdout=subprocess.DEVNULL, check=True)

        def run_ours(threads: int, rsyncable: bool = False) -> None:
            for _ in pigz_chunks((sample[i:i + (1 << 20)] for i in range(0, len(sample), 1 << 20)),
                                 threads=threads, rsyncable=rsyncable):
                pass

        cores = os.cpu_count() or 1
        smib = len(sample) / (1 << 20)
        print(f"\ngzip ({smib:.0f} MiB of layer tar, output byte-identical to pigz -nT)")
        for threads in sorted({1, cores}):
            t_ref = best_of(3, lambda: run_pigz(threads))
            t_us = best_of(3, lambda: run_ours(threads))
            print(f"  {threads} thread(s): pigz {smib / t_ref:6.0f} MiB/s, nixlite "
                  f"{smib / t_us:6.0f} MiB/s, ratio {t_ref / t_us:.2f}x")
        print("gzip --rsyncable (pigz -nTR, today's buildLayeredImage)")
        for threads in sorted({1, cores}):
            t_ref = best_of(3, lambda: run_pigz(threads, "-R"))
            t_us = best_of(3, lambda: run_ours(threads, True))
            print(f"  {threads} thread(s): pigz {smib / t_ref:6.0f} MiB/s, nixlite "
                  f"{smib / t_us:6.0f} MiB/s, ratio {t_ref / t_us:.2f}x")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
