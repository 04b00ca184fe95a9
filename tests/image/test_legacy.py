"""The seed's buildImage output, compared with the seed's own shell steps run with the real
tar, jq, jshon, sort/comm and pigz (spec §4).  TarSum has no reference binary here: it is
checked against a second implementation driven by Python's tarfile."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from seed_result import SEED_RESULT, needs_seed_tools

from nixlite.image.jsonstyle import jq_dumps, jshon_dumps
from nixlite.image.legacy import append_entries, build_image_chunks, tarsum_v1
from nixlite.image.tarwriter import gnu_tree_chunks

SDE = 315532800
# jq and jshon are the programs the seed runs (Debian packages jq, jshon)
needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
needs_jshon = pytest.mark.skipif(shutil.which("jshon") is None or shutil.which("jq") is None,
                                 reason="jshon or jq is not installed")

SAMPLES = [
    {"architecture": "amd64", "config": {"Cmd": ["/bin/sh", "-c", "echo \"hi\"\t\\"],
                                         "Env": ["A=é😀", "B=\u0001\u001f\u007f"],
                                         "ExposedPorts": {"80/tcp": {}}, "Labels": None,
                                         "Volumes": {}, "Healthcheck": {"Interval": 30000000000}},
     "created": "1970-01-01T00:00:01Z", "os": "linux", "flags": [True, False, [], [[]]]},
    [0.1, 1.5, 1e100, 1e16, 1e15, 2.5e-7, 0.0001, 123456789, -3, 12345678901234567, 300.0],
]


@needs_jq
@pytest.mark.parametrize("value", SAMPLES)
def test_jq_printer_matches_jq(value):
    text = json.dumps(value)
    assert jq_dumps(json.loads(text)) == subprocess.run(
        ["jq", "."], input=text, capture_output=True, text=True, check=True).stdout


@needs_jshon
@pytest.mark.parametrize("value", [SAMPLES[0], [0.1, 1.5, 1e100, 2.5e-7, 3, 300.0, "a/b"]])
def test_jshon_printer_matches_jshon(value):
    text = json.dumps(value)
    assert jshon_dumps(json.loads(text)) == subprocess.run(
        ["jshon"], input=text, capture_output=True, text=True, check=True).stdout


def reference_tarsum(path: str) -> str:
    """TarSum v1 from the spec, over Python's tarfile view of the archive."""
    sums = []
    with tarfile.open(path) as tar:
        for info in tar:
            fields = [("name", info.name + ("/" if info.isdir() and not info.name.endswith("/") else "")),
                      ("mode", str(info.mode)), ("uid", str(info.uid)), ("gid", str(info.gid)),
                      ("size", str(info.size)), ("typeflag", info.type.decode()),
                      ("linkname", info.linkname), ("uname", info.uname), ("gname", info.gname),
                      ("devmajor", str(info.devmajor)), ("devminor", str(info.devminor))]
            h = hashlib.sha256("".join(k + v for k, v in fields).encode("utf-8", "surrogateescape"))
            if info.isfile():
                h.update(tar.extractfile(info).read())
            sums.append(h.hexdigest())
    return "tarsum.v1+sha256:" + hashlib.sha256("".join(sorted(sums)).encode()).hexdigest()


def test_tarsum_matches_reference(tree, tmp_path):
    data = b"".join(gnu_tree_chunks(tree, mtime=SDE, uid=0, gid=0))
    path = tmp_path / "l.tar"
    path.write_bytes(data)
    # tarfile keeps GNU "./" names without the trailing slash for directories; TarSum
    # hashes the name as stored, which is what our reader reports
    ours = tarsum_v1([data])
    assert ours.startswith("tarsum.v1+sha256:")
    assert ours == reference_tarsum(str(path))


def test_append_matches_tar_r(tree, tmp_path):
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "motd").write_text("hi\n")
    base = b"".join(gnu_tree_chunks(str(layer), mtime=SDE, uid=0, gid=0))
    names = sorted(os.path.join(tree, n) for n in ("bin", "bin/hello", "bin/hi", "big", "hardlink",
                                                   "d" * 120, "l" * 130))
    copy = tmp_path / "copy.tar"
    copy.write_bytes(base)
    (tmp_path / "list").write_text("\n".join(names) + "\n")
    subprocess.run(["tar", "-rpf", str(copy), "--hard-dereference", "--sort=name",
                    f"--mtime=@{SDE}", "--owner=0", "--group=0", "--no-recursion",
                    "--files-from", str(tmp_path / "list")], check=True, capture_output=True)
    ours = append_entries(base, [(os.fsencode(n.lstrip("/")), n) for n in names],
                          uid=0, gid=0, uname="root", gname="root")
    assert ours == copy.read_bytes()


# mkPureLayer's output for the seed's result script: the layer tar and its json (TarSum)
PURE_LAYER = r'''
tar -C "$contents" --hard-dereference --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 -cf "$layer/layer.tar" .
jshon -s "$TARHASH" -i checksum < "$baseJson" > "$layer/json"
echo -n "1.0" > "$layer/VERSION"
'''


@needs_seed_tools
@pytest.mark.parametrize("config", [{"Cmd": ["/bin/hello"], "Env": ["PATH=/bin"]}, None])
def test_build_image_matches_the_seed_steps(tmp_path, config):
    store = tmp_path / "nix" / "store"
    app = store / "7gx4kiv5m0i7d7qkixq2cwzbr10lvxwc-hello-2.10"
    (app / "bin").mkdir(parents=True)
    (app / "bin" / "hello").write_text("#!/bin/sh\necho hello\n")
    (app / "bin" / "hello").chmod(0o555)
    (app / ("x" * 110)).write_text("long")
    libc = store / "1b9p07z77phvv2hf6gm9f28syp39f1ag-glibc"
    (libc / "lib").mkdir(parents=True)
    (libc / "lib" / "libc.so").write_bytes(b"\x7fELF")
    layer_path = str(store / "0c0z6g7ni7ib7mxqk8q3smscy8a5iw7r-docker-layer-hello")
    os.makedirs(layer_path)  # the mkPureLayer output: its own files are grep'ed out
    layer = tmp_path / "layer"
    (layer / "bin").mkdir(parents=True)
    (layer / "bin" / "hello").symlink_to(str(app / "bin" / "hello"))
    (layer / "etc").mkdir()
    (layer / "etc" / "os-release").write_text("ID=nixos\n")
    base = {"architecture": "amd64", "config": config, "created": "1970-01-01T00:00:01Z", "os": "linux"}
    base_json = json.dumps(base, separators=(",", ":"), sort_keys=True).encode()
    (tmp_path / "base.json").write_bytes(base_json)
    closure = [layer_path, str(app), str(libc)]
    (tmp_path / "closure").write_text("\n".join(closure) + "\n")
    layer_tar = b"".join(gnu_tree_chunks(str(layer), mtime=SDE, uid=0, gid=0))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, LC_ALL="C", SOURCE_DATE_EPOCH=str(SDE), contents=str(layer),
               layer=layer_path, baseJson=str(tmp_path / "base.json"), TARHASH=tarsum_v1([layer_tar]),
               layerClosure=str(tmp_path / "closure"), fromImage="", imageName="hello",
               imageTag="v1", out=str(work / "out.tar.gz"))
    proc = subprocess.run(["bash", "-eo", "pipefail", "-c", PURE_LAYER + SEED_RESULT], cwd=work,
                          env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    expected = (work / "out.tar.gz").read_bytes()
    ours = b"".join(build_image_chunks(layer_dir=str(layer), base_json=base_json, name="hello",
                                       tag="v1", closure=closure, layer_path=layer_path))
    if ours != expected:  # show which member differs
        plain_ours = subprocess.run(["pigz", "-dc"], input=ours, capture_output=True).stdout
        plain_ref = subprocess.run(["pigz", "-dc"], input=expected, capture_output=True).stdout
        assert plain_ours == plain_ref
    assert ours == expected
    subprocess.run(["chmod", "-R", "u+w", str(work)], check=True)
    (tmp_path / "img.tar").write_bytes(subprocess.run(["pigz", "-dc"], input=ours,
                                                      capture_output=True, check=True).stdout)
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{tmp_path}/img.tar"],
                                     capture_output=True, check=True).stdout)
    assert info["Architecture"] == "amd64"
