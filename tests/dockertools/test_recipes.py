"""Recipes from fixtures/dockertools, as users write them: evaluated and instantiated by
nixlite (the drvPaths equal nix-instantiate's), built through their native steps, and the
images checked with skopeo and umoci, their root file systems asserted and their commands
run (chroot in a user namespace)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from stepkit import needs_store_mount, realise_drv, run_in, unpack
from test_images import push
from test_stream import BUSYBOX, needs_busybox

from nixlite.build.native import StepFailed

HERE = Path(__file__).parent
FIXTURES = HERE.parent.parent / "fixtures" / "dockertools"
STUB = HERE / "nixpkgs"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: recipes that import others reuse what is already built."""
    from nixlite.store.local import LocalStore

    root = tmp_path_factory.mktemp("recipes") / "nixlite"
    s = LocalStore(str(root))
    yield s
    s.close()
    subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)


@pytest.fixture(scope="module")
def busybox_dir(tmp_path_factory):
    if not os.path.isfile(BUSYBOX):
        pytest.skip("needs a static /bin/busybox (Debian package busybox-static)")
    root = tmp_path_factory.mktemp("busybox") / "busybox"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        if applet != "busybox":
            os.symlink("busybox", root / "bin" / applet)
    return root


def recipe_args(busybox_dir, **more) -> list[str]:
    args = ["-I", f"nixpkgs={STUB}"]
    if busybox_dir is not None:
        args += ["--arg", "busybox", f'builtins.path {{ name = "busybox"; path = {busybox_dir}; }}']
    for name, value in more.items():
        flag = "--argstr" if isinstance(value, str) else "--arg"
        args += [flag, name, value if isinstance(value, str) else json.dumps(value)]
    return args


def instantiate(store, recipe: str, args: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "nixlite", "instantiate", str(FIXTURES / recipe),
                           *args, "--store", store.root], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def build(store, recipe: str, args: list[str]) -> str:
    return realise_drv(store, instantiate(store, recipe, args))


def plain_archive(store, path: str, tmp_path: Path) -> Path:
    dest = tmp_path / (os.path.basename(path) + ".plain.tar")
    with open(store.physical(path), "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":
        dest.write_bytes(subprocess.run(["pigz", "-dc", store.physical(path)], capture_output=True,
                                        check=True).stdout)
    else:
        shutil.copy(store.physical(path), dest)
    return dest


needs_tools = pytest.mark.skipif(not (shutil.which("skopeo") and shutil.which("umoci")),
                                 reason="skopeo and umoci are needed")


@pytest.mark.skipif(not shutil.which("nix-instantiate"), reason="Nix 2.8 not installed")
@pytest.mark.parametrize("recipe", ["hello.nix", "layered.nix", "run-as-root.nix", "nix-db.nix",
                                    "merged.nix"])
def test_recipe_instantiates_as_nix_does(store, busybox_dir, recipe):
    args = recipe_args(busybox_dir)
    nix = subprocess.run(["nix-instantiate", str(FIXTURES / recipe), *args], capture_output=True,
                         text=True)
    assert nix.returncode == 0, nix.stderr
    assert instantiate(store, recipe, args) == nix.stdout.strip().splitlines()[-1]


@needs_busybox
@needs_tools
def test_hello_builds_and_runs(store, busybox_dir, tmp_path):
    image = build(store, "hello.nix", recipe_args(busybox_dir))
    assert image.endswith("-docker-image-Hello.tar.gz")
    archive = plain_archive(store, image, tmp_path)
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                                     capture_output=True, check=True).stdout)
    assert info["Labels"] == {"org.opencontainers.image.title": "hello"}
    rootfs, config = unpack(archive, tmp_path, "v1")
    assert (rootfs / "greeting").read_text() == "hello from nixlite\n"
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (rootfs / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    assert (rootfs / "bin" / "busybox").stat().st_mode & 0o777 == 0o555
    assert config["process"]["env"][0] == "PATH=/bin"  # umoci adds TERM and HOME
    assert run_in(rootfs, config["process"]["args"]) == "hello from nixlite\nroot\n"


@needs_busybox
@needs_tools
@needs_store_mount
def test_layered_builds_streams_and_runs(store, busybox_dir, tmp_path):
    archive = build(store, "layered.nix", recipe_args(busybox_dir))
    script = build(store, "layered.nix", recipe_args(busybox_dir, stream=True))
    streamed = subprocess.run([store.physical(script)], capture_output=True, check=True).stdout
    plain = plain_archive(store, archive, tmp_path)
    assert streamed == plain.read_bytes()
    with tarfile.open(plain) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert len(manifest[0]["Layers"]) == 3 and manifest[0]["RepoTags"] == ["layered:latest"]
    rootfs, config = unpack(plain, tmp_path, "latest")
    out = run_in(rootfs, config["process"]["args"])
    assert out == "data\n"
    if os.geteuid() == 0:
        listing = subprocess.run(["tar", "-xOf", str(plain), manifest[0]["Layers"][-1]],
                                 capture_output=True, check=True).stdout
        names = subprocess.run(["tar", "--numeric-owner", "-tvf", "-"], input=listing,
                               capture_output=True, check=True).stdout.decode()
        assert any(line.startswith("drwx------ 1000/1000") and line.endswith("./home/app/")
                   for line in names.splitlines())


@needs_busybox
@needs_tools
def test_run_as_root_recipe_and_its_export(store, busybox_dir, tmp_path):
    image = build(store, "run-as-root.nix", recipe_args(busybox_dir))
    rootfs, config = unpack(plain_archive(store, image, tmp_path), tmp_path, "latest")
    assert not (rootfs / "greeting").exists()
    assert run_in(rootfs, config["process"]["args"]).startswith("drwxr-xr-x")
    if os.geteuid() == 0:  # umoci --rootless gives every file to us: read the owner in the tar
        plain = plain_archive(store, image, tmp_path)
        with tarfile.open(plain) as tar:
            top = json.load(tar.extractfile("manifest.json"))[0]["Layers"][-1]
            with tarfile.open(fileobj=tar.extractfile(top)) as layer:
                alice = layer.getmember("./home/alice")
                assert (alice.uid, alice.gid) == (1000, 1000)
                assert "./.wh.greeting" in layer.getnames()
    exported = build(store, "run-as-root.nix", recipe_args(busybox_dir, export=True))
    with tarfile.open(store.physical(exported)) as tar:
        names = set(tar.getnames())
    assert "./home/alice" in names and "./greeting" not in names and "./bin/busybox" in names


@needs_busybox
@needs_tools
def test_pulled_base_recipe_and_a_wrong_hash(store, busybox_dir, tmp_path, registry):
    hello = build(store, "hello.nix", recipe_args(busybox_dir))
    digest = push(store, tmp_path, store.physical(hello), registry, "test/hello:v1")
    expected = tmp_path / "skopeo.tar"
    subprocess.run(["skopeo", "--insecure-policy", "--override-os", "linux", "--override-arch",
                    "amd64", "copy", "-q", "--src-tls-verify=false",
                    f"docker://{registry.host}/test/hello@{digest}",
                    f"docker-archive://{expected}:hello:v1"], check=True, capture_output=True)
    good = "sha256-" + base64.b64encode(hashlib.sha256(expected.read_bytes()).digest()).decode()
    wrong = "sha256-" + base64.b64encode(b"\0" * 32).decode()
    with pytest.raises(StepFailed, match=f"hash mismatch in fixed-output derivation .*\n.*"
                                         f"specified: {wrong}\n.*got: +{good}"):
        build(store, "pulled.nix", recipe_args(None, registry=registry.host, digest=digest,
                                                hash=wrong))
    image = build(store, "pulled.nix", recipe_args(None, registry=registry.host, digest=digest,
                                                    hash=good))
    rootfs, config = unpack(plain_archive(store, image, tmp_path), tmp_path, "latest")
    assert run_in(rootfs, config["process"]["args"]) == "built on a pulled image\n"


@needs_busybox
@needs_tools
def test_nix_db_and_merged_recipes(store, busybox_dir, tmp_path):
    image = build(store, "nix-db.nix", recipe_args(busybox_dir))
    rootfs, _ = unpack(plain_archive(store, image, tmp_path), tmp_path, "latest")
    assert (rootfs / "nix/var/nix/db/schema").read_text() == "10"
    assert (rootfs / "nix/var/nix/db/db.sqlite").stat().st_size > 0
    merged = plain_archive(store, build(store, "merged.nix", recipe_args(busybox_dir)), tmp_path)
    for tag in ("hello:v1", "layered:latest"):
        subprocess.run(["skopeo", "inspect", f"docker-archive:{merged}:{tag}"], check=True,
                       capture_output=True)
