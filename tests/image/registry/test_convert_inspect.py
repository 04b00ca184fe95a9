"""``nixlite image convert`` and ``inspect``: skopeo as the reference, hostile inputs refused."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile

import pytest

from nixlite.cli import main
from imagekit import docker_archive, image_config, layer_tar, tar_file
from regkit import needs_tools, skopeo

pytestmark = needs_tools


def nixlite(*args: str) -> int:
    return main(["image", *args])


@pytest.fixture
def archive(tmp_path):
    layers = [layer_tar([("a/b", b"1" * 3000)], symlinks=[("a/c", "b")]),
              layer_tar([("d", b"2")])]
    config = image_config(layers)
    return docker_archive(tmp_path / "in.tar", layers, config, repo_tags=["conv:7"])


def test_convert_roundtrip_matches_skopeo(archive, tmp_path):
    layout = tmp_path / "layout"
    assert nixlite("convert", str(archive), str(layout), "-q") == 0
    info = json.loads(skopeo("inspect", f"oci:{layout}:7").stdout)
    assert len(info["Layers"]) == 2
    back = tmp_path / "back.tar"
    assert nixlite("convert", f"oci:{layout}:7", f"docker-archive:{back}:conv:7", "-q") == 0
    expected = tmp_path / "skopeo.tar"
    skopeo("copy", "-q", f"oci:{layout}:7", f"docker-archive:{expected}:conv:7")
    assert back.read_bytes() == expected.read_bytes()


def test_convert_from_gzip_archive_and_to_stdout(archive, tmp_path, capfdbinary):
    gz = tmp_path / "in.tar.gz"
    gz.write_bytes(gzip.compress(archive.read_bytes()))
    assert nixlite("convert", str(gz), "-", "-q") == 0
    out = capfdbinary.readouterr().out
    expected = tmp_path / "skopeo.tar"
    skopeo("copy", "-q", f"docker-archive:{archive}", f"docker-archive:{expected}:conv:7")
    assert out == expected.read_bytes()


def test_inspect_json_like_skopeo(archive, capsys):
    assert nixlite("inspect", str(archive), "--json") == 0
    ours = capsys.readouterr().out
    assert ours == skopeo("inspect", f"docker-archive:{archive}").stdout


def test_inspect_archives_with_compressed_members_byte_for_byte_like_skopeo(tmp_path, capfd):
    """skopeo's docker-archive source names every layer by its diff_id with its uncompressed
    size (under the gzip media type), and leaves RepoTags empty (it lists a registry
    repository's tags, which an archive has none of) — with or without RepoTags in
    manifest.json, with gzip members or plain ones, and without checking the layers."""
    ok, bad = _gzip_member_archives(tmp_path)
    layer = layer_tar([("bin/hello", b"hello\n")])
    plain = docker_archive(tmp_path / "plain.tar", [layer], image_config([layer]))
    for path in (ok, bad, plain):
        for flags in (["--json"], ["--raw"], ["--config", "--raw"]):
            skopeo_flags = [f for f in flags if f != "--json"]
            assert nixlite("inspect", str(path), *flags) == 0
            theirs = skopeo("inspect", *skopeo_flags, f"docker-archive:{path}").stdout
            assert capfd.readouterr().out.rstrip("\n") == theirs.rstrip("\n"), (path, flags)
    assert nixlite("inspect", str(ok), "--json") == 0
    info = json.loads(capfd.readouterr().out)
    assert info["RepoTags"] == [] and info["Layers"] == [image_config_diff_id(ok)]


def image_config_diff_id(path) -> str:
    with tarfile.open(path) as tar:
        return json.load(tar.extractfile("config.json"))["rootfs"]["diff_ids"][0]


def test_inspect_registry_json_like_skopeo(images, capsys):
    ref = f"docker://{images.host}/test/multi:latest"
    assert nixlite("inspect", ref, "--json", "--tls-verify=false", "--arch", "arm64") == 0
    ours = json.loads(capsys.readouterr().out)
    theirs = json.loads(skopeo("--override-arch", "arm64", "inspect", "--tls-verify=false",
                               ref).stdout)
    assert ours == theirs


def test_plain_inspect_prints_skopeos_json(archive, capsys):
    assert nixlite("inspect", str(archive)) == 0
    assert capsys.readouterr().out == skopeo("inspect", f"docker-archive:{archive}").stdout


def test_inspect_raw_and_config(archive, capsys):
    assert nixlite("inspect", str(archive), "--config") == 0
    assert json.loads(capsys.readouterr().out)["os"] == "linux"
    assert nixlite("inspect", str(archive), "--raw") == 0
    manifest = json.loads(capsys.readouterr().out)
    assert len(manifest["layers"]) == 2


def _hostile(tmp_path) -> dict[str, object]:
    layer = layer_tar([("x", b"x")])
    good_config = image_config([layer])
    wrong_config = image_config([layer_tar([("x", b"y")])])
    manifest = lambda layers, cfg="c.json": json.dumps(
        [{"Config": cfg, "RepoTags": None, "Layers": layers}]).encode()
    cases: dict[str, object] = {
        "not-a-tar": b"\x00garbage" * 300,
        "no-manifest": [("c.json", good_config), ("l.tar", layer)],
        "bad-json": [("manifest.json", b"[{"), ("c.json", good_config)],
        "escaping-member": [("manifest.json", manifest(["../../etc/passwd"])),
                            ("c.json", good_config)],
        "absolute-member": [("manifest.json", manifest(["/etc/passwd"])), ("c.json", good_config)],
        "missing-layer": [("manifest.json", manifest(["nope.tar"])), ("c.json", good_config)],
        "count-mismatch": [("manifest.json", manifest(["l.tar", "l.tar"])), ("c.json", good_config),
                           ("l.tar", layer)],
        "wrong-diff-id": [("manifest.json", manifest(["l.tar"])), ("c.json", wrong_config),
                          ("l.tar", layer)],
        "config-not-object": [("manifest.json", manifest(["l.tar"])), ("c.json", b"[1]"),
                              ("l.tar", layer)],
    }
    paths = {}
    for name, spec in cases.items():
        path = tmp_path / f"{name}.tar"
        if isinstance(spec, bytes):
            path.write_bytes(spec)
        else:
            tar_file(path, spec)
        paths[name] = path
    good = tar_file(tmp_path / "good.tar", [("manifest.json", manifest(["l.tar"])),
                                        ("c.json", good_config), ("l.tar", layer)])
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(gzip.compress(good.read_bytes())[:-40])
    paths["truncated-gzip"] = truncated
    return paths


def test_hostile_archives_are_clear_errors(tmp_path, capsys):
    for name, path in _hostile(tmp_path).items():
        outdir = tmp_path / f"out-{name}"
        outdir.mkdir()
        code = nixlite("convert", str(path), str(outdir / "layout"), "-q")
        err = capsys.readouterr().err
        assert code == 1, name
        assert err.startswith("error: ") and "internal error" not in err, (name, err)
        assert os.listdir(outdir) == [], name
        if name != "wrong-diff-id":  # like skopeo inspect, inspect does not hash layers
            assert nixlite("inspect", str(path)) == 1, name
            err = capsys.readouterr().err
            assert err.startswith("error: ") and "internal error" not in err, (name, err)


def test_hostile_oci_layouts(tmp_path, archive, capsys):
    layout = tmp_path / "layout"
    assert nixlite("convert", str(archive), str(layout), "-q") == 0
    index = json.loads((layout / "index.json").read_bytes())
    # a digest that tries to leave blobs/
    evil = dict(index, manifests=[dict(index["manifests"][0],
                                       digest="sha256:../../../../etc/passwd")])
    (layout / "index.json").write_text(json.dumps(evil))
    assert nixlite("inspect", str(layout)) == 1
    assert capsys.readouterr().err.startswith("error: ")
    # a layer blob whose bytes do not match its digest
    (layout / "index.json").write_text(json.dumps(index))
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    blob = layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[-20] ^= 1
    blob.write_bytes(bytes(data))
    dest = tmp_path / "out.tar"
    assert nixlite("convert", f"oci:{layout}:7", str(dest)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "internal error" not in err
    assert not dest.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_missing_source(tmp_path, capsys):
    assert nixlite("inspect", str(tmp_path / "nope.tar")) == 1
    assert "does not exist" in capsys.readouterr().err


def test_config_digest_names_the_member(archive, tmp_path):
    dest = tmp_path / "x.tar"
    assert nixlite("convert", str(archive), f"docker-archive:{dest}", "-q") == 0
    with tarfile.open(dest) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        config = tar.extractfile(manifest[0]["Config"]).read()
    assert manifest[0]["Config"] == hashlib.sha256(config).hexdigest() + ".json"
    assert manifest[0]["RepoTags"] == ["docker.io/library/conv:7"]


def test_inspect_raw_registry_like_skopeo(images, capfdbinary):
    for name in ("test/multi:latest", "test/multioci:arm64", "test/simple:v1"):
        ref = f"docker://{images.host}/{name}"
        assert nixlite("inspect", ref, "--raw", "--tls-verify=false") == 0
        ours = capfdbinary.readouterr().out
        theirs = skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout.encode()
        assert ours == theirs, name


def cli(*args: str, stdin=None, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nixlite", "image", *args], stdin=stdin,
                          input=input, capture_output=True, timeout=120)


def test_docker_archive_streams_through_a_pipe_both_ways(archive, tmp_path):
    """`convert SRC -` writes a docker-archive to stdout, `convert - DEST` and `inspect -`
    read one from stdin (plain or gzip); the piped result equals the direct conversion."""
    writer = subprocess.Popen([sys.executable, "-m", "nixlite", "image", "convert", str(archive),
                               "-", "-q"], stdout=subprocess.PIPE)
    reader = cli("convert", "-", f"oci:{tmp_path / 'piped'}:7", "-q", stdin=writer.stdout)
    writer.stdout.close()
    assert writer.wait() == 0 and reader.returncode == 0, reader.stderr
    assert cli("convert", str(archive), f"oci:{tmp_path / 'direct'}:7", "-q").returncode == 0
    for name in ("index.json", "oci-layout"):
        assert (tmp_path / "piped" / name).read_bytes() == (tmp_path / "direct" / name).read_bytes()
    assert sorted(os.listdir(tmp_path / "piped" / "blobs/sha256")) == \
        sorted(os.listdir(tmp_path / "direct" / "blobs/sha256"))
    skopeo("copy", "-q", f"oci:{tmp_path / 'piped'}:7", f"oci:{tmp_path / 'check'}:7")  # diff_ids
    streamed = cli("convert", str(archive), "-", "-q").stdout
    expected = tmp_path / "skopeo.tar"
    skopeo("copy", "-q", f"docker-archive:{archive}", f"docker-archive:{expected}:conv:7")
    assert streamed == expected.read_bytes()
    inspected = cli("inspect", "-", "--json", input=gzip.compress(streamed))
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["Layers"] == json.loads(
        skopeo("inspect", f"docker-archive:{archive}").stdout)["Layers"]


def test_bad_streams_are_clear_errors(archive, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for data in (b"", b"\x1f\x8b garbage", archive.read_bytes()[:5000]):
        result = cli("convert", "-", str(out / "x.tar"), "--format", "docker-archive", input=data)
        err = result.stderr.decode()
        assert result.returncode == 1 and err.startswith("error: ") and err.count("\n") == 1, err
        assert os.listdir(out) == []
    result = cli("convert", str(archive), "-", "--format", "oci")
    assert result.returncode == 1 and b"cannot be written to standard output" in result.stderr
    assert result.stdout == b""


def _gzip_member_archives(tmp_path):
    """docker-archives whose layer members are gzip-compressed (skopeo accepts these: the
    diff_id is the sha256 of the uncompressed tar): one consistent, one whose layer does not
    match the config's diff_id."""
    good = layer_tar([("bin/hello", b"hello\n")])
    config = image_config([good])
    ok = docker_archive(tmp_path / "gzgood.tar", [gzip.compress(good, mtime=0)], config,
                        repo_tags=["hello:1.0"])
    bad = docker_archive(tmp_path / "gzbad.tar",
                         [gzip.compress(layer_tar([("bin/hello", b"evil\n")]), mtime=0)], config,
                         repo_tags=["hello:1.0"])
    return ok, bad


def test_gzip_layer_members_are_checked_against_diff_ids(registry, tmp_path, capsys):
    ok, bad = _gzip_member_archives(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    # skopeo refuses the mismatched archive; so must every nixlite command that copies it
    assert skopeo("copy", f"docker-archive:{bad}", f"oci:{out / 'skopeo'}:1",
                  check=False).returncode != 0
    for args in (["convert", str(bad), str(out / "layout")],
                 ["convert", str(bad), str(out / "back.tar"), "--format", "docker-archive"],
                 ["push", str(bad), f"docker://{registry.host}/gzbad/app:1", "--tls-verify=false"]):
        assert nixlite(*args, "-q") == 1, args
        err = capsys.readouterr().err
        assert "'layer0.tar', gzip-compressed" in err and "expected sha256:" in err, err
        assert not (out / "layout").exists() and not (out / "back.tar").exists()
    assert skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/gzbad/app:1",
                  check=False).returncode != 0
    # the consistent archive converts to a layout umoci unpacks (it checks diff_ids itself)
    assert nixlite("convert", str(ok), str(out / "good"), "-q") == 0
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{out / 'good'}:1.0",
                    str(out / "bundle")], check=True, capture_output=True)
    assert (out / "bundle" / "rootfs" / "bin" / "hello").read_bytes() == b"hello\n"


def test_gzip_layer_member_bomb_is_bounded(tmp_path, capsys):
    bomb = layer_tar([("zeros", bytes(8 << 20))])
    path = docker_archive(tmp_path / "bomb.tar", [gzip.compress(bomb, mtime=0)],
                          image_config([bomb]))
    assert path.stat().st_size < 64 << 10
    for args in (["convert", str(path), str(tmp_path / "layout")],
                 ["convert", str(path), "-"]):
        assert nixlite(*args, "--max-decompressed-size", "1M", "-q") == 1
        assert "decompresses to more than 1 MiB" in capsys.readouterr().err
    assert not (tmp_path / "layout").exists()
    assert nixlite("convert", str(path), str(tmp_path / "layout"), "-q") == 0


def test_unwritable_destinations_are_named_with_a_reason(archive, tmp_path, capsys):
    """Errors name the user's path (never a temporary one) and say what is wrong, before
    anything is read or written."""
    layout = tmp_path / "layout"
    assert nixlite("convert", str(archive), str(layout), "-q") == 0
    existing = tmp_path / "existing.tar"
    existing.write_bytes(b"x")
    missing = tmp_path / "nonexist" / "dir"
    cases = {
        (str(archive), str(missing / "out")):
            f"cannot write '{missing / 'out'}': directory '{missing}' does not exist",
        (str(layout), str(missing / "out.tar")):
            f"cannot write '{missing / 'out.tar'}': directory '{missing}' does not exist",
        (str(layout), str(layout)):
            f"cannot write docker-archive '{layout}': it is a directory",
        (str(archive), str(existing)):
            f"cannot write OCI layout '{existing}': it is an existing file, not a directory",
        (str(archive), str(tmp_path)):
            f"cannot write OCI layout '{tmp_path}': the directory is not empty and not an OCI layout",
    }
    before = sorted(os.listdir(tmp_path))
    for (src, dest), message in cases.items():
        assert nixlite("convert", src, dest, "-q") == 1, dest
        err = capsys.readouterr().err
        assert err == f"error: {message}" + err[len("error: ") + len(message):], err
        assert ".tmp" not in err and "/." not in err, err
    assert sorted(os.listdir(tmp_path)) == before and existing.read_bytes() == b"x"


def test_inspect_oci_layout_byte_for_byte_like_skopeo(archive, tmp_path, capfd):
    """On an OCI layout --raw is the manifest, --config --raw the raw config (--config
    takes precedence, as in skopeo), --json skopeo's JSON with an empty RepoTags."""
    layout = tmp_path / "layout"
    assert nixlite("convert", str(archive), str(layout), "-q") == 0
    capfd.readouterr()
    for flags in (["--raw"], ["--config", "--raw"], ["--raw", "--config"], ["--json"]):
        assert nixlite("inspect", str(layout), *flags) == 0
        ours = capfd.readouterr().out
        theirs = skopeo("inspect", *[f for f in flags if f != "--json"], f"oci:{layout}").stdout
        assert ours.rstrip("\n") == theirs.rstrip("\n"), flags
    assert nixlite("inspect", str(layout), "--config", "--raw") == 0
    assert capfd.readouterr().out.encode() == image_config_bytes(archive)


def image_config_bytes(path) -> bytes:
    with tarfile.open(path) as tar:
        return tar.extractfile("config.json").read()


def _hand_layout(directory, layer_blob: bytes, config: bytes):
    """An OCI layout written with plain json/hashlib: one gzip layer, tag 1."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            **put(layer_blob)}]}
    entry = {"mediaType": manifest["mediaType"], **put(json.dumps(manifest).encode()),
             "annotations": {"org.opencontainers.image.ref.name": "1"}}
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return directory


def test_oci_layout_layers_are_checked_against_diff_ids(registry, tmp_path, capsys):
    good = layer_tar([("bin/hello", b"hello\n")])
    evil = gzip.compress(layer_tar([("bin/hello", b"evil\n")]), mtime=0)
    bad = _hand_layout(tmp_path / "bad", evil, image_config([good]))
    assert subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{bad}:1",
                           str(tmp_path / "bundle")], capture_output=True).returncode != 0
    out = tmp_path / "out"
    out.mkdir()
    for args in (["convert", str(bad), str(out / "layout"), "--format", "oci"],
                 ["push", str(bad), f"docker://{registry.host}/ocibad/app:1", "--tls-verify=false"]):
        assert nixlite(*args, "-q") == 1, args
        err = capsys.readouterr().err
        assert f"'{bad}': layer 1: " in err and "expected sha256:" in err, err
    assert os.listdir(out) == []
    assert nixlite("inspect", str(bad), "--raw") == 0  # inspect, like skopeo's, hashes no layer
    ok = _hand_layout(tmp_path / "ok", gzip.compress(good, mtime=0), image_config([good]))
    assert nixlite("convert", str(ok), str(out / "layout"), "--format", "oci", "-q") == 0
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{out / 'layout'}:latest",
                    str(tmp_path / "bundle2")], check=True, capture_output=True)
