"""Benchmark dockerTools' native steps: a layered image of ≥ 300 MiB built cold, rebuilt
after one file changed, and its layer throughput against ``tar -c | sha256sum``.

    .venv/bin/python bench/dockertools.py [--mb 320] [--packages 8] [--keep]

The image is buildLayeredImage's (customisation layer, conf, archive) over generated
packages added to a temporary nixlite store.  "Warm" changes one file of the least popular
package (a new store path, so a new conf and archive), as a developer's edit does.  Each
figure is printed for the uncompressed archive (``compressor = "none"``) and the seed's
``pigz -nT`` one; the peak resident memory shows the steps stream rather than hold layers.
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
from nixlite.image.steps import NATIVE_STEPS  # noqa: E402
from nixlite.image.steps.storeview import StoreView, store_layer_chunks_at  # noqa: E402
from nixlite.store.local import LocalStore  # noqa: E402


def make_package(root: str, mb: int, seed: int) -> None:
    rng = random.Random(seed)
    noise = os.urandom(4 << 20)
    text = (b"all work and no play makes jack a dull boy " * 100_000)[: 4 << 20]
    total, n = 0, 0
    while total < mb << 20:
        d = os.path.join(root, "lib" if n % 3 else "share/doc", f"d{n // 100:03d}")
        os.makedirs(d, exist_ok=True)
        size = rng.randint(1 << 20, 4 << 20) if n % 50 == 0 else rng.randint(100, 20_000)
        source = noise if n % 2 else text
        start = rng.randint(0, len(source) - size)
        with open(os.path.join(d, f"f{n:06d}"), "wb") as f:
            f.write(source[start:start + size])
        total += size
        n += 1


def realise(store: LocalStore, step: str, name: str, args: dict, n: list[int]) -> str:
    n[0] += 1
    logical = f"{store.store_dir}/{n[0]:0>32}".replace("0", "a") + "-" + name
    build = store.make_temp_dir()
    ctx = StepContext(drv_path=logical + ".drv", env={"nixliteArgs": json.dumps(args)}, attrs=None,
                      outputs={"out": os.path.join(build, "out")}, output_paths={"out": logical},
                      build_dir=os.path.join(build, "build"), store=store, log=io.StringIO(),
                      cores=os.cpu_count() or 1)
    os.mkdir(ctx.build_dir)
    NATIVE_STEPS[step](ctx)
    path = store.add_prepared(ctx.outputs["out"], logical, ())
    subprocess.run(["chmod", "-R", "u+w", build], check=False)
    shutil.rmtree(build, ignore_errors=True)
    return path


def build_layered(store: LocalStore, contents: list[str], compressor, n: list[int]) -> tuple[str, float]:
    start = time.perf_counter()
    custom = realise(store, "nixlite-customisation-layer", "bench-customisation-layer",
                     {"contents": contents}, n)
    conf = realise(store, "nixlite-stream-conf", "bench-conf.json", {
        "name": "bench", "tag": "v1", "contents": contents, "maxLayers": 100,
        "baseJson": json.dumps({"architecture": "amd64", "config": {}, "os": "linux"}),
        "customisationLayer": custom, "created": "1970-01-01T00:00:01Z"}, n)
    archive = realise(store, "nixlite-layered-archive", "bench.tar",
                      {"conf": conf, "compressor": compressor}, n)
    return archive, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=320, help="image content in MiB (≥ 300)")
    parser.add_argument("--packages", type=int, default=8)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="nixlite-bench-docker-", dir="/tmp")
    try:
        store = LocalStore(os.path.join(base, "store"))
        print(f"generating {args.packages} packages, {args.mb} MiB in all ...", flush=True)
        paths = []
        for i in range(args.packages):
            src = os.path.join(base, f"src{i}")
            make_package(src, args.mb // args.packages, i)
            paths.append(store.add_path(src, f"pkg{i}-1.0", refs=paths[:1])[0])
        app_src = os.path.join(base, f"src{args.packages - 1}")
        n = [0]
        for compressor, label in ((None, "pigz -nT"), ("none", "uncompressed")):
            # a cold build knows no layer digests yet (the store's fetch cache holds them)
            store._db.execute("DELETE FROM FetchCache WHERE key LIKE 'dockertools-layer:%'")
            archive, cold = build_layered(store, paths, compressor, n)
            size = os.path.getsize(store.physical(archive)) / (1 << 20)
            with open(os.path.join(app_src, "lib", "d000", "f000001"), "ab") as f:
                f.write(f"edit {compressor}".encode())
            changed = store.add_path(app_src, f"pkg{args.packages - 1}-1.0")[0]
            contents = paths[:-1] + [changed]
            _, warm = build_layered(store, contents, compressor, n)
            print(f"\nbuildLayeredImage, {label} ({size:.0f} MiB archive)")
            print(f"  cold build                 {cold:7.2f} s")
            print(f"  warm rebuild (1 file)      {warm:7.2f} s  = {100 * warm / cold:.0f} % of cold"
                  " (target ≤ 10 %)")
            paths = contents

        start = time.perf_counter()
        realise(store, "nixlite-stream-script", "stream-bench", {"name": "bench", "conf": "x"}, n)
        script = time.perf_counter() - start
        print(f"\nstreamLayeredImage: its build is the customisation layer, conf and a "
              f"{script * 1000:.0f} ms script step;\n  the image is written by the script at "
              "`docker load` time, at the layer throughput below")

        # throughput: the store layers as the stream writes them, against tar | sha256sum
        view = StoreView.of(store)

        def ours() -> None:
            h = hashlib.sha256()
            for chunk in store_layer_chunks_at(paths, view, mtime=1):
                h.update(chunk)

        def tar() -> None:
            reals = [os.path.basename(store.physical(p)) for p in paths]
            subprocess.run(f"tar -C '{store.real_dir}' -cf - {' '.join(reals)} | sha256sum",
                           shell=True, check=True, capture_output=True)

        tar()
        t_tar = min(timed(tar) for _ in range(3))
        t_ours = min(timed(ours) for _ in range(3))
        mib = sum(len(c) for c in store_layer_chunks_at(paths, view, mtime=1)) / (1 << 20)
        print(f"\nstore layers ({mib:.0f} MiB of tar)")
        print(f"  tar -cf - | sha256sum      {mib / t_tar:7.0f} MiB/s")
        print(f"  nixlite layer + sha256     {mib / t_ours:7.0f} MiB/s  ratio {t_tar / t_ours:.2f}x"
              " (target ≥ 0.7x)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak resident memory of this process: {peak:.0f} MiB")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            subprocess.run(["chmod", "-R", "u+w", base], check=False)
            shutil.rmtree(base, ignore_errors=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
