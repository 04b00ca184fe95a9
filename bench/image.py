"""Benchmark nixlite's images against the reference tools on this machine.

    .venv/bin/python bench/image.py [--mb 320] [--packages 8] [--gzip-mb 128] [--keep]

1. buildLayeredImage on an image of ≥ 300 MiB (``--mb`` of generated packages in a
   temporary nixlite store, plus a small app package that uses them all): the cold build,
   then a warm rebuild after one file of the app grew by 64 KiB (a new store path, so a new
   layer, conf and archive; target ≤ 10 % of cold), one after a file of a big package
   changed in place (its layer keeps its size), and one after that file grew by 64 KiB.
   For the seed's ``pigz -nT`` archive, the default ``compressor = "gz"`` (``pigz -nTR``)
   and ``none``.  Each step runs as ``nixlite build`` runs it: output written in place,
   then normalised, NAR-hashed and scanned for references (a pass over the whole archive)
   and registered; the disk is synced before each build, outside its timing.
   Deflated gzip jobs are cached (``nixlite.image.gzip.JobCache``) by where they lie
   (the layers' diff_ids and offsets under them): a job over unchanged layers at unchanged
   offsets is found without reading them.  With the seed's ``-nT`` the jobs sit on a fixed
   128 KiB grid: an edit that keeps its layer's size recompresses only the jobs over the
   changed bytes, but one that changes it shifts every later job (layer tars are padded
   to 10 KiB records, so by a multiple of 10 KiB: the jobs miss unless it is one of
   128 KiB too) and everything after it is deflated again — pigz's bytes for shifted
   input are new bytes.  Layers go most popular first and the app's last, so an app
   edit shifts only the customisation layer and the JSON, while growing a package that
   many layers follow costs close to a cold build.  With ``-nTR`` the cuts come from the bytes: each layer's cut points are kept
   too, the cuts fall back into step after the edit, and the jobs after it match again.
   ``none`` copies each unchanged layer's bytes from the earlier archive in the store
   (``LayerCache``) instead of tarring and hashing it again.  What remains of a warm
   rebuild is writing the new archive and the registration's pass over it.
2. Store layers as the stream script writes them, + sha256, against ``tar -cf - | sha256sum``
   on the same paths (target ≥ 0.7× tar's throughput), and the GNU dialect of the
   customisation layer checked byte for byte against GNU tar.
3. gzip: nixlite's pigz-identical compressor against ``pigz -nT`` and ``pigz -nTR``.

Peak resident memory is printed after the builds: the steps stream, they never hold a layer
(the gzip comparison after it holds its sample in memory).
Each throughput is the best of three runs after a warm-up (both sides read the page cache).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from nixlite.build.native import StepContext  # noqa: E402
from nixlite.build.outputs import normalise, scan  # noqa: E402
from nixlite.image.gzip import pigz_chunks  # noqa: E402
from nixlite.image.steps import NATIVE_STEPS  # noqa: E402
from nixlite.image.steps.storeview import StoreView  # noqa: E402
from nixlite.image.tarwriter import gnu_tree_chunks, store_layer_chunks  # noqa: E402
from nixlite.store.local import LocalStore, PathInfo  # noqa: E402


def realise(store: LocalStore, step: str, name: str, args: dict, n: list[int]) -> str:
    """Run one native step as ``nixlite build`` does: the output written in place, then
    normalised, NAR-hashed and scanned for references to the inputs' closure, registered."""
    n[0] += 1
    logical = f"{store.store_dir}/{n[0]:0>32}".replace("0", "a") + "-" + name
    build = store.make_temp_dir()
    out = store.physical(logical)
    ctx = StepContext(drv_path=logical + ".drv", env={"nixliteArgs": json.dumps(args)}, attrs=None,
                      outputs={"out": out}, output_paths={"out": logical},
                      build_dir=os.path.join(build, "build"), store=store, log=io.StringIO(),
                      cores=os.cpu_count() or 1)
    os.mkdir(ctx.build_dir)
    NATIVE_STEPS[step](ctx)
    inputs = [v for v in args.values() if isinstance(v, str) and v.startswith(store.store_dir)]
    inputs += [p for v in args.values() if isinstance(v, list) for p in v]
    normalise(out)
    nar, size, refs = scan(out, store.closure(inputs) | {logical})
    store.register_outputs([PathInfo(logical, nar, size, refs, deriver=logical + ".drv")])
    subprocess.run(["chmod", "-R", "u+w", build], check=False)
    shutil.rmtree(build, ignore_errors=True)
    return logical


def build_layered(store: LocalStore, contents: list[str], compressor, n: list[int]) -> float:
    """buildLayeredImage's three steps (customisation layer, conf, archive); seconds.  The
    disk is synced first, outside the timing: no build pays for the previous one's writes."""
    os.sync()
    start = time.perf_counter()
    custom = realise(store, "nixlite-customisation-layer", "bench-customisation-layer",
                     {"contents": contents}, n)
    conf = realise(store, "nixlite-stream-conf", "bench-conf.json", {
        "name": "bench", "tag": "v1", "contents": contents, "maxLayers": 100,
        "baseJson": json.dumps({"architecture": "amd64", "config": {}, "os": "linux"}),
        "customisationLayer": custom, "created": "1970-01-01T00:00:01Z"}, n)
    archive = realise(store, "nixlite-layered-archive", "bench.tar",
                      {"conf": conf, "compressor": compressor}, n)
    elapsed = time.perf_counter() - start
    build_layered.size = os.path.getsize(store.physical(archive))
    return elapsed


GROWTH = 64 << 10  # more than a tar record (10 KiB): the layer surely grows


def change(src: str, data: bytes, grow: bool) -> None:
    """Change one file of a package's source: ``data`` appended, or written over its start."""
    with open(os.path.join(src, "lib", "d000", "f000002"), "ab" if grow else "r+b") as f:
        f.write(data)


def bench_builds(base: str, total_mb: int, packages: int) -> tuple[LocalStore, list[str]]:
    store = LocalStore(os.path.join(base, "store"))
    print(f"generating {packages} packages, {total_mb} MiB in all, and a 1 MiB app ...",
          flush=True)
    paths = []
    for i in range(packages):
        src = os.path.join(base, f"src{i}")
        make_package(src, total_mb // packages, i)
        paths.append(store.add_path(src, f"pkg{i}-1.0", refs=paths[:1])[0])
    app_src = os.path.join(base, "app")
    make_package(app_src, 1, 99)
    # the app uses every package (as an app its libraries): it is the least popular path,
    # so its layer is the last store layer, as an image's own program usually is
    paths.append(store.add_path(app_src, "app-1.0", refs=list(paths))[0])
    n = [0]
    for compressor, label in ((None, "pigz -nT, the seed's"), ("gz", "pigz -nTR, compressor \"gz\""),
                              ("none", "uncompressed")):
        cold = build_layered(store, paths, compressor, n)
        size = build_layered.size / (1 << 20)
        # the app's file grows by 64 KiB, so its layer does too (every later byte shifts)
        change(app_src, random.Random(str(compressor)).randbytes(GROWTH), grow=True)
        paths[-1] = store.add_path(app_src, "app-1.0", refs=paths[:-1])[0]
        warm = build_layered(store, paths, compressor, n)
        # bytes of a package's file change in place (its layer keeps its size), then that
        # file grows by 64 KiB; the app is rebuilt on each new package (a new store path)
        timings = []
        for data, grows in ((f"edit {compressor}".encode(), False), (bytes(GROWTH), True)):
            change(os.path.join(base, "src1"), data, grows)
            paths[1] = store.add_path(os.path.join(base, "src1"), "pkg1-1.0", refs=paths[:1])[0]
            paths[-1] = store.add_path(app_src, "app-1.0", refs=paths[:-1])[0]
            timings.append(build_layered(store, paths, compressor, n))
        deep, grown = timings
        mb = total_mb // packages
        print(f"\nbuildLayeredImage, {label} ({size:.0f} MiB archive)")
        print(f"  cold build                                          {cold:7.2f} s")
        for what, seconds in ((" one app file grown by 64 KiB", warm),
                              (f" one file of a {mb} MiB package changed", deep),
                              (f" that file grown by {GROWTH >> 10} KiB", grown)):
            print(f"  warm rebuild,{what:<40}{seconds:7.2f} s  = {100 * seconds / cold:3.0f} % of "
                  f"cold{' (target ≤ 10 %)' if seconds is warm else ''}")
    return store, paths


def make_package(root: str, mb: int, seed: int) -> None:
    rng = random.Random(seed)
    noise = rng.randbytes(4 << 20)
    text = (b"all work and no play makes jack a dull boy " * 100_000)[: 4 << 20]
    total, n = 0, 0
    while total < mb << 20:
        d = os.path.join(root, "lib" if n % 3 else "share/doc", f"d{n // 100:03d}")
        os.makedirs(d, exist_ok=True)
        size = rng.randint(1 << 20, 4 << 20) if n % 50 == 49 else rng.randint(100, 20_000)
        source = noise if n % 2 else text
        start = rng.randint(0, len(source) - size)
        with open(os.path.join(d, f"f{n:06d}"), "wb") as f:
            f.write(source[start:start + size])
        total += size
        n += 1


def bench_store_layers(store: LocalStore, paths: list[str]) -> None:
    """Store layers as the stream script writes them, against tar | sha256sum."""
    view = StoreView.of(store)

    def ours() -> None:
        h = hashlib.sha256()
        for chunk in store_layer_chunks(paths, view=view, mtime=1):
            h.update(chunk)

    def tar() -> None:
        reals = [os.path.basename(store.physical(p)) for p in paths]
        subprocess.run(f"tar -C '{store.real_dir}' -cf - {' '.join(reals)} | sha256sum",
                       shell=True, check=True, capture_output=True)

    tar()
    t_tar = best_of(3, tar)
    t_ours = best_of(3, ours)
    mib = sum(len(c) for c in store_layer_chunks(paths, view=view, mtime=1)) / (1 << 20)
    print(f"\nstore layers of that image ({mib:.0f} MiB of tar)")
    print(f"  tar -cf - | sha256sum          {mib / t_tar:7.0f} MiB/s")
    print(f"  nixlite layer + sha256         {mib / t_ours:7.0f} MiB/s  ratio {t_tar / t_ours:.2f}x"
          " (target ≥ 0.7x)")


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
    parser.add_argument("--mb", type=int, default=320, help="image content in MiB (≥ 300)")
    parser.add_argument("--packages", type=int, default=8)
    parser.add_argument("--gzip-mb", type=int, default=128, help="bytes of layer tar to gzip")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="nixlite-bench-", dir="/tmp")
    try:
        store, paths = bench_builds(base, args.mb, args.packages)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak resident memory after the builds: {peak:.0f} MiB (steps stream: flat in "
              "the image size)")
        bench_store_layers(store, paths)

        # the customisation layer's GNU dialect, on the packages' source tree
        root = os.path.join(base, "src0")
        mtime = 315532800
        expected = subprocess.run(
            f"tar -C '{root}' --sort=name --mtime=@{mtime} --numeric-owner --hard-dereference "
            "-cf - . | sha256sum", shell=True, check=True, capture_output=True, text=True).stdout.split()[0]
        assert ours_sha256(gnu_tree_chunks(root, mtime=mtime, numeric_owner=True)) == expected
        mib = sum(len(c) for c in gnu_tree_chunks(root, mtime=mtime, numeric_owner=True)) / (1 << 20)
        t_tar = best_of(3, lambda: tar_sha256(root))
        t_gnu = best_of(3, lambda: ours_sha256(gnu_tree_chunks(root, mtime=mtime, numeric_owner=True)))
        print(f"\nGNU dialect (customisation layer), {mib:.0f} MiB tar, same bytes as GNU tar")
        print(f"  tar -cf - DIR | sha256sum      {mib / t_tar:7.0f} MiB/s")
        print(f"  nixlite GNU dialect + sha256   {mib / t_gnu:7.0f} MiB/s  ratio {t_tar / t_gnu:.2f}x")

        sample_path = os.path.join(base, "sample.tar")
        limit = args.gzip_mb << 20
        with open(sample_path, "wb") as out:
            written = 0
            for chunk in store_layer_chunks(paths, view=StoreView.of(store), mtime=1):
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
            subprocess.run(["chmod", "-R", "u+w", base], check=False)
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
