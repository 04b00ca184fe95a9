"""Benchmark: ``nixlite image pull`` against ``skopeo copy`` from a local registry.

Builds an image of ``--size`` MB (default 128) spread over ``--layers`` layers — half random
bytes, half compressible text, as real layers are — loads it into a private docker-registry on
127.0.0.1 with skopeo (gzip layers), then pulls it to a docker-archive and to an OCI layout with
both tools.  Prints wall time and throughput (uncompressed MB/s) of each and the ratio
nixlite / skopeo (target ≤ 1.5×), and checks the docker-archive bytes are identical.

    .venv/bin/python bench/pull.py [--size MB] [--layers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_BIN = "/usr/bin/docker-registry"


def make_layer(path: Path, size: int, seed: int) -> str:
    """A layer tar of about ``size`` bytes; returns its diff_id."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(2000)]
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        written = 0
        n = 0
        while written < size:
            chunk = min(4 << 20, size - written)
            if n % 2:
                data = rng.randbytes(chunk)
            else:
                text = bytearray()
                while len(text) < chunk:
                    text += b" ".join(rng.choices(words, k=64)) + b"\n"
                data = bytes(text[:chunk])
            info = tarfile.TarInfo(f"usr/share/data/file{n:04d}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
            written += len(data)
            n += 1
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return "sha256:" + h.hexdigest()


def build_archive(work: Path, total: int, layers: int) -> Path:
    names, diff_ids = [], []
    per = total // layers
    for i in range(layers):
        path = work / f"layer{i}.tar"
        diff_ids.append(make_layer(path, per, i))
        names.append(path.name)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    (work / "config.json").write_bytes(config)
    (work / "manifest.json").write_text(json.dumps([{"Config": "config.json", "Layers": names}]))
    archive = work / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ["config.json", *names, "manifest.json"]:
            tar.add(work / name, arcname=name)
    for name in names:
        (work / name).unlink()
    return archive


def start_registry(work: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = work / "config.yml"
    cfg.write_text("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                   f"storage:\n  filesystem:\n    rootdirectory: {work / 'storage'}\n"
                   f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection(host, timeout=1)
            conn.request("GET", "/v2/")
            if conn.getresponse().status == 200:
                return proc, host
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("docker-registry did not start")


def timed(cmd: list[str], repeat: int, cleanup) -> float:
    best = float("inf")
    for _ in range(repeat):
        cleanup()
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="image size in MB (uncompressed)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not (os.path.exists(REGISTRY_BIN) and shutil.which("skopeo")):
        raise SystemExit("needs docker-registry and skopeo")
    with tempfile.TemporaryDirectory(prefix="nixlite-bench-pull-") as tmp:
        work = Path(tmp)
        print(f"building a {args.size} MB image in {args.layers} layers ...", flush=True)
        archive = build_archive(work, args.size << 20, args.layers)
        proc, host = start_registry(work)
        try:
            ref = f"docker://{host}/bench/big:1"
            subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                            f"docker-archive:{archive}", ref], check=True)
            with tarfile.open(archive) as tar:
                tar_bytes = sum(m.size for m in tar if m.name.startswith("layer"))
            mb = tar_bytes / 1e6
            out_s, out_n = work / "skopeo.tar", work / "nixlite.tar"
            oci_s, oci_n = work / "skopeo-oci", work / "nixlite-oci"

            def clean():
                for p in (out_s, out_n):
                    p.unlink(missing_ok=True)
                for p in (oci_s, oci_n):
                    shutil.rmtree(p, ignore_errors=True)

            nixlite = [sys.executable, "-m", "nixlite", "image", "pull", ref,
                       "--tls-verify=false", "-q", "--tag", "bench/big:1"]
            skopeo = ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", ref]
            rows = [
                ("docker-archive", timed(skopeo + [f"docker-archive:{out_s}:bench/big:1"],
                                         args.repeat, clean),
                 timed(nixlite + ["-o", str(out_n)], args.repeat, lambda: out_n.unlink(missing_ok=True))),
                ("oci", timed(skopeo + [f"oci:{oci_s}:1"], args.repeat,
                              lambda: shutil.rmtree(oci_s, ignore_errors=True)),
                 timed(nixlite + ["-o", str(oci_n), "--format", "oci"], args.repeat,
                       lambda: shutil.rmtree(oci_n, ignore_errors=True))),
            ]
            identical = out_s.read_bytes() == out_n.read_bytes() if out_s.exists() else None
        finally:
            proc.terminate()
            proc.wait()
    print(f"image: {mb:.0f} MB of layer tars, {args.layers} layers, best of {args.repeat}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'output':<16}{'skopeo s':>10}{'MB/s':>9}{'nixlite s':>11}{'MB/s':>9}{'ratio':>8}")
    for name, s, n in rows:
        print(f"{name:<16}{s:>10.2f}{mb / s:>9.0f}{n:>11.2f}{mb / n:>9.0f}{n / s:>7.2f}x")
    print(f"docker-archive bytes identical to skopeo's: {identical}")


if __name__ == "__main__":
    main()
