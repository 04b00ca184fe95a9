"""Running native dockerTools steps as the realiser does, over a temporary LocalStore.

``realise(store, "nixlite-docker-layer", "docker-layer-x", args)`` calls the step with a
StepContext (physical output in a fresh build dir on the store's file system), then does
what the realiser does after a builder: scans the output for the hash parts of valid paths
and registers it (normalised by the store's commit) under a logical path derived from the
step and its arguments, which it returns.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nixlite.build.native import StepContext
from nixlite.image.steps import NATIVE_STEPS
from nixlite.store.hashes import nixbase32_encode
from nixlite.store.local import LocalStore

STORE = "/nix/store"


def store_path_for(name: str, salt: str) -> str:
    digest = hashlib.sha256(f"{name}\0{salt}".encode()).digest()[:20]
    return f"{STORE}/{nixbase32_encode(digest)}-{name}"


def scan_references(store: LocalStore, physical: str, self_path: str) -> set[str]:
    """Valid store paths whose hash part occurs in the output's bytes (Nix's scan)."""
    candidates = {os.path.basename(p).split("-", 1)[0].encode(): p
                  for p in store.all_valid_paths()}
    candidates[os.path.basename(self_path).split("-", 1)[0].encode()] = self_path
    found = set()
    files = [physical] if not os.path.isdir(physical) or os.path.islink(physical) else [
        os.path.join(d, n) for d, dirs, names in os.walk(physical) for n in dirs + names]
    for path in files:
        data = os.readlink(path).encode() if os.path.islink(path) else (
            open(path, "rb").read() if os.path.isfile(path) else b"")
        for h, p in candidates.items():
            if h in data or h in os.path.basename(path).encode():
                found.add(p)
    return found


def context(store: LocalStore, name: str, args: dict, *, out: str | None = None,
            env: dict | None = None) -> StepContext:
    build = store.make_temp_dir()
    logical = out or store_path_for(name, json.dumps(args, sort_keys=True))
    return StepContext(
        drv_path=store_path_for(name + ".drv", json.dumps(args, sort_keys=True)),
        env={"nixliteArgs": json.dumps(args), "out": logical, **(env or {})}, attrs=None,
        outputs={"out": os.path.join(build, "out")}, output_paths={"out": logical},
        build_dir=os.path.join(build, "build"), store=store, log=io.StringIO(), cores=2)


def realise(store: LocalStore, step: str, name: str, args: dict, **options) -> str:
    ctx = context(store, name, args, **options)
    os.mkdir(ctx.build_dir)
    try:
        NATIVE_STEPS[step](ctx)
        logical = ctx.output_paths["out"]
        refs = scan_references(store, ctx.outputs["out"], logical) - {logical}
        if store.is_valid(logical):
            return logical
        return store.add_prepared(ctx.outputs["out"], logical, refs)
    finally:
        subprocess.run(["chmod", "-R", "u+w", os.path.dirname(ctx.build_dir)], check=False)
        shutil.rmtree(os.path.dirname(ctx.build_dir), ignore_errors=True)


def add_tree(store: LocalStore, tmp, name: str, files: dict, refs=()) -> str:
    """A store path made from ``files`` (relative name → bytes, or ('link', target), or
    ('exec', bytes)); ``refs`` are recorded as its references."""
    root = tmp / f"src-{name}-{len(files)}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for rel, value in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, tuple) and value[0] == "link":
            os.symlink(value[1], path)
        elif isinstance(value, tuple) and value[0] == "dir":
            path.mkdir()
        elif isinstance(value, tuple) and value[0] == "exec":
            path.write_bytes(value[1])
            path.chmod(0o755)
        else:
            path.write_bytes(value)
    return store.add_path(str(root), name, refs=refs)[0]


def _can_mount_store() -> bool:
    if not os.path.isdir("/nix/store") or not shutil.which("unshare"):
        return False
    flags = ["-m"] if os.geteuid() == 0 else ["-rm"]
    return subprocess.run(["unshare", *flags, "true"], capture_output=True).returncode == 0


needs_store_mount = pytest.mark.skipif(
    not _can_mount_store(), reason="needs /nix/store as a mount point and mount namespaces")


def run_with_store(store: LocalStore, script: str, *, cwd, env: dict) -> subprocess.CompletedProcess:
    """Run bash ``script`` where /nix/store is ``store`` (bind-mounted in a private mount
    namespace: the host's Nix store is never touched)."""
    flags = ["-m"] if os.geteuid() == 0 else ["-rm"]
    wrapper = f'mount --bind {store.real_dir} /nix/store && exec bash -eo pipefail -c "$0"'
    return subprocess.run(["unshare", *flags, "bash", "-c", wrapper, script], cwd=cwd,
                          env={"PATH": os.environ["PATH"], "LC_ALL": "C", "TZ": "UTC",
                               "SOURCE_DATE_EPOCH": "315532800", **env},
                          capture_output=True)


def realise_drv(store: LocalStore, drv_path: str, log: io.StringIO | None = None) -> str:
    """Build a derivation graph whose builders are all native dockerTools steps, in
    dependency order, as ``nixlite build`` will (until it lands): inputs first, then the
    step, the reference scan over the inputs' closure, the fixed-output hash check with Nix's
    message, and registration.  Returns the ``out`` path."""
    from nixlite.build.native import StepFailed
    from nixlite.store.hashes import Hash

    drv = store.read_derivation(drv_path)
    out = drv.outputs["out"].path
    if store.is_valid(out):
        return out
    for input_drv in sorted(drv.input_drvs):
        realise_drv(store, input_drv, log)
    if not drv.builder.startswith("builtin:nixlite-"):
        pytest.skip(f"'{drv_path}' needs a process builder ({drv.builder}): nixlite build")
    build = store.make_temp_dir()
    ctx = StepContext(drv_path=drv_path, env=dict(drv.env), attrs=None,
                      outputs={"out": os.path.join(build, "out")}, output_paths={"out": out},
                      build_dir=os.path.join(build, "build"), store=store,
                      log=log or io.StringIO(), cores=2)
    os.mkdir(ctx.build_dir)
    try:
        NATIVE_STEPS[drv.builder.removeprefix("builtin:")](ctx)
        if drv.is_fixed_output():
            spec = drv.outputs["out"]
            got = hashlib.sha256(open(ctx.outputs["out"], "rb").read()).hexdigest()
            if got != spec.hash:
                raise StepFailed(
                    f"hash mismatch in fixed-output derivation '{drv_path}':\n"
                    f"         specified: {Hash('sha256', bytes.fromhex(spec.hash)).sri()}\n"
                    f"            got:    {Hash('sha256', bytes.fromhex(got)).sri()}")
        inputs = store.closure([store.read_derivation(d).outputs[o].path
                                for d, outs in drv.input_drvs.items() for o in outs]
                               + sorted(drv.input_srcs))
        refs = {p for p in scan_references(store, ctx.outputs["out"], out) if p in inputs}
        return store.add_prepared(ctx.outputs["out"], out, refs)
    finally:
        subprocess.run(["chmod", "-R", "u+w", build], check=False)
        shutil.rmtree(build, ignore_errors=True)


def unpack(archive, tmp_path, tag: str):
    """skopeo copy docker-archive → OCI layout, then umoci unpack: (rootfs, runtime config)."""
    archive = Path(archive)
    oci = tmp_path / f"oci-{archive.stem}"
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{oci}:{tag}"],
                   check=True, capture_output=True)
    bundle = tmp_path / f"bundle-{archive.stem}"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{oci}:{tag}", str(bundle)],
                   check=True, capture_output=True)
    return bundle / "rootfs", json.loads((bundle / "config.json").read_text())


def run_in(rootfs: Path, args: list[str]) -> str:
    """The command's output, run as root in a user namespace chrooted into ``rootfs``."""
    proc = subprocess.run(["unshare", "-r", shutil.which("chroot"), str(rootfs), *args],
                          capture_output=True, text=True, env={"PATH": "/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
