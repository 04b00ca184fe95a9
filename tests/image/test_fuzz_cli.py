"""Fuzz ``nixlite image inspect`` and ``convert`` with broken archives and layouts.

Hypothesis mutates a small, valid docker-archive and OCI layout: values of the wrong type
anywhere in manifest.json, the config, index.json or an OCI manifest (with the digests that
cover them recomputed, so the broken document is actually read), missing members and blobs,
truncation and flipped bytes.  Whatever the input, the command either succeeds or prints one
line ``error: …`` and exits 1 — never a traceback or an "internal error" — and a failed
convert leaves nothing at all in the destination's directory.  Examples are derandomised, so
every run checks the same inputs.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import sys
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from nixlite.cli import main

from imagekit import image_config, layer_tar, tar_of

LAYER = layer_tar([("etc/hostname", b"fuzz\n"), ("bin/sh", b"#!/bin/sh\n")],
                  symlinks=[("bin/bash", "sh")])
CONFIG = json.loads(image_config([LAYER]))
ARCHIVE_MANIFEST = [{"Config": "config.json", "RepoTags": ["fuzz:1"], "Layers": ["layer.tar"]}]

JUNK = st.sampled_from([5, -1, 10**30, 1.5, True, None, "x", "", "../../etc/passwd",
                        "sha256:" + "0" * 64, [], [5], ["x"], {}, {"a": 1}, [[{}]]])

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def mutate_json(data, value):
    """Replace one node of ``value`` (a drawn path into it) by junk, or drop a key."""
    if not isinstance(value, (dict, list)) or not value or data.draw(st.integers(0, 3)) == 0:
        return data.draw(JUNK)
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = data.draw(st.sampled_from(keys))
    copy = dict(value) if isinstance(value, dict) else list(value)
    if isinstance(copy, dict) and data.draw(st.integers(0, 5)) == 0:
        del copy[key]
    else:
        copy[key] = mutate_json(data, copy[key])
    return copy


def damage_bytes(data, blob: bytes) -> bytes:
    """Truncate ``blob`` or flip some of its bytes."""
    if not blob:
        return blob
    if data.draw(st.booleans()):
        return blob[:data.draw(st.integers(0, len(blob) - 1))]
    out = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(out) - 1))
        out[pos] ^= data.draw(st.integers(1, 255))
    return bytes(out)


def run(argv: list[str], stdin: bytes = b"") -> tuple[int, str]:
    out = io.TextIOWrapper(io.BytesIO())
    err = io.TextIOWrapper(io.BytesIO())
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        sys.stdin = saved
    err.flush()
    return code, err.buffer.getvalue().decode("utf-8", "replace")


def check(src: str, dest: str, stdin: bytes = b"") -> None:
    """inspect and convert ``src``: success, or one clean error line and no output."""
    for argv in (["image", "inspect", src, "--json"], ["image", "convert", src, dest, "-q"]):
        code, err = run(argv, stdin)
        assert code in (0, 1), (argv, code, err)
        if code == 1:
            assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
            assert "internal error" not in err and "Traceback" not in err, (argv, err)
    parent = os.path.dirname(dest)
    assert os.listdir(parent) == ([os.path.basename(dest)] if code == 0 else []), err


def archive_members(data) -> list[tuple[str, bytes]]:
    manifest, config = ARCHIVE_MANIFEST, CONFIG
    target = data.draw(st.sampled_from(["manifest", "config", "none"]))
    if target == "manifest":
        manifest = mutate_json(data, manifest)
    elif target == "config":
        config = mutate_json(data, config)
    members = [("config.json", json.dumps(config).encode()), ("layer.tar", LAYER),
               ("manifest.json", json.dumps(manifest).encode())]
    if data.draw(st.integers(0, 5)) == 0:
        del members[data.draw(st.integers(0, len(members) - 1))]
    return members


@FUZZ
@given(st.data())
def test_broken_docker_archives(data):
    blob = tar_of(*[(name, "file", content) for name, content in archive_members(data)])
    if data.draw(st.booleans()):
        blob = gzip.compress(blob, mtime=0)
    if data.draw(st.booleans()):
        blob = damage_bytes(data, blob)
    with tempfile.TemporaryDirectory(prefix="nixlite-fuzz-") as tmp:
        src = os.path.join(tmp, "in.tar")
        with open(src, "wb") as f:
            f.write(blob)
        os.mkdir(os.path.join(tmp, "out"))
        if data.draw(st.booleans()):
            check(src, os.path.join(tmp, "out", "layout"))
        else:  # the same bytes as a stream on standard input
            check("-", os.path.join(tmp, "out", "layout"), stdin=blob)


def write_layout(data, root: str) -> None:
    """A one-image OCI layout, with one document or file broken as drawn."""
    target = data.draw(st.sampled_from(["config", "manifest", "index", "layout", "bytes", "none"]))
    blobs: dict[str, bytes] = {}

    def put(blob: bytes) -> dict:
        blobs[sha(blob)] = blob
        return {"digest": sha(blob), "size": len(blob)}

    config = mutate_json(data, CONFIG) if target == "config" else CONFIG
    layer_blob = gzip.compress(LAYER, mtime=0)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **put(json.dumps(config).encode())},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            **put(layer_blob)}]}
    if target == "manifest":
        manifest = mutate_json(data, manifest)
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             **put(json.dumps(manifest).encode())}
    if data.draw(st.booleans()):  # through a nested image index with a platform entry
        nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": [dict(entry, platform={"os": "linux", "architecture": "amd64"})]}
        if target == "index":
            nested = mutate_json(data, nested)
        entry = {"mediaType": "application/vnd.oci.image.index.v1+json",
                 **put(json.dumps(nested).encode())}
    index = {"schemaVersion": 2,
             "manifests": [dict(entry, annotations={"org.opencontainers.image.ref.name": "1"})]}
    if target == "index" and data.draw(st.booleans()):
        index = mutate_json(data, index)
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode()}
    if target == "layout":
        files["oci-layout"] = json.dumps(mutate_json(data, {"imageLayoutVersion": "1.0.0"})).encode()
    files.update({f"blobs/sha256/{d[7:]}": b for d, b in blobs.items()})
    if target == "bytes":
        name = data.draw(st.sampled_from(sorted(files)))
        if data.draw(st.integers(0, 3)) == 0:
            del files[name]
        else:
            files[name] = damage_bytes(data, files[name])
    os.makedirs(os.path.join(root, "blobs", "sha256"))
    for name, content in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(content)


@FUZZ
@given(st.data())
def test_broken_oci_layouts(data):
    with tempfile.TemporaryDirectory(prefix="nixlite-fuzz-") as tmp:
        src = os.path.join(tmp, "layout")
        write_layout(data, src)
        os.mkdir(os.path.join(tmp, "out"))
        check(f"oci:{src}:1", os.path.join(tmp, "out", "image.tar"))
