import base64
import json
import os
from pathlib import Path

import pytest

from nixlite.store.hashes import hash_bytes, parse_hash
from nixlite.store.nar import NarError, dump, nar_hash, nar_hash_bytes
from nixlite.store.paths import (
    BadStorePath,
    check_name,
    make_fixed_output_path,
    make_output_path,
    parse_store_path,
    text_path_of,
    to_store_path,
)

HERE = Path(__file__).parent / "vectors"
VECTORS = json.loads((HERE / "store-vectors.json").read_text())
NARS = [c for c in VECTORS if c["kind"] == "nar"]


@pytest.mark.parametrize("case", NARS, ids=lambda c: c["id"])
def test_nar_matches_nix(case):
    path = str(HERE / case["tree"])
    chunks = []
    dump(path, chunks.append)
    assert b"".join(chunks) == base64.b64decode(case["nar_base64"])
    h, size = nar_hash(path)
    assert h.hex() == case["nar_sha256_hex"]
    assert h.base32() == case["nar_sha256_base32"]
    assert size == case["nar_size"]
    name = os.path.basename(path)
    assert make_fixed_output_path(True, h, name) == case["store_path_when_imported"]


def test_nar_mirror_copies_what_it_hashes(tmp_path):
    src = str(HERE / "files" / "tree")
    dest = str(tmp_path / "copy")
    h, _ = nar_hash(src, mirror_to=dest)
    assert nar_hash(dest)[0] == h
    assert os.readlink(os.path.join(dest, "sub", "link")) == "../a.txt"
    assert os.stat(os.path.join(dest, "bin", "tool")).st_mode & 0o100


def test_nar_filter_drops_subtrees(tmp_path):
    src = str(HERE / "files" / "tree")
    seen = []

    def keep(p, kind):
        seen.append((os.path.relpath(p, src), kind))
        return kind != "directory" or not p.endswith("/sub")

    h, _ = nar_hash(src, keep, mirror_to=str(tmp_path / "c"))
    assert ("sub", "directory") in seen and ("sub/link", "symlink") not in seen
    assert ("bin/tool", "regular") in seen
    assert sorted(os.listdir(tmp_path / "c")) == ["B.txt", "a-b.txt", "a.txt", "bin", "skip.me"]
    assert nar_hash(str(tmp_path / "c"))[0] == h


def test_nar_of_bytes_equals_nar_of_file():
    h, size = nar_hash_bytes(b"hello\n")
    assert h.hex() == NARS[0]["nar_sha256_hex"] and size == 120


def test_nar_rejects_fifo(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NarError, match="has an unsupported type"):
        nar_hash(str(tmp_path / "fifo"))


def test_text_and_fixed_paths_from_spec():
    assert text_path_of("hello.txt", b"hello\n") == \
        "/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt"
    flat = hash_bytes("sha256", b"hello\n")
    assert make_fixed_output_path(False, flat, "hello.txt") == \
        "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"


def test_store_dir_override(monkeypatch):
    monkeypatch.setenv("NIX_STORE_DIR", "/opt/store/")
    assert text_path_of("x", b"x").startswith("/opt/store/")
    assert len(os.path.basename(text_path_of("x", b"x"))) == 34


@pytest.mark.parametrize("name", ["a", ".dotname", "a+b-c.d_e?f=g", "x" * 211])
def test_valid_names(name):
    check_name(name)


@pytest.mark.parametrize("name, message", [
    ("", "empty name"),
    ("x" * 212, "longer than 211"),
    ("has space", "contains illegal character ' '"),
    ("ü", "illegal character"),
    # today's Nix (not 2.8) rejects these; we follow today's Nix
    (".", "not allowed"), ("..", "not allowed"), (".-x", "not allowed"), ("..-x", "not allowed"),
])
def test_invalid_names(name, message):
    with pytest.raises(BadStorePath, match=message):
        check_name(name)


def test_parse_store_path_and_subpaths():
    p = "/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt"
    assert parse_store_path(p) == p
    assert to_store_path(p + "/sub/file") == p
    with pytest.raises(BadStorePath):
        parse_store_path("/tmp/x")
    with pytest.raises(BadStorePath):
        to_store_path("/nix/store/short")


def test_output_path_names():
    h = bytes(32)
    assert make_output_path("out", h, "pkg").endswith("-pkg")
    assert make_output_path("dev", h, "pkg").endswith("-pkg-dev")
    assert make_output_path("out", h, "pkg") != make_output_path("dev", h, "pkg")


def test_flat_and_recursive_non_sha256_use_output_type():
    sha512 = parse_hash("sha512:" + "0" * 128)
    assert make_fixed_output_path(True, sha512, "x") != make_fixed_output_path(False, sha512, "x")


NIX_STORE = __import__("shutil").which("nix-store")


@pytest.mark.nix
@pytest.mark.skipif(NIX_STORE is None, reason="nix-store not installed")
def test_random_trees_dump_like_nix(tmp_path):
    """NAR bytes of random trees (odd names, every padding length, exec bits, symlinks,
    empty directories) equal `nix-store --dump`."""
    import random
    import subprocess

    rng = random.Random(4242)
    name_chars = "abcXYZ019._-+=@ é☃"

    def fill(d, depth):
        os.mkdir(d)
        for _ in range(rng.randint(0, 5)):
            name = "".join(rng.choice(name_chars) for _ in range(rng.randint(1, 12)))
            p = os.path.join(d, name)
            if os.path.lexists(p):
                continue
            kind = rng.random()
            if kind < 0.5:
                with open(p, "wb") as f:
                    f.write(os.urandom(rng.randint(0, 40)))
                if rng.random() < 0.3:
                    os.chmod(p, 0o755)
            elif kind < 0.7:
                os.symlink("".join(rng.choice(name_chars + "/..") for _ in range(rng.randint(1, 20))), p)
            elif depth < 3:
                fill(p, depth + 1)

    for i in range(12):
        root = str(tmp_path / f"t{i}")
        fill(root, 0)
        chunks = []
        dump(root, chunks.append)
        ref = subprocess.run([NIX_STORE, "--dump", root], capture_output=True, check=True).stdout
        assert b"".join(chunks) == ref
